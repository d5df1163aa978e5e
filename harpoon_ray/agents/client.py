"""`HarpoonClient`: submit, follow, wait for, cancel and list covenants on Ray.

What the CLI and the Serve gateway call; they never talk to the shards directly. Every
method is async; `SyncHarpoonClient` wraps them for plain scripts. Errors are the typed
ones of `harpoon_ray.errors` (a shard's `NotFound` arrives as `NotFound`, not wrapped).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import ray
from pydantic import ValidationError

from ..errors import HarpoonError, ValidationFailed
from ..schemas import Covenant, Event, QueryRequest
from ..settings import Settings, get_settings
from . import wire
from .batching import CallBatcher, ShardWaits
from .eventlog import is_last_word
from .sharding import AgentConfig, Shards

T = TypeVar("T")

_POLL_S = 10.0


async def _call(ref: Awaitable[T]) -> T:
    """Await a shard call, re-raising a shard's HarpoonError as itself."""
    try:
        return await ref
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, HarpoonError):
            raise exc.cause from None
        raise


def parse_query(query: QueryRequest | dict[str, Any] | str) -> QueryRequest:
    """A valid `QueryRequest` from what a caller passed, or `ValidationFailed` naming the field."""
    if isinstance(query, QueryRequest):
        return query
    data = {"query": query} if isinstance(query, str) else query
    try:
        return QueryRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "query"
        raise ValidationFailed(f"`{where}`: {first['msg']}", param=where) from None


def _name(value: str, param: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise ValidationFailed(
            f"`{param}` must be a non-empty string of at most 200 characters", param=param
        )
    return value


class HarpoonClient:
    """The agents layer's API. Needs Ray initialised (see `connect`)."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        provider_base_url: str | None = None,
    ) -> None:
        self.config = AgentConfig(
            settings=settings or get_settings(), provider_base_url=provider_base_url
        )
        self.shards = Shards(self.config)
        # concurrent submits and waits to one shard travel together (see `batching`)
        self._submits: dict[int, CallBatcher] = {}
        self._waits: dict[int, ShardWaits] = {}

    def _submitter(self, mediator: Any) -> CallBatcher:
        batcher = self._submits.get(id(mediator))
        if batcher is None:
            batcher = self._submits[id(mediator)] = CallBatcher(
                lambda items: _call(mediator.submit_many.remote(items))
            )
        return batcher

    def _waiter(self, shard: Any) -> ShardWaits:
        waits = self._waits.get(id(shard))
        if waits is None:
            waits = self._waits[id(shard)] = ShardWaits(
                lambda ids: _call(shard.wait_any.remote(ids, _POLL_S))
            )
        return waits

    async def ready(self) -> list[dict[str, Any]]:
        """Start every shard, which reopens its file and resumes active covenants."""
        return await asyncio.gather(*(_call(h.ready.remote()) for h in self.shards.all()))

    async def submit(
        self,
        user_id: str,
        query: QueryRequest | dict[str, Any] | str,
        tenant_id: str = "local",
        *,
        conversation: bool = True,
    ) -> Covenant:
        """Draft and start a covenant; it is stored and its log begun when this returns.
        `conversation=False`: a one-off, outside the user's conversation (no earlier turns
        in its prompts, its own not recorded)."""
        request = parse_query(query)
        _name(user_id, "user_id")
        _name(tenant_id, "tenant_id")
        covenant_id = "cov_" + uuid.uuid4().hex[:16]  # makes a retried submit idempotent
        mediator = self.shards.mediator_for(tenant_id, user_id)
        item: tuple = (tenant_id, user_id, wire.pack_request(request), covenant_id)
        if not conversation:  # only then: a shard still running older code takes the rest
            item = (*item, False)
        return wire.unpack(await self._submitter(mediator).call(item))

    async def get(self, covenant_id: str) -> dict[str, Any]:
        """`{"covenant": {...}, "agents": [...]}` as JSON-ready dicts."""
        return await _call(self.shards.orchestrator_for(covenant_id).get.remote(covenant_id))

    async def covenant(self, covenant_id: str) -> Covenant:
        return await _call(self.shards.orchestrator_for(covenant_id).covenant.remote(covenant_id))

    async def events(self, covenant_id: str, after: int = 0, limit: int = 1000) -> list[Event]:
        """Committed events with seq > after, oldest first."""
        shard = self.shards.orchestrator_for(covenant_id)
        return await _call(shard.events.remote(covenant_id, after, limit))

    async def follow(
        self, covenant_id: str, after: int = 0, *, limit: int = 1000
    ) -> AsyncIterator[Event]:
        """Every event after `after` as it is stored; ends with the covenant's last one."""
        shard = self.shards.orchestrator_for(covenant_id)
        while True:
            got = await _call(shard.wait_events.remote(covenant_id, after, _POLL_S, limit))
            for event in got["events"]:
                after = event.seq
                yield event
                if is_last_word(event):
                    return
            if got["terminal"] and not got["events"]:
                return

    async def follow_texts(
        self, covenant_id: str, after: int = 0, *, limit: int = 1000
    ) -> AsyncIterator[list[tuple[int, str]]]:
        """`follow` in pages of (seq, the event's JSON text), for relaying events as they
        are: a page of texts crosses from the shard far cheaper than pickled models, and the
        gateway sends them without encoding them again."""
        shard = self.shards.orchestrator_for(covenant_id)
        while True:
            got = await _call(shard.wait_event_texts.remote(covenant_id, after, _POLL_S, limit))
            page, last = got["events"], got["last_word"]
            if last is not None:
                page = [item for item in page if item[0] <= last]
            if page:
                after = page[-1][0]
                yield page
            if last is not None or (got["terminal"] and not page):
                return

    async def wait(self, covenant_id: str, timeout_s: float = 60.0) -> Covenant:
        """The covenant once ended, or as it stands after `timeout_s`."""
        shard = self.shards.orchestrator_for(covenant_id)
        try:
            return wire.unpack(await self._waiter(shard).wait(covenant_id, timeout_s))
        except TimeoutError:
            return await self.covenant(covenant_id)

    async def cancel(self, covenant_id: str) -> Covenant:
        """Stop the covenant's sub-agents and record it as cancelled (no-op once ended)."""
        return await _call(self.shards.orchestrator_for(covenant_id).cancel.remote(covenant_id))

    async def list_covenants(
        self, tenant_id: str = "local", user_id: str | None = None, limit: int = 50
    ) -> list[Covenant]:
        """Newest first, across the mediator shards (one shard when `user_id` is given)."""
        if user_id is not None:
            shards = [self.shards.mediator_for(tenant_id, user_id)]
        else:
            shards = self.shards.mediators()
        lists = await asyncio.gather(
            *(_call(m.list.remote(tenant_id, user_id, limit)) for m in shards)
        )
        merged = [c for part in lists for c in part]
        merged.sort(key=lambda c: c.created_at, reverse=True)
        return merged[:limit]

    async def history(self, tenant_id: str, user_id: str) -> list[dict[str, Any]]:
        """The user's conversation, oldest first."""
        mediator = self.shards.mediator_for(tenant_id, user_id)
        return await _call(mediator.history.remote(tenant_id, user_id))

    async def status(self) -> dict[str, Any]:
        """Shards, live orchestrations and running sub-agents."""
        orch = await asyncio.gather(
            *(_call(o.status.remote()) for o in self.shards.orchestrators())
        )
        meds = await asyncio.gather(*(_call(m.ready.remote()) for m in self.shards.mediators()))
        return {
            "ok": True,
            "namespace": self.config.namespace,
            "mediators": meds,
            "orchestrators": orch,
            "orchestrations": sum(o["orchestrations"] for o in orch),
            "running_agents": sum(o["running_agents"] for o in orch),
        }


class SyncHarpoonClient:
    """The same calls for code without an event loop (scripts, notebooks)."""

    def __init__(self, client: HarpoonClient | None = None, **kw: Any) -> None:
        self.client = client or HarpoonClient(**kw)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)
        if name == "follow":

            async def collect(*a: Any, **k: Any) -> list[Event]:
                return [e async for e in method(*a, **k)]

            return lambda *a, **k: asyncio.run(collect(*a, **k))
        return lambda *a, **k: asyncio.run(method(*a, **k))


async def connect(
    address: str | None = None, settings: Settings | None = None, **kw: Any
) -> HarpoonClient:
    """Connect to Ray at `address` (or a running local cluster, else start one) and
    return a client whose shards are awake."""
    settings = settings or get_settings()
    if not ray.is_initialized():
        if address is not None:
            ray.init(address=address, namespace=settings.namespace, log_to_driver=False)
        else:
            try:
                ray.init(address="auto", namespace=settings.namespace, log_to_driver=False)
            except ConnectionError:  # none running: a fresh one, on loopback by default
                from ..local_ray import init_local_ray

                init_local_ray(
                    settings,
                    namespace=settings.namespace,
                    log_to_driver=False,
                    include_dashboard=False,
                )
    client = HarpoonClient(settings, **kw)
    await client.ready()
    return client
