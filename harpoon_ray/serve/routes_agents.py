"""REST routes over the agents layer: orchestrate, mediator commands, covenants, events.

Everything goes through `HarpoonClient`; the gateway never opens a shard's file.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ..schemas import Constraints, Covenant, Event, Pattern, QueryRequest
from .auth import TenantResolver
from .context import GatewayContext

UserId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[\w.@:-]+$")]
WAIT_MAX_S = 300.0
ONE_OFF_USER = "anonymous"  # the user of record of a covenant started naming none


class OrchestrateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=100_000)
    user_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The conversation this covenant continues: the user's recent turns go "
        "into its prompts and it joins them. Omitted (or null, or "
        f"`{ONE_OFF_USER}`): a one-off under the user `{ONE_OFF_USER}`, with no earlier turns "
        "and none recorded, so unrelated callers never see each other's queries.",
    )
    constraints: Constraints = Constraints()
    agents: int | None = Field(default=None, ge=1, le=100_000, description="Fan-out width.")


class Accepted(BaseModel):
    covenant_id: str
    status: str
    covenant: Covenant
    events_url: str
    ws_url: str


class QueryCommand(QueryRequest):
    """A QueryRequest tagged as a mediator command: the same fields, checked the same way."""

    command: Literal["query"]


class CovenantCommand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: Literal["cancel", "status"]
    covenant_id: str = Field(min_length=1, max_length=64)


class UserCommand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: Literal["history", "list"]
    limit: int = Field(default=50, ge=1, le=1000)


Command = Annotated[QueryCommand | CovenantCommand | UserCommand, Field(discriminator="command")]


def agents_routes(ctx: GatewayContext, tenant: TenantResolver) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["agents"], dependencies=[Depends(tenant)])
    tenant_dep = Depends(tenant)

    @router.post(
        "/orchestrate/{pattern}",
        summary="Start a covenant with this pattern (202), or wait for it (?wait=true)",
        status_code=202,
        response_model=None,
    )
    async def orchestrate(
        pattern: Pattern,
        body: OrchestrateBody,
        request: Request,
        tenant_id: str = tenant_dep,
        wait: bool = False,
        timeout_s: float = Query(default=120.0, gt=0, le=WAIT_MAX_S),
    ) -> Accepted | JSONResponse:
        client = await ctx.client()
        query = QueryRequest(
            query=body.query, pattern=pattern, constraints=body.constraints, agents=body.agents
        )
        one_off = body.user_id in (None, ONE_OFF_USER)  # the old default, named or not
        user_id = ONE_OFF_USER if one_off else body.user_id
        covenant = await client.submit(user_id, query, tenant_id, conversation=not one_off)
        if wait:
            await client.wait(covenant.id, timeout_s=timeout_s)
            return JSONResponse(await client.get(covenant.id), status_code=200)
        return _accepted(covenant, request)

    @router.post("/agents/mediator/{user_id}/command", summary="query, cancel, status, ...")
    async def mediator_command(
        user_id: UserId, body: Command, request: Request, tenant_id: str = tenant_dep
    ) -> Any:
        client = await ctx.client()
        if isinstance(body, QueryCommand):
            query = QueryRequest(**body.model_dump(exclude={"command"}))
            covenant = await client.submit(user_id, query, tenant_id)
            return JSONResponse(
                _accepted(covenant, request).model_dump(mode="json"), status_code=202
            )
        if isinstance(body, CovenantCommand):
            await ctx.owners.check(body.covenant_id, tenant_id)
            if body.command == "cancel":
                return await client.cancel(body.covenant_id)
            return await client.get(body.covenant_id)
        if body.command == "history":
            return {"user_id": user_id, "messages": await client.history(tenant_id, user_id)}
        return {"covenants": await client.list_covenants(tenant_id, user_id, body.limit)}

    @router.get("/agents/status", summary="Shards, live orchestrations, running agents")
    async def agents_status() -> dict[str, Any]:
        client = await ctx.client()
        status = await client.status()
        status["gateway"] = {
            "feeds": ctx.fanout.feeds,
            "subscribers": ctx.fanout.subscribers(),
            "feeds_started": ctx.fanout.feeds_started,
            "subscriptions": ctx.fanout.subscriptions,
        }
        return status

    @router.get("/covenants", summary="Recent covenants, newest first")
    async def list_covenants(
        tenant_id: str = tenant_dep,
        user_id: str | None = Query(default=None, min_length=1, max_length=200),
        limit: int = Query(default=50, ge=1, le=1000),
    ) -> dict[str, list[Covenant]]:
        client = await ctx.client()
        return {"covenants": await client.list_covenants(tenant_id, user_id, limit)}

    @router.get("/covenants/{covenant_id}", summary="One covenant with its agents")
    async def get_covenant(covenant_id: str, tenant_id: str = tenant_dep) -> dict[str, Any]:
        await ctx.owners.check(covenant_id, tenant_id)
        return await (await ctx.client()).get(covenant_id)

    @router.post("/covenants/{covenant_id}/cancel", summary="Stop a covenant's sub-agents")
    async def cancel_covenant(covenant_id: str, tenant_id: str = tenant_dep) -> Covenant:
        await ctx.owners.check(covenant_id, tenant_id)
        return await (await ctx.client()).cancel(covenant_id)

    @router.get("/covenants/{covenant_id}/events", summary="The covenant's log after a seq")
    async def covenant_events(
        covenant_id: str,
        tenant_id: str = tenant_dep,
        after: int = Query(default=0, ge=0),
        limit: int = Query(default=1000, ge=1, le=10_000),
    ) -> dict[str, Any]:
        await ctx.owners.check(covenant_id, tenant_id)
        events: list[Event] = await (await ctx.client()).events(covenant_id, after, limit)
        return {
            "covenant_id": covenant_id,
            "after": after,
            "events": events,
            "next_after": events[-1].seq if events else after,
        }

    return router


def _accepted(covenant: Covenant, request: Request) -> Accepted:
    base = str(request.base_url).rstrip("/")
    ws_base = base.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    return Accepted(
        covenant_id=covenant.id,
        status=str(covenant.status),
        covenant=covenant,
        events_url=f"{base}/api/covenants/{covenant.id}/events?after=0",
        ws_url=f"{ws_base}/api/agents/orchestrator/{covenant.id}/ws?after=0",
    )
