"""The Orchestrator shard: many covenants' orchestrations at once, in one async actor.

Each covenant runs its pattern as an asyncio task over an `OrchestrationRuntime`. The
shard's DuckDB file holds the covenants, their agents and their event logs; when Ray
restarts the shard (a crash, `ray.kill`, or a new Ray instance on the same data dir)
the first call reopens the file and resumes every covenant still active.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from typing import Any

import ray

from ..errors import HarpoonError, NotFound, ValidationFailed
from ..patterns import run_pattern
from ..patterns.runtime import SubAgentResult
from ..schemas import Completion, Covenant, CovenantStatus, EventType
from . import sharding, wire
from .batching import CallBatcher, settle
from .eventlog import EventLog, is_last_word
from .lookups import BatchedLookup
from .orchestration import OrchestrationRuntime
from .routing import build_router
from .startup import OnceStarted, open_shard
from .store import Store

log = logging.getLogger(__name__)

MEDIATOR_NOTICE_S = 5.0
ENDED_KEPT = 10_000


@ray.remote
class Orchestrator:
    def __init__(self, config: sharding.AgentConfig, name: str) -> None:
        self.config = config
        self.settings = config.settings
        self.name = name
        self.store = Store(sharding.db_path(self.settings, name))
        self.log = EventLog(self.store)
        self.router = build_router(config)
        self.shards = sharding.Shards(config)
        self.cpus = 1.0
        self._runs: dict[str, OrchestrationRuntime] = {}
        self._tasks: dict[str, asyncio.Task] = {}
        self._finished: dict[str, asyncio.Event] = {}
        self._started = OnceStarted(self._open_and_resume)
        self._stored = BatchedLookup(self.store.covenants_by_id)
        # covenants that just ended, as stored: waiters and readers come right after
        self._ended: OrderedDict[str, Covenant] = OrderedDict()
        self.resumed: list[str] = []
        self._notices: dict[int, CallBatcher[bytes, None]] = {}  # per mediator shard

    # ------------------------------------------------------------------ lifecycle

    async def _start(self) -> None:
        await self._started.wait()

    async def _open_and_resume(self) -> None:
        """Open the file once per process, then resume what was running."""
        await open_shard(self.store, self.router)
        self.cpus = float(ray.cluster_resources().get("CPU", 1.0))
        for cov in await self.store.covenants(active_only=True, limit=1_000_000):
            self.resumed.append(cov.id)
            await self._launch(cov)

    async def ready(self) -> dict[str, Any]:
        """Open the store and resume active covenants; says what was resumed."""
        await self._start()
        return {"name": self.name, "resumed": list(self.resumed)}

    async def _launch(self, cov: Covenant, *, fresh: bool = False) -> None:
        await self.log.open_covenant(cov.id, cov.tenant_id, fresh=fresh)
        rt = OrchestrationRuntime(cov, self, resumed=not fresh)
        self._runs[cov.id] = rt
        self._finished.setdefault(cov.id, asyncio.Event())
        self._tasks[cov.id] = asyncio.create_task(self._orchestrate(rt), name=cov.id)

    # ------------------------------------------------------------------ submit and run

    async def submit(self, covenant: wire.CovenantWire) -> bytes:
        """Store the covenant, log `covenant.created` (seq 1), start it; idempotent by id.

        Takes and returns the covenant `wire.pack`ed (see `wire` for why)."""
        await self._start()
        cov = wire.unpack(covenant)
        running = self._runs.get(cov.id)
        if running is not None:
            return wire.pack(running.covenant)
        stored = self._ended.get(cov.id) or await self._stored.get(cov.id)
        if stored is not None:
            return wire.pack(stored)
        if cov is covenant:  # a model from a caller in this process: not ours to change
            cov = cov.model_copy()
        cov.status, cov.updated_at = CovenantStatus.ACTIVE, time.time()
        await self.log.open_covenant(cov.id, cov.tenant_id, fresh=True)
        self.log.stage(new_covenants=[cov])
        self.log.append(
            cov.id,
            EventType.COVENANT_CREATED,
            None,
            {"status": cov.status.value, "covenant": cov.model_dump(mode="json")},
            key="covenant.created",
        )
        await self.log.flush()
        reply = wire.pack(cov)  # before the run can change it
        await self._launch(cov, fresh=True)
        return reply

    async def submit_many(self, covenants: list[bytes]) -> list[bytes | BaseException]:
        """`submit` for a batch (see `batching`): one answer or error per covenant."""
        return await settle(self.submit(c) for c in covenants)

    async def _orchestrate(self, rt: OrchestrationRuntime) -> None:
        cov = rt.covenant
        try:
            await rt.load()
            await run_pattern(rt)
        except asyncio.CancelledError:
            cov.status = CovenantStatus.CANCELLED
            cov.error = cov.error or "cancelled"
        except HarpoonError as exc:  # run_pattern logged it as an `error` event already
            cov.status, cov.error = CovenantStatus.FAILED, exc.message
        except Exception as exc:  # a bug: the covenant fails, the shard lives on
            log.exception("covenant %s crashed", cov.id)
            cov.status, cov.error = CovenantStatus.FAILED, f"internal error: {exc}"
            await rt.emit(EventType.ERROR, None, {"type": "internal_error", "message": cov.error})
        finally:
            await self._finish(rt)

    async def _finish(self, rt: OrchestrationRuntime) -> None:
        cov = rt.covenant
        cov.updated_at = time.time()
        self.log.stage(
            covenants=[cov],
            metrics=[
                {
                    "tenant_id": cov.tenant_id,
                    "ts": cov.updated_at,
                    "name": "covenant.latency_s",
                    "value": cov.latency_s,
                    "covenant_id": cov.id,
                    "labels": {"pattern": cov.pattern.value, "status": cov.status.value},
                }
            ],
        )
        self.log.append(
            cov.id,
            EventType.COVENANT_UPDATED,
            None,
            {"status": cov.status.value, "error": cov.error, "cost_usd": cov.cost_usd},
            key="covenant.final",
        )
        await self.log.close_covenant(cov.id)
        self._ended[cov.id] = cov
        while len(self._ended) > ENDED_KEPT:
            self._ended.popitem(last=False)
        if cov.status is not CovenantStatus.COMPLETED:  # agents cut short end with it
            ended = "cancelled" if cov.status is CovenantStatus.CANCELLED else "failed"
            await self.store.end_running_agents(cov.id, ended)
        self._runs.pop(cov.id, None)
        self._tasks.pop(cov.id, None)
        await self._tell_mediator(cov)
        self._finished.setdefault(cov.id, asyncio.Event()).set()

    async def _tell_mediator(self, cov: Covenant) -> None:
        """Before waiters wake, so a follow-up sees the answer in the conversation; bounded,
        because a mediator that is down catches up on its next read instead."""
        try:
            async with asyncio.timeout(MEDIATOR_NOTICE_S):
                await self._notice_batcher(cov).call(wire.pack(cov))
        except Exception as exc:  # a dead or slow mediator must not fail the covenant
            log.warning("could not tell the mediator about %s: %s", cov.id, exc)

    def _notice_batcher(self, cov: Covenant) -> CallBatcher[bytes, None]:
        n = self.settings.mediator_shards
        i = sharding.mediator_index(cov.tenant_id, cov.user_id, n)
        batcher = self._notices.get(i)
        if batcher is None:
            m = self.shards.mediator(i)
            batcher = self._notices[i] = CallBatcher(
                lambda items: m.covenants_finished.remote(items)
            )
        return batcher

    async def cancel(self, covenant_id: str) -> Covenant:
        """Stop a covenant's chunk tasks and record it as cancelled."""
        await self._start()
        task, rt = self._tasks.get(covenant_id), self._runs.get(covenant_id)
        if task is not None and rt is not None:
            rt.cancel_chunks()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._finished[covenant_id].wait())
        return await self._covenant(covenant_id)

    # ------------------------------------------------------------------ chunks

    async def completed_results(self, covenant_id: str) -> dict[str, SubAgentResult]:
        """Sub-agents this covenant's log has as completed, rebuilt for reuse."""
        rows = await self.store.query(
            "SELECT a.agent_id, a.output, e.payload FROM agent_executions a "
            "JOIN events e ON e.covenant_id = a.covenant_id AND e.agent_id = a.agent_id "
            "AND e.type = 'agent.completed' "
            "WHERE a.covenant_id = ? AND a.status = 'completed'",
            [covenant_id],
        )
        out = {}
        for aid, output, payload in rows:
            data = json.loads(payload).get("completion")
            completion = Completion.model_validate({**data, "text": output or ""}) if data else None
            out[aid] = SubAgentResult(
                agent_id=aid, ok=True, output=output or "", completion=completion, reused=True
            )
        return out

    async def streamed_chars(self, covenant_id: str) -> dict[str, int]:
        """How much of each answer agent's reply its token events already hold."""
        rows = await self.store.query(
            "SELECT agent_id, max(CAST(json_extract(payload, '$.at') AS BIGINT) "
            "+ length(json_extract_string(payload, '$.delta'))) FROM events "
            "WHERE covenant_id = ? AND type = 'agent.token' GROUP BY agent_id",
            [covenant_id],
        )
        return {aid: int(n or 0) for aid, n in rows}

    # ------------------------------------------------------------------ reads

    async def _covenant(self, covenant_id: str) -> Covenant:
        rt = self._runs.get(covenant_id)
        if rt is not None:
            return rt.covenant
        cov = self._ended.get(covenant_id) or await self._stored.get(covenant_id)
        if cov is None:
            raise NotFound(f"no covenant {covenant_id!r}", param="covenant_id")
        return cov

    async def covenant(self, covenant_id: str) -> Covenant:
        await self._start()
        return await self._covenant(covenant_id)

    async def get(self, covenant_id: str) -> dict[str, Any]:
        """The covenant and its agents, as JSON-ready dicts."""
        await self._start()
        cov = await self._covenant(covenant_id)
        await self.log.flush()
        agents = await self.store.agents(covenant_id)
        return {
            "covenant": cov.model_dump(mode="json"),
            "agents": [a.model_dump(mode="json") for a in agents],
        }

    async def events(self, covenant_id: str, after: int = 0, limit: int = 1000) -> list:
        await self._start()
        return await self.log.read(covenant_id, after, limit)

    async def wait_events(
        self, covenant_id: str, after: int = 0, timeout_s: float = 10.0, limit: int = 1000
    ) -> dict[str, Any]:
        """Long-poll: events after `after`, and whether the covenant has ended."""
        await self._start()
        if covenant_id not in self._runs:
            await self._covenant(covenant_id)  # NotFound for an unknown id
        events = await self.log.wait(covenant_id, after, timeout_s, limit)
        running = covenant_id in self._runs or self.log.is_open(covenant_id)
        return {"events": events, "terminal": not running}

    async def wait_event_texts(
        self, covenant_id: str, after: int = 0, timeout_s: float = 10.0, limit: int = 1000
    ) -> dict[str, Any]:
        """`wait_events` with each event as (seq, its JSON text), and the seq of the
        covenant's last word when the page holds it (else None)."""
        self.log.want_texts(covenant_id)
        got = await self.wait_events(covenant_id, after, timeout_s, limit)
        events = got["events"]
        last = next((e.seq for e in events if is_last_word(e)), None)
        return {
            "events": [(e.seq, self.log.text(e)) for e in events],
            "terminal": got["terminal"],
            "last_word": last,
        }

    async def wait(self, covenant_id: str, timeout_s: float = 30.0) -> bytes:
        """The covenant once it has ended, or as it is when `timeout_s` runs out
        (`wire.pack`ed)."""
        await self._start()
        cov = await self._covenant(covenant_id)
        # A run still in `_runs` may already say "completed" in memory while its last
        # events are being committed: wait for `_finish`, so what we return is stored.
        if not cov.status.terminal or covenant_id in self._runs:
            done = self._finished.setdefault(covenant_id, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await done.wait()
            cov = await self._covenant(covenant_id)
        return wire.pack(cov)

    async def wait_any(
        self, covenant_ids: list[str], timeout_s: float = 10.0
    ) -> dict[str, bytes | HarpoonError]:
        """A long poll for many waiters (see `batching.ShardWaits`): those of
        `covenant_ids` that have ended, as stored (`wire.pack`ed), at once when some have,
        else the first to end within `timeout_s` and any ending with it; an unknown id
        comes back as `NotFound`."""
        await self._start()
        out = await self._ended_now(covenant_ids)
        if out:
            return out
        events = [self._finished.setdefault(cid, asyncio.Event()) for cid in covenant_ids]
        waits = [asyncio.ensure_future(e.wait()) for e in events]
        try:
            await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        return await self._ended_now(covenant_ids)

    async def _ended_now(self, covenant_ids: list[str]) -> dict[str, bytes | HarpoonError]:
        """The ended ones among `covenant_ids`: out of `_runs`, their mediator told."""
        out: dict[str, bytes | HarpoonError] = {}
        for cid in covenant_ids:
            done = self._finished.get(cid)
            if cid in self._runs or (done is not None and not done.is_set()):
                continue
            try:
                cov = await self._covenant(cid)
            except NotFound as exc:
                out[cid] = exc
                continue
            if cov.status.terminal:
                out[cid] = wire.pack(cov)
        return out

    async def list(
        self, tenant_id: str | None = None, user_id: str | None = None, limit: int = 50
    ) -> list[Covenant]:
        await self._start()
        return await self.store.covenants(tenant_id, user_id, limit=limit)

    async def query(self, sql: str, params: list | None = None) -> list[tuple]:
        """A read-only query on this shard's file (tests, audits): SELECT only."""
        await self._start()
        if not sql.lstrip().upper().startswith("SELECT"):
            raise ValidationFailed("only SELECT queries are allowed here", param="sql")
        await self.log.flush()
        return await self.store.query(sql, params or [])

    async def status(self) -> dict[str, Any]:
        await self._start()
        return {
            "name": self.name,
            "orchestrations": len(self._runs),
            "running_agents": sum(rt.running_agents for rt in self._runs.values()),
            "chunks": [
                {"covenant_id": cid, **info}
                for cid, rt in self._runs.items()
                for info in rt.chunks.values()
            ],
            "events_written": self.log.events_written,
            "careful_writes": self.store.careful_writes,
            "commits": self.log.commits,
            "resumed": len(self.resumed),
        }
