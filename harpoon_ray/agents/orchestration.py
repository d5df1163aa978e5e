"""One covenant's `patterns.runtime.Runtime` inside an Orchestrator shard.

`emit` goes to the shard's durable log; `run_subagents` fans out Ray chunk tasks and
writes what they report, batch by batch, in order. The whole run is replayable: a
resumed orchestration runs the pattern again from the start, and

- sub-agents already completed in the log are not run again (their output is reused);
- every event carries a dedup key (`rt/<agent>/<type>/<n>` for the pattern's own events,
  `<agent>/<kind>` for a sub-agent's), so a replay writes nothing twice.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ray

from ..patterns.budget import Budget
from ..patterns.local import action_payload
from ..patterns.runtime import SubAgentResult, SubAgentSpec
from ..schemas import Completion, Covenant, EventType, ModelRequest
from .chunk import Chunk, ChunkBatch, encode, run_chunk

if TYPE_CHECKING:
    from .orchestrator import Orchestrator

MIN_CHUNK_AGENTS = 32
CHUNK_ATTEMPTS = 3


def _retryable(error: BaseException) -> bool:
    """A worker or node that died is worth another try; a bug in the chunk is not."""
    return not isinstance(error, ray.exceptions.RayTaskError)


def chunk_sizes(n: int, cpus: float, max_agents: int) -> list[int]:
    """Split `n` agents into about one chunk per CPU (none smaller than 32 unless `n` is,
    none larger than `max_agents`): a chunk is a worker process, asyncio does the rest."""
    if n <= 0:
        return []
    chunks = max(1, min(int(cpus) or 1, math.ceil(n / MIN_CHUNK_AGENTS)))
    size = min(max_agents, math.ceil(n / chunks))
    full, rest = divmod(n, size)
    return [size] * full + ([rest] if rest else [])


class OrchestrationRuntime:
    """The Runtime of one covenant in one shard process."""

    def __init__(self, covenant: Covenant, shard: Orchestrator, *, resumed: bool = True) -> None:
        self.covenant = covenant
        self.resumed = resumed  # False: just submitted, the log holds nothing to reuse
        self.shard = shard
        self.log = shard.log
        self._budget = Budget(
            covenant.constraints,
            started_at=covenant.created_at,
            clock=time.time,
            router=shard.router,
        )
        self._emitted: Counter[tuple[str, str]] = Counter()
        self._done: dict[str, SubAgentResult] = {}
        self._recorded: set[str] = set()
        self._streamed: dict[str, int] = {}  # answer agents: characters of tokens logged
        self.chunks: dict[int, dict[str, Any]] = {}  # running chunks: agents, pid, attempts
        self.generators: list[Any] = []
        self.running_agents = 0

    @property
    def budget(self) -> Budget:
        return self._budget

    async def load(self) -> None:
        """Take back the sub-agents a previous run of this covenant completed."""
        if not self.resumed:
            return
        self._done = await self.shard.completed_results(self.covenant.id)
        self._streamed = await self.shard.streamed_chars(self.covenant.id)

    # ------------------------------------------------------------------ Runtime

    async def emit(
        self, type: EventType, agent_id: str | None = None, payload: dict[str, Any] | None = None
    ) -> None:
        who = agent_id or "-"
        n = self._emitted[(who, type)]
        self._emitted[(who, type)] += 1
        self.log.append(self.covenant.id, type, agent_id, payload, key=f"rt/{who}/{type}/{n}")

    async def complete(
        self, agent_id: str, request: ModelRequest, model: str | None = None
    ) -> Completion:
        completion = await self.shard.router.complete(request, self.covenant.constraints, model)
        self._budget.record(completion)
        await self.emit(EventType.ACTION, agent_id, action_payload(completion))
        return completion

    async def run_subagents(self, specs: list[SubAgentSpec]) -> list[SubAgentResult]:
        results: dict[str, SubAgentResult] = {}
        todo = []
        for spec in specs:
            done = self._done.get(spec.agent_id)
            if done is not None:
                self._record(done)
                results[spec.agent_id] = done.model_copy(update={"reused": True})
            else:
                todo.append(spec)
        sizes = chunk_sizes(len(todo), self.shard.cpus, self.shard.settings.chunk_max_agents)
        start, parts = 0, []
        for size in sizes:
            parts.append(todo[start : start + size])
            start += size
        for found in await asyncio.gather(*(self._run_chunk(p) for p in parts)):
            results.update(found)
        return [results[s.agent_id] for s in specs]

    # ------------------------------------------------------------------ chunks

    def _record(self, result: SubAgentResult) -> None:
        if result.ok and result.completion is not None and result.agent_id not in self._recorded:
            self._recorded.add(result.agent_id)
            self._budget.record(result.completion)

    async def _run_chunk(self, specs: Sequence[SubAgentSpec]) -> dict[str, SubAgentResult]:
        """Run one chunk to its end; a chunk whose worker died runs again with the agents
        it had not reported, up to CHUNK_ATTEMPTS times."""
        found: dict[str, SubAgentResult] = {}
        info = {"agents": len(specs), "pid": None, "done": 0, "attempts": 0}
        key = id(info)
        self.chunks[key] = info
        self.running_agents += len(specs)
        try:
            left = list(specs)
            while left:
                info["attempts"] += 1
                error = await self._attempt(left, info, found)
                left = [s for s in specs if s.agent_id not in found]
                if not left:
                    break
                if error is None:
                    self._lost(left, found, "chunk ended without reporting this agent")
                elif not _retryable(error) or info["attempts"] >= CHUNK_ATTEMPTS:
                    why = f"chunk failed after {info['attempts']} attempt(s): {error}"
                    self._lost(left, found, why[:500])
                else:
                    continue
                break
        finally:
            self.running_agents -= len(specs)
            self.chunks.pop(key, None)
        return found

    async def _attempt(
        self, specs: list[SubAgentSpec], info: dict[str, Any], found: dict[str, SubAgentResult]
    ) -> BaseException | None:
        if len(specs) <= self.shard.settings.inline_max_agents:
            await self._inline(specs, info, found)
            return None
        gen = run_chunk.options(name=f"chunk:{self.covenant.id}").remote(
            self.shard.config, self.covenant.tenant_id, self.covenant.constraints, encode(specs)
        )
        self.generators.append(gen)
        try:
            async for ref in gen:
                self._apply(await ref, info, found)
        except ray.exceptions.TaskCancelledError as exc:
            raise asyncio.CancelledError from exc
        except ray.exceptions.RayError as exc:
            return exc
        finally:
            self.generators.remove(gen)
        return None

    async def _inline(
        self, specs: list[SubAgentSpec], info: dict[str, Any], found: dict[str, SubAgentResult]
    ) -> None:
        """A tiny fan-out (a planner, a synthesizer, one smart call) on this loop."""
        chunk = Chunk(
            self.shard.config,
            self.covenant.tenant_id,
            self.covenant.constraints,
            router=self.shard.router,
        )

        async def commit_tokens() -> None:
            """An answer's tokens are worth showing now: into the log at once, not with the
            next batch. Not waited on: the log's flusher commits them within its interval
            either way, and a stream held up by each commit cost seconds under load."""
            self._apply(chunk.take(os.getpid()), info, found)

        chunk.on_tokens = commit_tokens
        tasks = chunk.start(specs)
        try:
            while True:
                batch = await chunk.next_batch(tasks, os.getpid())
                self._apply(batch, info, found)
                if all(t.done() for t in tasks) and not chunk.events and not chunk.results:
                    break
        finally:
            for t in tasks:
                t.cancel()

    def _apply(self, batch: ChunkBatch, info: dict[str, Any], found: dict) -> None:
        info["pid"] = batch.pid
        cid = self.covenant.id
        for aid, type, payload, dkey in batch.events:
            if type == EventType.TOKEN:
                payload, dkey = self._fresh_tokens(aid, payload)
                if payload is None:
                    continue
            self.log.append(cid, EventType(type), aid, payload, key=dkey)
        if batch.agents:
            self.log.stage(agent_rows=batch.agents, new_agents=batch.started)
        if batch.agents or batch.results:
            # agents started or ended: a chunk's report is a whole burst (a token-only
            # batch is not: tokens keep coming, and the interval gathers them)
            self.log.commit_soon()
        for result in batch.results:
            found[result.agent_id] = result
            self._record(result)
            if result.ok:
                self._done[result.agent_id] = result
        info["done"] += len(batch.results)

    def _fresh_tokens(self, aid: str, payload: dict[str, Any]) -> tuple[dict | None, str]:
        """The part of a token batch the log does not have yet (an answer streamed again
        after a restart or a retried chunk), keyed by where it starts: no gap, no double."""
        delta, at = payload.get("delta", ""), int(payload.get("at", 0))
        have = self._streamed.get(aid, 0)
        end = at + len(delta)
        if end <= have:
            return None, ""
        if at < have:
            delta, at = delta[have - at :], have
            payload = {**payload, "delta": delta, "at": at}
        self._streamed[aid] = end
        return payload, f"{aid}/token@{at}"

    def _lost(self, specs: Sequence[SubAgentSpec], found: dict, why: str) -> None:
        """Agents a chunk never reported on are failed, once, in the log too."""
        for spec in specs:
            if spec.agent_id in found:
                continue
            aid = spec.agent_id
            payload = {"status": "failed", "error": why, "type": "chunk_lost"}
            self.log.append(self.covenant.id, EventType.FAILED, aid, payload, key=f"{aid}/failed")
            found[aid] = SubAgentResult(agent_id=aid, ok=False, error=why, error_type="chunk_lost")

    def cancel_chunks(self) -> int:
        """Stop every chunk task still running; returns how many were asked to stop."""
        for gen in list(self.generators):
            ray.cancel(gen, force=False, recursive=True)
        return len(self.generators)
