"""A chunk of sub-agents as one Ray task, run concurrently on its own asyncio loop.

One task per sub-agent costs a worker process each (100 sub-agents took 8.6 s here);
ten tasks of a thousand asyncio sub-agents ran 10,000 in 2.8 s. Ray refuses `async def`
remote functions, so the task is a plain generator that drives a private event loop,
and yields what happened as batches (`num_returns="streaming"`): one object per batch,
never one per event or token.

Ray's own retry of a streaming task replays it and keeps outputs by index, which
assumes a deterministic generator; a chunk is not (batches follow timing). So the task
has `max_retries=0` and the orchestrator retries a chunk whose worker died itself, with
only the agents it has no result for. Every event carries a dedup key, so an agent
reported by the dead attempt and run again is never written twice.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import ray
from pydantic import BaseModel, TypeAdapter
from pydantic_core import to_json

from ..errors import HarpoonError
from ..patterns.local import action_payload
from ..patterns.runtime import SubAgentResult, SubAgentSpec
from ..patterns.streaming import stream_completion, token_payload
from ..routing.router import Router
from ..schemas import (
    AgentAction,
    Completion,
    Constraints,
    EventType,
    RoutingDecision,
)
from . import gctune
from .routing import build_router, close_router, preload
from .sharding import AgentConfig
from .store import AgentRow

T = TypeVar("T")

BATCH_INTERVAL_S = 0.05
BATCH_MAX_EVENTS = 5000
CHUNK_CPUS = 0.1  # I/O bound: many chunks share a core, each one a worker process

# (agent_id, type, payload, dedup key)
ChunkEvent = tuple[str, str, dict[str, Any], str]


def _action(c: Completion) -> AgentAction:
    return AgentAction(
        model=c.model,
        input_tokens=c.input_tokens,
        output_tokens=c.output_tokens,
        cost_usd=c.cost_usd,
        latency_s=c.latency_s,
        fallbacks=[a for a in c.attempts if not a.ok],
        simulated=c.simulated,
    )


def completed_payload(c: Completion) -> dict[str, Any]:
    """The agent.completed payload: totals, and the completion itself (without its text,
    which agent.output carries) so a resumed orchestration can reuse it."""
    return {
        "model": c.model,
        "input_tokens": c.input_tokens,
        "output_tokens": c.output_tokens,
        "cost_usd": c.cost_usd,
        "latency_s": c.latency_s,
        "completion": c.model_dump(mode="json", exclude={"text", "routing"}),
    }


class ChunkBatch(BaseModel):
    """What one chunk reports at a time. The first batch also says where it runs."""

    pid: int
    events: list[ChunkEvent] = []
    agents: list[AgentRow] = []  # plain tuples: see store.AgentRow
    results: list[SubAgentResult] = []
    started: list[str] = []


_SPECS = TypeAdapter(list[SubAgentSpec])


def encode(specs: list[SubAgentSpec]) -> bytes:
    """Specs for a chunk task as JSON bytes: pickling 10,000 pydantic specs took the
    orchestrator 3.5 s of CPU (py-spy), pydantic-core's JSON takes a few tens of ms."""
    return _SPECS.dump_json(specs)


class Chunk:
    """The sub-agents of one chunk and the buffer of what they did since the last batch.

    Runs inside a chunk task, or on the orchestrator's own loop for tiny fan-outs (then
    with the orchestrator's router, and `on_tokens`, awaited after each batch of an
    answer's tokens, commits them at once instead of with the next batch)."""

    def __init__(
        self,
        config: AgentConfig,
        tenant_id: str,
        constraints: Constraints,
        router: Router | None = None,
        on_tokens: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.on_tokens = on_tokens
        self.router = router or build_router(config)
        self.tenant_id = tenant_id
        self.constraints = constraints
        self.events: list[ChunkEvent] = []
        self.agents: dict[str, AgentRow] = {}
        self.results: list[SubAgentResult] = []
        self.started: list[str] = []
        self.held = False  # the last take left whole agents' events behind: send them next
        self.wake = asyncio.Event()
        self.routes: dict[tuple[str, str | None], RoutingDecision] = {}

    def route(self, spec: SubAgentSpec) -> RoutingDecision | None:
        """One decision per route key and model in this chunk (see `SubAgentSpec.route_key`);
        None routes the agent on its own."""
        if spec.route_key is None:
            return None
        key = (spec.route_key, spec.model)
        found = self.routes.get(key)
        if found is None:
            found = self.routes[key] = self.router.decide(
                spec.request, self.constraints, spec.model
            )
        return found

    def emit(self, agent_id: str, type: EventType, payload: dict[str, Any], kind: str) -> None:
        self.events.append((agent_id, type.value, payload, f"{agent_id}/{kind}"))
        self.wake.set()

    def row(self, row: AgentRow) -> None:
        self.agents[row[2]] = row

    async def run_agent(self, spec: SubAgentSpec) -> None:
        """Events in `LocalRuntime`'s order: spawned, thought, progress, action, output,
        completed | failed."""
        aid = spec.agent_id
        thoughts = to_json([spec.thought] if spec.thought else []).decode()
        head = (self.tenant_id, spec.covenant_id, aid, spec.parent_id, spec.role, spec.title)
        row: AgentRow = (*head, "running", thoughts, "[]", None, spec.model, 0, 0, 0.0, 0.0, 0.1)
        self.started.append(aid)
        spawned = {"role": spec.role, "title": spec.title, "parent_id": spec.parent_id}
        self.emit(aid, EventType.AGENT_SPAWNED, {**spawned, "model": spec.model}, "spawned")
        if spec.thought:
            self.emit(aid, EventType.THOUGHT, {"text": spec.thought}, "thought")
        self.emit(aid, EventType.PROGRESS, {"progress": 0.1, "stage": "calling model"}, "p10")
        self.row(row)
        try:
            if spec.stream:
                completion = await stream_completion(
                    self.router,
                    spec.request,
                    self.constraints,
                    spec.model,
                    lambda delta, at: self._tokens(aid, delta, at),
                )
            else:
                completion = await self.router.complete(
                    spec.request, self.constraints, spec.model, decision=self.route(spec)
                )
        except HarpoonError as exc:
            self._failed(row, exc.message, exc.error_type, getattr(exc, "attempts", []))
            return
        except Exception as exc:  # one agent's bug must not take its chunk down
            self._failed(row, f"{type(exc).__name__}: {exc}", "internal_error", [])
            return
        self.emit(aid, EventType.ACTION, action_payload(completion), "action")
        self.emit(aid, EventType.OUTPUT, {"text": completion.text}, "output")
        slim = completion.model_copy(update={"routing": None})
        c = completion
        actions = to_json([_action(c)]).decode()
        done: AgentRow = (*head, "completed", thoughts, actions, c.text, c.model)
        done += (c.input_tokens, c.output_tokens, c.cost_usd, c.latency_s, 1.0)
        self.emit(aid, EventType.COMPLETED, completed_payload(slim), "completed")
        self.row(done)
        self.results.append(
            SubAgentResult(agent_id=aid, ok=True, output=completion.text, completion=slim)
        )

    async def _tokens(self, aid: str, delta: str, at: int) -> None:
        self.emit(aid, EventType.TOKEN, token_payload(delta, at), f"token@{at}")
        if self.on_tokens is not None:
            await self.on_tokens()

    def _failed(self, row: AgentRow, message: str, error_type: str, attempts: list) -> None:
        aid = row[2]
        payload: dict[str, Any] = {"status": "failed", "error": message, "type": error_type}
        if attempts:
            payload["attempts"] = attempts
        self.emit(aid, EventType.FAILED, payload, "failed")
        self.row((*row[:6], "failed", *row[7:15], 1.0))
        self.results.append(
            SubAgentResult(agent_id=aid, ok=False, error=message, error_type=error_type)
        )

    def take(self, pid: int, limit: int = BATCH_MAX_EVENTS) -> ChunkBatch:
        """What happened since the last take: at most `limit` events when they can be cut
        between whole agents (each agent's row and result go with its last event, so
        they still commit together), the rest left for the next take. A 10,000-agent
        chunk's start is 30,000 events at once: as one report it held the shard's loop
        ~0.4 s to unpickle and apply, and five such chunks ~2 s."""
        cut = _closed_cut(self.events, limit)
        events, self.events = self.events[:cut], self.events[cut:]
        later = {e[0] for e in self.events}  # agents whose events wait for the next take
        agents, kept = _apart(self.agents.values(), lambda row: row[2] in later)
        self.agents = {row[2]: row for row in kept}
        results, self.results = _apart(self.results, lambda r: r.agent_id in later)
        started, self.started = _apart(self.started, lambda aid: aid in later)
        self.held = bool(self.events)
        batch = ChunkBatch.model_construct(  # built here from our own values: no validation
            pid=pid, events=events, agents=agents, results=results, started=started
        )
        if not self.held:
            self.wake.clear()
        return batch

    def start(
        self, specs: Sequence[SubAgentSpec], loop: asyncio.AbstractEventLoop | None = None
    ) -> set[asyncio.Task]:
        """A task per agent (on `loop`, else the running one), each waking `next_batch`
        when it ends, whatever the way."""
        loop = loop or asyncio.get_running_loop()
        tasks = {loop.create_task(self.run_agent(s)) for s in specs}
        for task in tasks:
            task.add_done_callback(self._agent_ended)
        return tasks

    def _agent_ended(self, _task: asyncio.Task) -> None:
        self.wake.set()

    async def next_batch(self, tasks: set[asyncio.Task], pid: int) -> ChunkBatch:
        """Wait for something to report (or the chunk's end), let more gather, take it.

        The wait is on `wake` alone (an emit or an agent's end sets it): waiting on every
        task as well cost ~6 ms per batch at 10,000 agents, a callback added to each and
        taken off again."""
        if self.held:  # the rest of a burst: ready since the last take
            return self.take(pid)
        if not self.events and not self.results and any(not t.done() for t in tasks):
            await self.wake.wait()
        if len(self.events) < BATCH_MAX_EVENTS and any(not t.done() for t in tasks):
            await asyncio.sleep(BATCH_INTERVAL_S)
        return self.take(pid)


def _apart(items: Iterable[T], stays: Callable[[T], bool]) -> tuple[list[T], list[T]]:
    """(the items that go, the items that stay), each in order."""
    go: list[T] = []
    stay: list[T] = []
    for item in items:
        (stay if stays(item) else go).append(item)
    return go, stay


def _closed_cut(events: list[ChunkEvent], limit: int) -> int:
    """The largest n <= `limit` after which none of the agents in `events[:n]` has an
    event left; all of them when they are no more than `limit` or no such n is found."""
    if len(events) <= limit:
        return len(events)
    last = {e[0]: i for i, e in enumerate(events)}
    cut, reach = 0, -1
    for i in range(limit):
        reach = max(reach, last[events[i][0]])
        if reach == i:
            cut = i + 1
    return cut or len(events)


def _drive(
    config: AgentConfig,
    tenant_id: str,
    constraints: Constraints,
    specs: list[SubAgentSpec],
) -> Iterator[ChunkBatch]:
    pid = os.getpid()
    yield ChunkBatch(pid=pid)  # says where it runs before anything else
    todo = list(specs)
    if not todo:
        return
    loop = asyncio.new_event_loop()
    chunk = Chunk(config, tenant_id, constraints)
    preload(chunk.router)  # before the agents start: an import would stall all of them
    try:
        tasks = chunk.start(todo, loop)
        while True:
            batch = loop.run_until_complete(chunk.next_batch(tasks, pid))
            finished = all(t.done() for t in tasks)
            if batch.events or batch.results or batch.agents:
                yield batch
            if finished and not chunk.events and not chunk.results:
                break
        for t in tasks:
            t.result()  # surface a bug in the chunk itself rather than hide it
    finally:
        left = asyncio.all_tasks(loop)
        for t in left:
            t.cancel()
        if left:  # gather() of nothing would bind to another loop and raise
            loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
        loop.run_until_complete(close_router(chunk.router))
        loop.close()


@ray.remote(num_returns="streaming", max_retries=0, num_cpus=CHUNK_CPUS)
def run_chunk(
    config: AgentConfig,
    tenant_id: str,
    constraints: Constraints,
    specs: bytes | list[SubAgentSpec],
) -> Iterator[ChunkBatch]:
    """Run `specs` (`encode`d) concurrently; yield `ChunkBatch`es until every one has
    ended (pickled: at chunk sizes, unpickling beat validating the batch's JSON)."""
    if isinstance(specs, bytes):
        specs = _SPECS.validate_json(specs)
    with gctune.tuned():
        yield from _drive(config, tenant_id, constraints, specs)
