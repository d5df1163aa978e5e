"""Pydantic types shared by every layer: model calls, routing, covenants, agents, events.

These are the boundary types: what crosses a Ray call, an HTTP body or a DuckDB row is
one of these, validated on the way in. Nothing here imports Ray or does I/O.
"""

from __future__ import annotations

import time
import uuid
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# ---------------------------------------------------------------------------- catalog


class Tier(StrEnum):
    EDGE = "edge"
    PRIMARY = "primary"
    FLAGSHIP = "flagship"

    @property
    def rank(self) -> int:
        return _TIER_RANK[self]


_TIER_RANK = {Tier.EDGE: 0, Tier.PRIMARY: 1, Tier.FLAGSHIP: 2}
TIERS_IN_ORDER = (Tier.EDGE, Tier.PRIMARY, Tier.FLAGSHIP)


class Capabilities(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    streaming: bool = True
    tools: bool = False
    json_mode: bool = False


class ModelSpec(BaseModel):
    """One catalog entry. Prices are USD per 1M tokens as the provider publishes them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="Harpoon's id for the model, e.g. 'groq/llama-3.3-70b'.")
    provider: str = Field(description="Name of a configured provider, e.g. 'groq'.")
    provider_model: str = Field(description="The provider's own model id.")
    tier: Tier
    context_window: int = Field(gt=0)
    input_price_per_m: float = Field(ge=0)
    output_price_per_m: float = Field(ge=0)
    ttft_s: float = Field(ge=0, description="Typical time to first token, seconds.")
    tokens_per_s: float = Field(gt=0, description="Typical output speed.")
    quality: float = Field(ge=0, le=1, description="Relative quality score in [0, 1].")
    capabilities: Capabilities = Capabilities()
    prices_read: str = Field(description="Date the prices were read from the provider.")

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (
            input_tokens * self.input_price_per_m + output_tokens * self.output_price_per_m
        ) / 1_000_000

    def expected_latency_s(self, output_tokens: int) -> float:
        return self.ttft_s + output_tokens / self.tokens_per_s


# ---------------------------------------------------------------------------- model calls

Purpose = Literal["chat", "plan", "work", "evaluate", "improve", "synthesize", "vote"]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str


class ModelRequest(BaseModel):
    """What a provider is asked. `purpose` is a hint only the simulated provider reads:
    real models get the same prompt and follow its instructions."""

    model_config = ConfigDict(extra="forbid")

    messages: list[Message] = Field(min_length=1)
    max_tokens: int = Field(default=512, gt=0, le=32_768)
    temperature: float = Field(default=0.7, ge=0, le=2)
    json_mode: bool = False
    purpose: Purpose = "chat"
    seed: int | None = None
    timeout_s: float | None = Field(default=None, gt=0)

    @property
    def prompt_text(self) -> str:
        return "\n".join(m.content for m in self.messages)

    @property
    def last_user_text(self) -> str:
        for m in reversed(self.messages):
            if m.role == "user":
                return m.content
        return self.messages[-1].content


class ProviderResponse(BaseModel):
    """A provider's raw answer: text and real token counts, before pricing."""

    text: str
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    ttft_s: float = Field(ge=0)
    latency_s: float = Field(ge=0)
    finish_reason: str = "stop"
    simulated: bool = False


class StreamChunk(BaseModel):
    """One piece of a stream. The last chunk has `done=True` and carries the usage."""

    delta: str = ""
    done: bool = False
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None
    simulated: bool = False


class Attempt(BaseModel):
    """One try at one model: how it ended, for the fallback record."""

    model: str
    ok: bool
    error_type: str | None = None
    message: str | None = None
    latency_s: float = 0.0
    retry: int = 0


class Completion(BaseModel):
    """A priced answer: what every completion Harpoon returns looks like."""

    id: str = Field(default_factory=lambda: "cmpl-" + uuid.uuid4().hex[:24])
    text: str
    model: str
    provider: str
    tier: Tier
    input_tokens: int
    output_tokens: int
    cost_usd: float
    flagship_model: str
    flagship_cost_usd: float
    saving_usd: float
    ttft_s: float
    latency_s: float
    finish_reason: str = "stop"
    simulated: bool = False
    attempts: list[Attempt] = []
    routing: RoutingDecision | None = None


# ---------------------------------------------------------------------------- routing


class ComplexityAnalysis(BaseModel):
    score: float = Field(ge=0, le=1)
    tier: Tier
    signals: dict[str, float]
    reason: str


class Constraints(BaseModel):
    """A covenant's limits. None means unconstrained."""

    model_config = ConfigDict(extra="forbid")

    max_cost_usd: float | None = Field(default=None, gt=0, description="Per request/covenant.")
    max_latency_s: float | None = Field(default=None, gt=0)
    min_quality: float | None = Field(default=None, ge=0, le=1)
    required_capabilities: list[Literal["streaming", "tools", "json_mode"]] = []


class RoutingDecision(BaseModel):
    model: str
    tier: Tier
    fallbacks: list[str]
    analysis: ComplexityAnalysis | None = Field(
        default=None,
        description="The prompt's complexity; None on a completion pinned to a model by id, "
        "whose choice did not depend on it (Router.decide always analyses).",
    )
    estimated_cost_usd: float
    estimated_latency_s: float
    reason: str


Completion.model_rebuild()

# ---------------------------------------------------------------------------- covenants


class Pattern(StrEnum):
    PARALLEL = "parallel"
    WORKERS = "workers"  # orchestrator-workers
    OPTIMIZE = "optimize"  # evaluator-optimizer
    SMART = "smart"  # router + fallback


class CovenantStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (CovenantStatus.COMPLETED, CovenantStatus.FAILED, CovenantStatus.CANCELLED)


class PlanStep(BaseModel):
    """One subtask of a plan: what a worker sub-agent is asked to do."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=200)
    instruction: str = Field(min_length=1)
    model: str | None = None


class Plan(BaseModel):
    steps: list[PlanStep] = []
    aggregation: Literal["synthesize", "vote", "none"] = "synthesize"
    max_rounds: int = Field(default=3, ge=1, le=10)
    quality_bar: float = Field(default=0.8, ge=0, le=1)
    width: int | None = Field(
        default=None, ge=1, le=100_000, description="Sub-agents to fan out (QueryRequest.agents)."
    )


class QueryRequest(BaseModel):
    """What a user submits to a Mediator."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=100_000)
    pattern: Pattern | None = None
    constraints: Constraints = Constraints()
    agents: int | None = Field(default=None, ge=1, le=100_000, description="Fan-out width.")

    @field_validator("query")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("query must not be blank")
        return v


class Covenant(BaseModel):
    id: str = Field(default_factory=lambda: "cov_" + uuid.uuid4().hex[:16])
    tenant_id: str = "local"
    user_id: str
    intent: str
    query: str
    constraints: Constraints = Constraints()
    pattern: Pattern
    pattern_reason: str
    models: list[str] = []
    plan: Plan = Plan()
    status: CovenantStatus = CovenantStatus.DRAFT
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    result: str | None = None
    error: str | None = None
    cost_usd: float = 0.0
    flagship_cost_usd: float = 0.0
    latency_s: float = 0.0
    simulated: bool = False
    notes: list[str] = []
    history: list[Message] = Field(
        default=[], description="Earlier turns of the conversation, fed into the prompts."
    )
    conversation: bool = Field(
        default=True,
        description="False: a one-off outside any conversation (a REST call naming no user): "
        "no earlier turns go into its prompts and its own are not recorded.",
    )


class AgentStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


class AgentAction(BaseModel):
    """One model call made by an agent."""

    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    ok: bool = True
    error: str | None = None
    fallbacks: list[Attempt] = []
    simulated: bool = False


class AgentExecution(BaseModel):
    agent_id: str
    covenant_id: str
    tenant_id: str = "local"
    parent_id: str | None = None
    role: str
    title: str = ""
    status: AgentStatus = AgentStatus.PENDING
    thoughts: list[str] = []
    actions: list[AgentAction] = []
    output: str | None = None
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    progress: float = 0.0


# ---------------------------------------------------------------------------- events


class EventType(StrEnum):
    COVENANT_CREATED = "covenant.created"
    COVENANT_UPDATED = "covenant.updated"
    PLAN = "plan"
    AGENT_SPAWNED = "agent.spawned"
    THOUGHT = "agent.thought"
    ACTION = "agent.action"
    TOKEN = "agent.token"
    PROGRESS = "agent.progress"
    OUTPUT = "agent.output"
    COMPLETED = "agent.completed"
    FAILED = "agent.failed"
    BUDGET = "covenant.budget"
    RESULT = "covenant.result"
    ERROR = "error"


class Event(BaseModel):
    """One entry of a covenant's log. `seq` is per covenant, gap-free, from 1."""

    seq: int = Field(ge=1)
    ts: float
    type: EventType
    covenant_id: str
    tenant_id: str = "local"
    agent_id: str | None = None
    payload: dict[str, Any] = {}
