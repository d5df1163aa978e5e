"""The Mediator shard: many users' logical mediators in one async actor.

A mediator turns a query into a covenant (with the user's conversation so far), stores
it and the user's turn before answering, and hands it to the orchestrator shard for the
covenant id. When the covenant ends the orchestrator tells the mediator, which appends
the answer to the conversation; a mediator that missed the news (it was restarting, or
died before committing the answer) asks the orchestrator when the conversation or the
list is next read, or when the user's next query first loads the conversation.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Any

import ray

from ..errors import NotFound
from ..patterns import draft_covenant
from ..schemas import Covenant, CovenantStatus, Message, QueryRequest
from . import sharding, wire
from .batching import CallBatcher, settle
from .eventlog import EventLog
from .lookups import BatchedLookup
from .routing import build_router
from .startup import OnceStarted, open_shard
from .store import Store

HISTORY_MESSAGES = 20
CACHED_USERS = 10_000


def _turn(cov: Covenant, role: str, content: str, ts: float) -> dict[str, Any]:
    return {
        "tenant_id": cov.tenant_id,
        "user_id": cov.user_id,
        "covenant_id": cov.id,
        "role": role,
        "content": content,
        "ts": ts,
    }


@ray.remote
class Mediator:
    def __init__(self, config: sharding.AgentConfig, name: str) -> None:
        self.config = config
        self.name = name
        self.store = Store(sharding.db_path(config.settings, name))
        self.log = EventLog(self.store)  # its write-behind buffer groups concurrent writes
        self.router = build_router(config)
        self.shards = sharding.Shards(config)
        self._started = OnceStarted(self._open)
        self._stored = BatchedLookup(self.store.covenants_by_id)
        # the last turns of recent users: this shard is the only writer of their
        # conversations, so after the first read the store is not asked again
        self._turns: OrderedDict[tuple[str, str], list[dict[str, Any]]] = OrderedDict()
        self._loading: dict[tuple[str, str], asyncio.Future] = {}
        self._early: dict[tuple[str, str], list[dict[str, Any]]] = {}  # staged mid-load
        self._delegations: dict[int, CallBatcher[bytes, bytes]] = {}  # per orchestrator

    async def _start(self) -> None:
        await self._started.wait()

    async def _open(self) -> None:
        await open_shard(self.store, self.router)

    async def ready(self) -> dict[str, Any]:
        await self._start()
        return {"name": self.name, "careful_writes": self.store.careful_writes}

    async def submit(
        self,
        tenant_id: str,
        user_id: str,
        request: QueryRequest | dict[str, Any] | bytes,
        covenant_id: str | None = None,
        conversation: bool = True,
    ) -> bytes:
        """Draft, store and delegate a covenant; idempotent when `covenant_id` is given.
        `conversation=False`: a one-off, drafted without the user's turns and not added to
        them (see `Covenant.conversation`).

        Returns the covenant as the orchestrator stored it (`wire.pack`ed)."""
        await self._start()
        if covenant_id is not None:
            stored = await self._stored.get(covenant_id)
            if stored is not None:  # a retried call: make sure it was delegated, once
                return await self._redelegate(stored)
        # no reconcile here: asking the orchestrators about every running covenant of the
        # user on each submit cost thousands of calls under load; the push keeps it fresh
        history = await self._recent_turns(tenant_id, user_id) if conversation else []
        cov = draft_covenant(
            wire.request_data(request),
            user_id=user_id,
            tenant_id=tenant_id,
            router=self.router,
            history=[Message(role=m["role"], content=m["content"]) for m in history],
        )
        if covenant_id is not None:
            cov.id = covenant_id
        # stored as active at once: one row write instead of draft, then active
        cov.status, cov.conversation = CovenantStatus.ACTIVE, conversation
        if conversation:
            self._stage_turn(cov, "user", cov.query, cov.created_at)
        self.log.stage(new_covenants=[cov])
        # this shard's commit and the orchestrator's run side by side, not in turn: both
        # are done before the submission returns
        active, _ = await asyncio.gather(self._delegate(cov), self.log.flush())
        return active

    async def submit_many(self, items: list[tuple]) -> list[bytes | BaseException]:
        """`submit` for a batch of (tenant, user, request, covenant id[, conversation]) (see
        `batching`)."""
        return await settle(self.submit(*item) for item in items)

    async def _delegate(self, cov: Covenant) -> bytes:
        i = sharding.orchestrator_index(cov.id, self.config.settings.orchestrator_shards)
        batcher = self._delegations.get(i)
        if batcher is None:
            shard = self.shards.orchestrator(i)
            batcher = self._delegations[i] = CallBatcher(
                lambda items: shard.submit_many.remote(items)
            )
        return await batcher.call(wire.pack(cov))

    async def _redelegate(self, stored: Covenant) -> bytes:
        """A retried submission: the orchestrator's answer says how it stands now."""
        data = await self._delegate(stored)
        active = wire.unpack(data)
        if active.status != stored.status:
            # not awaited: the orchestrator holds the truth and lists reconcile with it
            self.log.stage(covenants=[active])
        return data

    async def _recent_turns(self, tenant_id: str, user_id: str) -> list[dict[str, Any]]:
        """The user's last turns, from memory after the first read of the store."""
        key = (tenant_id, user_id)
        turns = self._turns.get(key)
        if turns is None:
            loading = self._loading.get(key)
            if loading is None:
                loading = self._loading[key] = asyncio.ensure_future(self._load_turns(key))
            turns = await asyncio.shield(loading)
        self._turns.move_to_end(key)
        while len(self._turns) > CACHED_USERS:
            self._turns.popitem(last=False)
        return list(turns)

    async def _load_turns(self, key: tuple[str, str]) -> list[dict[str, Any]]:
        """Commit what was staged before, read, and add what was staged meanwhile.

        First the user's covenants this file still calls running are checked with the
        orchestrators: an answer staged by `covenant_finished` goes in with the next
        batch, and a shard killed before that restarts without it. Once per user per
        shard life, so not the per-submit cost that `submit` avoids."""
        try:
            self._early[key] = []
            await self._settle_running(*key)
            rows = await self.store.messages(*key, HISTORY_MESSAGES)
            seen = {(r["covenant_id"], r["role"]) for r in rows}
            early = [t for t in self._early[key] if (t["covenant_id"], t["role"]) not in seen]
            turns = self._turns[key] = (rows + early)[-HISTORY_MESSAGES:]
            return turns
        finally:
            self._early.pop(key, None)
            self._loading.pop(key, None)

    def _stage_turn(self, cov: Covenant, role: str, content: str, ts: float) -> None:
        turn = _turn(cov, role, content, ts)
        self.log.stage(messages=[turn])
        key = (cov.tenant_id, cov.user_id)
        turns = self._turns.get(key)
        if turns is not None:
            turns.append(turn)
            del turns[:-HISTORY_MESSAGES]
        elif key in self._early:
            self._early[key].append(turn)

    async def covenant_finished(self, cov: wire.CovenantWire) -> None:
        """Record the end of a covenant and its answer in the user's conversation.

        Staged, not waited on: the answer is in the user's turns in memory at once (what a
        follow-up reads), and committed with the next batch. Should this shard die first,
        its row still says active, so the next list or history read asks the
        orchestrator again and records it then."""
        await self._start()
        cov = wire.unpack(cov)
        if cov.conversation:
            answer = cov.result if cov.result is not None else f"({cov.status.value}: {cov.error})"
            self._stage_turn(cov, "assistant", answer, time.time())
        self.log.stage(covenants=[cov])

    async def covenants_finished(self, covenants: list[bytes]) -> list[BaseException | None]:
        """`covenant_finished` for a batch (see `batching`)."""
        return await settle(self.covenant_finished(c) for c in covenants)

    async def _reconcile(self, covenants: list[Covenant]) -> list[Covenant]:
        """Ask the orchestrators about covenants this shard still thinks are running."""
        open_ = [c for c in covenants if not c.status.terminal]
        if not open_:
            return covenants
        calls = [self.shards.orchestrator_for(c.id).covenant.remote(c.id) for c in open_]
        fresh = {}
        for c, got in zip(open_, await asyncio.gather(*calls, return_exceptions=True), strict=True):
            if isinstance(got, Covenant):
                fresh[c.id] = got
                if got.status.terminal:
                    await self.covenant_finished(got)
        return [fresh.get(c.id, c) for c in covenants]

    async def _settle_running(self, tenant_id: str, user_id: str) -> None:
        """Commit what is staged (answers from `covenant_finished`), then ask the
        orchestrators about the user's covenants the file still calls running and commit
        the answers of those that ended."""
        await self.log.flush()
        await self._reconcile(
            await self.store.covenants(tenant_id, user_id, active_only=True, limit=100)
        )
        await self.log.flush()

    async def history(
        self, tenant_id: str, user_id: str, limit: int = HISTORY_MESSAGES
    ) -> list[dict[str, Any]]:
        """The user's conversation, oldest first: one user turn and one answer per covenant."""
        await self._start()
        await self._settle_running(tenant_id, user_id)
        return await self.store.messages(tenant_id, user_id, limit)

    async def list(
        self, tenant_id: str | None = None, user_id: str | None = None, limit: int = 50
    ) -> list[Covenant]:
        """This shard's covenants, newest first, with up-to-date status."""
        await self._start()
        await self.log.flush()  # ends staged by `covenant_finished`
        return await self._reconcile(await self.store.covenants(tenant_id, user_id, limit=limit))

    async def covenant(self, covenant_id: str) -> Covenant:
        await self._start()
        await self.log.flush()
        cov = await self.store.covenant(covenant_id)
        if cov is None:
            raise NotFound(f"no covenant {covenant_id!r}", param="covenant_id")
        return cov
