"""What a pattern may do, as a Protocol, so one pattern runs anywhere.

`LocalRuntime` (patterns/local.py) runs everything on one asyncio loop for tests and the
CLI; the Orchestrator actor (agents/) implements the same protocol with Ray chunk tasks
for `run_subagents` and its DuckDB log behind `emit`.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, Field

from ..schemas import Completion, Covenant, EventType, ModelRequest


class SubAgentSpec(BaseModel):
    """One worker sub-agent to run: its own id, what to ask and of which model."""

    agent_id: str
    covenant_id: str
    parent_id: str | None = None
    role: str = "worker"
    title: str = ""
    thought: str = Field(default="", description="What it plans to do and why.")
    request: ModelRequest
    model: str | None = Field(default=None, description="Catalog id, tier, or None to route.")
    stream: bool = Field(
        default=False, description="The covenant's answer: stream its tokens as agent.token."
    )
    route_key: str | None = Field(
        default=None,
        description="Sub-agents sharing a key are takes of one step's prompt: a chunk routes "
        "the first and reuses that decision, fallbacks included, for the rest.",
    )


class SubAgentResult(BaseModel):
    """How a sub-agent ended. `reused` is true when its output came from the log."""

    agent_id: str
    ok: bool
    output: str = ""
    completion: Completion | None = None
    error: str | None = None
    error_type: str | None = None
    reused: bool = False


class Runtime(Protocol):
    covenant: Covenant

    @property
    def budget(self) -> Any:
        """The covenant's `patterns.budget.Budget`: spend and time so far, and limits."""
        ...

    async def emit(
        self, type: EventType, agent_id: str | None = None, payload: dict[str, Any] | None = None
    ) -> None:
        """Append an event to the covenant's log (stored before anyone sees it)."""
        ...

    async def complete(
        self, agent_id: str, request: ModelRequest, model: str | None = None
    ) -> Completion:
        """One routed model call made by `agent_id`, recorded as its action."""
        ...

    async def run_subagents(self, specs: list[SubAgentSpec]) -> list[SubAgentResult]:
        """Run sub-agents in parallel; results in the order of `specs`.

        Emits agent.spawned / thought / action / progress / completed / failed for each.
        A sub-agent whose completed output is already in the log is not run again.
        """
        ...
