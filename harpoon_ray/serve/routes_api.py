"""REST routes of the gateway itself: health, models, route, chat, batch, metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import HarpoonError, ValidationFailed
from ..schemas import (
    Completion,
    ComplexityAnalysis,
    Constraints,
    Message,
    ModelRequest,
    RoutingDecision,
)
from .auth import TenantResolver
from .context import GatewayContext
from .metrics import MetricsWindow
from .metrics_hub import merged_summary

log = logging.getLogger("harpoon.serve")

HEALTH_PROBE_S = 2.0
COVENANTS_FOR_METRICS = 1000


class PromptBody(BaseModel):
    """A prompt as text or as messages (exactly one), with routing knobs."""

    model_config = ConfigDict(extra="forbid")

    prompt: str | None = Field(default=None, min_length=1, max_length=1_000_000)
    messages: list[Message] | None = Field(default=None, min_length=1)
    model: str | None = Field(
        default=None, description="Catalog id, tier name, or 'harpoon/auto' (default)."
    )
    constraints: Constraints = Constraints()
    max_tokens: int = Field(default=512, gt=0, le=32_768)
    temperature: float = Field(default=0.7, ge=0, le=2)

    @model_validator(mode="after")
    def _one_of(self) -> PromptBody:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of `prompt` or `messages`")
        return self

    def to_request(self) -> ModelRequest:
        messages = self.messages or [Message(role="user", content=self.prompt or "")]
        return ModelRequest(
            messages=messages, max_tokens=self.max_tokens, temperature=self.temperature
        )


class RouteResult(BaseModel):
    analysis: ComplexityAnalysis
    decision: RoutingDecision


class BatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompts: list[str] = Field(min_length=1, max_length=1000)
    model: str | None = None
    constraints: Constraints = Constraints()
    max_tokens: int = Field(default=256, gt=0, le=32_768)
    concurrency: int = Field(default=32, ge=1, le=256)


class BatchItem(BaseModel):
    index: int
    ok: bool
    completion: Completion | None = None
    error: dict[str, Any] | None = None


class BatchResult(BaseModel):
    items: list[BatchItem]
    succeeded: int
    failed: int
    cost_usd: float
    saving_usd: float


def api_routes(ctx: GatewayContext, tenant: TenantResolver) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["gateway"], dependencies=[Depends(tenant)])

    @router.get("/health", summary="Ray, actor shards, providers and their breakers")
    async def health() -> dict[str, Any]:
        agents = await _probe(_agents_status(ctx))
        routing = await _probe(_breakers(ctx))
        providers = ctx.local_router.pool_status() if routing.get("ok") else {}
        ok = agents.get("ok", False) and routing.get("ok", False)
        return {
            "status": "ok" if ok else "degraded",
            "uptime_s": round(time.time() - ctx.started_at, 3),
            "ray": _ray_info(),
            "agents": agents,
            "routing": routing,
            "providers": providers,
            "v1_in_process": ctx.args.v1_in_process,
        }

    @router.get("/models", summary="The catalog with each model's live state")
    async def models() -> dict[str, Any]:
        state = await _probe(_breakers(ctx))
        live = state.get("breakers", {})
        return {
            "flagship_reference": ctx.catalog.flagship.id,
            "tiers": [str(t) for t in ctx.catalog.tiers()],
            "models": [
                {
                    **m.model_dump(mode="json"),
                    "simulated": _is_simulated(ctx, m),
                    "state": live.get(m.id),
                }
                for m in ctx.catalog.models
            ],
        }

    @router.post("/route", summary="Complexity analysis and the model it would pick")
    async def route(body: PromptBody) -> RouteResult:
        request = body.to_request()
        backend = ctx.local_router
        analysis = backend.analyse(request.last_user_text)
        decision = backend.decide(request, body.constraints, body.model)
        return RouteResult(analysis=analysis, decision=decision)

    @router.post("/chat", summary="One routed completion")
    async def chat(body: PromptBody) -> Completion:
        return await ctx.router.complete(body.to_request(), body.constraints, body.model)

    @router.post("/batch", summary="Many prompts at once; per-item results and errors")
    async def batch(body: BatchBody) -> BatchResult:
        gate = asyncio.Semaphore(body.concurrency)

        async def one(index: int, prompt: str) -> BatchItem:
            async with gate:
                try:
                    if not prompt.strip():
                        raise ValidationFailed("prompt is blank", param=f"prompts.{index}")
                    request = ModelRequest(
                        messages=[Message(role="user", content=prompt)],
                        max_tokens=body.max_tokens,
                    )
                    done = await ctx.router.complete(request, body.constraints, body.model)
                except HarpoonError as exc:
                    return BatchItem(index=index, ok=False, error=exc.to_dict())
                return BatchItem(index=index, ok=True, completion=done)

        items = await asyncio.gather(*(one(i, p) for i, p in enumerate(body.prompts)))
        good = [i.completion for i in items if i.completion is not None]
        return BatchResult(
            items=items,
            succeeded=len(good),
            failed=len(items) - len(good),
            cost_usd=sum(c.cost_usd for c in good),
            saving_usd=sum(c.saving_usd for c in good),
        )

    @router.get("/metrics", summary="Cost, tokens, latency percentiles and saving")
    async def metrics(
        tenant_id: str = Depends(tenant),
        window_s: float | None = Query(default=None, gt=0, description="Last N seconds."),
    ) -> dict[str, Any]:
        """Every replica's records, merged by the app's metrics hub (`source: "hub"`,
        `lag_s` how old the stalest replica's last batch is); this replica's own window
        with `partial: true` when the hub does not answer."""
        summary = await merged_summary(ctx.metrics, ctx.metrics_shipper, window_s)
        summary["covenants"] = await _covenant_metrics(ctx, tenant_id, window_s)
        remote = ctx.remote_router
        if remote is not None and not ctx.args.v1_in_process:
            routed = await _probe(remote.metrics(window_s))
            summary["model_router"] = routed
        return summary

    return router


async def _covenant_metrics(
    ctx: GatewayContext, tenant_id: str, window_s: float | None
) -> dict[str, Any]:
    """Finished covenants of the tenant, by pattern: the agents layer's side of the costs."""
    try:
        client = await ctx.client()
        async with asyncio.timeout(HEALTH_PROBE_S):
            recent = await client.list_covenants(tenant_id, None, COVENANTS_FOR_METRICS)
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    window = MetricsWindow()
    for covenant in recent:
        if covenant.status.terminal:
            window.record_covenant(covenant)
    return {"ok": True, **window.summary(window_s)}


async def _breakers(ctx: GatewayContext) -> dict[str, Any]:
    return {"breakers": await ctx.router.state()}


async def _agents_status(ctx: GatewayContext) -> dict[str, Any]:
    client = await ctx.client()
    return await client.status()


async def _probe(awaitable: Any) -> dict[str, Any]:
    """Health parts answer within HEALTH_PROBE_S or say why not; health itself never fails."""
    try:
        async with asyncio.timeout(HEALTH_PROBE_S):
            value = await awaitable
    except TimeoutError:
        return {"ok": False, "error": f"no answer within {HEALTH_PROBE_S}s"}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return {"ok": True, **value} if isinstance(value, dict) else {"ok": True, "value": value}


def _is_simulated(ctx: GatewayContext, spec: Any) -> bool | None:
    try:
        return ctx.local_router.router.pool.is_simulated(spec)
    except Exception:
        return None


def _ray_info() -> dict[str, Any]:
    import ray

    if not ray.is_initialized():
        return {"initialized": False}
    rc = ray.get_runtime_context()
    return {"initialized": True, "namespace": rc.namespace, "node_id": rc.get_node_id()}
