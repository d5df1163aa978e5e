"""The whole `Runtime` on one asyncio loop: sub-agents are tasks, the log is a list.

Used by the patterns' tests, by the CLI to run a covenant without Ray, and as the
reference the Orchestrator actor's runtime follows (same events, same order per agent:
spawned, thought, progress, action, output, completed | failed).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import AllModelsFailed, HarpoonError
from ..schemas import (
    AgentAction,
    AgentExecution,
    AgentStatus,
    Completion,
    Covenant,
    Event,
    EventType,
    ModelRequest,
)
from .budget import Budget
from .runtime import SubAgentResult, SubAgentSpec
from .streaming import stream_completion, token_payload

OnEvent = Callable[[Event], Awaitable[None] | None]


class LocalRuntime:
    """Runs one covenant in-process. `events` is its gap-free log, `agents` its agents.

    `max_concurrency` bounds the sub-agents in flight (None: all at once). A sub-agent
    whose id already completed on this runtime is not run again: its result is reused,
    as the Orchestrator does when it resumes from its log.
    """

    def __init__(
        self,
        covenant: Covenant,
        router: Any,
        *,
        on_event: OnEvent | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_concurrency: int | None = None,
    ) -> None:
        self.covenant = covenant
        self.router = router
        self.on_event = on_event
        self.events: list[Event] = []
        self.agents: dict[str, AgentExecution] = {}
        self.model_calls = 0
        self._budget = Budget(covenant.constraints, clock=clock, router=router)
        self._done: dict[str, SubAgentResult] = {}
        self._limit = asyncio.Semaphore(max_concurrency) if max_concurrency else None

    @property
    def budget(self) -> Budget:
        return self._budget

    async def emit(
        self, type: EventType, agent_id: str | None = None, payload: dict[str, Any] | None = None
    ) -> None:
        # seq is taken and the event appended before any await: gap-free under concurrency.
        # Built without re-validation: every field comes from this runtime, and a fan-out
        # of 10,000 sub-agents logs 60,000 events.
        event = Event.model_construct(
            seq=len(self.events) + 1,
            ts=time.time(),
            type=EventType(type),
            covenant_id=self.covenant.id,
            tenant_id=self.covenant.tenant_id,
            agent_id=agent_id,
            payload=payload or {},
        )
        self.events.append(event)
        if self.on_event is not None:
            out = self.on_event(event)
            if inspect.isawaitable(out):
                await out

    async def complete(
        self, agent_id: str, request: ModelRequest, model: str | None = None, stream: bool = False
    ) -> Completion:
        """`stream`: the answer's call, its tokens logged as batched agent.token events."""
        self.model_calls += 1
        constraints = self.covenant.constraints
        try:
            if stream:

                async def tokens(delta: str, at: int) -> None:
                    await self.emit(EventType.TOKEN, agent_id, token_payload(delta, at))

                completion = await stream_completion(
                    self.router, request, constraints, model, tokens
                )
            else:
                completion = await self.router.complete(request, constraints, model)
        except AllModelsFailed as exc:
            await self.emit(
                EventType.ACTION,
                agent_id,
                {"ok": False, "model": model, "error": exc.message, "attempts": exc.attempts},
            )
            raise
        self._budget.record(completion)
        await self.emit(EventType.ACTION, agent_id, action_payload(completion))
        return completion

    async def run_subagents(self, specs: list[SubAgentSpec]) -> list[SubAgentResult]:
        # a TaskGroup, not gather: if one sub-agent hits a bug (not a HarpoonError, which
        # becomes agent.failed), its siblings are cancelled instead of left running
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(self._bounded(s)) for s in specs]
        return [t.result() for t in tasks]

    async def _bounded(self, spec: SubAgentSpec) -> SubAgentResult:
        if self._limit is None:
            return await self._run(spec)
        async with self._limit:
            return await self._run(spec)

    async def _run(self, spec: SubAgentSpec) -> SubAgentResult:
        if spec.agent_id in self._done:
            return self._done[spec.agent_id].model_copy(update={"reused": True})
        agent = AgentExecution(
            agent_id=spec.agent_id,
            covenant_id=spec.covenant_id,
            tenant_id=self.covenant.tenant_id,
            parent_id=spec.parent_id,
            role=spec.role,
            title=spec.title,
            status=AgentStatus.RUNNING,
            thoughts=[spec.thought] if spec.thought else [],
        )
        self.agents[spec.agent_id] = agent
        aid = spec.agent_id
        await self.emit(
            EventType.AGENT_SPAWNED,
            aid,
            {
                "role": spec.role,
                "title": spec.title,
                "parent_id": spec.parent_id,
                "model": spec.model,
            },
        )
        if spec.thought:
            await self.emit(EventType.THOUGHT, aid, {"text": spec.thought})
        await self.emit(EventType.PROGRESS, aid, {"progress": 0.1, "stage": "calling model"})
        try:
            completion = await self.complete(aid, spec.request, spec.model, spec.stream)
        except HarpoonError as exc:
            agent.status, agent.progress = AgentStatus.FAILED, 1.0
            agent.actions.append(
                AgentAction(model=spec.model or "auto", ok=False, error=exc.message)
            )
            await self.emit(EventType.FAILED, aid, {"error": exc.message, "type": exc.error_type})
            return SubAgentResult(
                agent_id=aid, ok=False, error=exc.message, error_type=exc.error_type
            )
        _account(agent, completion)
        await self.emit(EventType.OUTPUT, aid, {"text": completion.text})
        await self.emit(EventType.COMPLETED, aid, _completed_payload(agent))
        result = SubAgentResult(
            agent_id=aid, ok=True, output=completion.text, completion=completion
        )
        self._done[aid] = result
        return result

    async def run(self) -> Covenant:
        """Run the covenant's pattern to the end; the covenant carries the result."""
        from . import run_pattern

        await run_pattern(self)
        return self.covenant


def action_payload(c: Completion) -> dict[str, Any]:
    """What an agent.action event says about one model call."""
    return {
        "ok": True,
        "model": c.model,
        "provider": c.provider,
        "tier": c.tier.value,
        "input_tokens": c.input_tokens,
        "output_tokens": c.output_tokens,
        "cost_usd": c.cost_usd,
        "latency_s": c.latency_s,
        "simulated": c.simulated,
        "attempts": [a.model_dump(mode="json") for a in c.attempts],
    }


def _account(agent: AgentExecution, c: Completion) -> None:
    agent.actions.append(
        AgentAction(
            model=c.model,
            input_tokens=c.input_tokens,
            output_tokens=c.output_tokens,
            cost_usd=c.cost_usd,
            latency_s=c.latency_s,
            fallbacks=[a for a in c.attempts if not a.ok],
            simulated=c.simulated,
        )
    )
    agent.status, agent.progress = AgentStatus.COMPLETED, 1.0
    agent.output, agent.model = c.text, c.model
    agent.input_tokens += c.input_tokens
    agent.output_tokens += c.output_tokens
    agent.cost_usd += c.cost_usd
    agent.latency_s += c.latency_s


def _completed_payload(agent: AgentExecution) -> dict[str, Any]:
    return {
        "model": agent.model,
        "input_tokens": agent.input_tokens,
        "output_tokens": agent.output_tokens,
        "cost_usd": agent.cost_usd,
        "latency_s": agent.latency_s,
    }
