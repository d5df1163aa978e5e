"""Drafting a covenant: what the user wants, within which limits, done how.

`draft_covenant` is pure apart from the router's `analyse` and `decide` (no I/O, no
model call): the Mediator calls it before storing the covenant, and the CLI shows it
before running. Bad input raises `ValidationFailed` naming the field; constraints no
model can meet raise `ConstraintUnsatisfiable` from the router.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import ValidationError

from ..errors import ConstraintUnsatisfiable, NotFound, ValidationFailed
from ..schemas import (
    ComplexityAnalysis,
    Constraints,
    Covenant,
    Message,
    ModelRequest,
    Pattern,
    Plan,
    PlanStep,
    QueryRequest,
    RoutingDecision,
)
from .classify import Choice, choose, one_line, rounds
from .prompts import HISTORY_MESSAGES

DEFAULT_QUALITY_BAR = 0.8


class Analyst(Protocol):
    """The part of `routing.router.Router` drafting needs."""

    def analyse(self, text: str) -> ComplexityAnalysis: ...

    def decide(
        self,
        request: ModelRequest,
        constraints: Constraints | None = None,
        model: str | None = None,
    ) -> RoutingDecision: ...


def draft_covenant(
    query: QueryRequest | dict[str, Any],
    *,
    user_id: str,
    tenant_id: str = "local",
    router: Analyst,
    history: Sequence[Message | dict[str, Any]] = (),
) -> Covenant:
    """A draft covenant for `query`; `history` is the conversation so far (oldest first)."""
    q = _valid_query(query)
    for name, value in (("user_id", user_id), ("tenant_id", tenant_id)):
        if not isinstance(value, str) or not value.strip():
            raise ValidationFailed(f"`{name}` must be a non-empty string", param=name)
    turns = _valid_history(history)[-HISTORY_MESSAGES:]
    analysis = router.analyse(q.query)
    probe = ModelRequest(messages=[*turns, Message(role="user", content=q.query)])
    decision = router.decide(probe, q.constraints, None)
    if q.pattern is not None:
        choice = Choice(q.pattern, f"{q.pattern.value} was asked for")
        if q.pattern == Pattern.PARALLEL:
            auto = choose(q.query, analysis, q.constraints, q.agents)
            choice.sections, choice.ensemble = auto.sections, auto.ensemble
    else:
        choice = choose(q.query, analysis, q.constraints, q.agents)
    plan, models, notes = _plan(q, choice, router, probe, decision)
    intent = one_line(q.query)
    if turns:
        intent = f"{intent} (follow-up to {len(turns)} earlier messages)"
    return Covenant(
        tenant_id=tenant_id,
        user_id=user_id,
        intent=intent,
        query=q.query,
        constraints=q.constraints,
        pattern=choice.pattern,
        pattern_reason=choice.reason,
        models=models,
        plan=plan,
        notes=notes,
        history=turns,
    )


def _plan(
    q: QueryRequest,
    choice: Choice,
    router: Analyst,
    probe: ModelRequest,
    decision: RoutingDecision,
) -> tuple[Plan, list[str], list[str]]:
    routed = list(dict.fromkeys([decision.model, *decision.fallbacks]))
    bar = q.constraints.min_quality if q.constraints.min_quality is not None else None
    if choice.pattern == Pattern.PARALLEL and choice.ensemble:
        models = _ensemble(router, probe, q.constraints, choice.ensemble) or [decision.model]
        steps = [
            PlanStep(id=f"m{i}", title=f"Answer by {m}", instruction=q.query, model=m)
            for i, m in enumerate(models)
        ]
        return Plan(steps=steps, aggregation="vote", width=q.agents), models, []
    if choice.pattern == Pattern.PARALLEL:
        sections = choice.sections or [("Answer", q.query)]
        steps = [
            PlanStep(id=f"s{i}", title=title, instruction=instruction)
            for i, (title, instruction) in enumerate(sections, 1)
        ]
        return Plan(steps=steps, aggregation="synthesize", width=q.agents), routed, []
    if choice.pattern == Pattern.WORKERS:
        note = "plan: the subtasks are drafted by the planner when the covenant runs"
        return Plan(width=q.agents), routed, [note]
    if choice.pattern == Pattern.OPTIMIZE:
        plan = Plan(
            max_rounds=rounds(q.query),
            quality_bar=bar if bar is not None else DEFAULT_QUALITY_BAR,
            width=q.agents,
        )
        return plan, routed, []
    step = PlanStep(id="answer", title="Answer", instruction=q.query)
    return Plan(steps=[step], aggregation="none", width=q.agents), routed, []


def _ensemble(router: Analyst, probe: ModelRequest, constraints: Constraints, n: int) -> list[str]:
    """Up to `n` distinct models: each tier's pick first (best tier first), then fallbacks."""
    picks: list[RoutingDecision] = []
    for tier in ("flagship", "primary", "edge"):
        try:
            picks.append(router.decide(probe, constraints, tier))
        except (ConstraintUnsatisfiable, NotFound):
            continue  # no model of this tier meets the constraints
    ordered = [d.model for d in picks] + [m for d in picks for m in d.fallbacks]
    return list(dict.fromkeys(ordered))[:n]


def _valid_query(query: QueryRequest | dict[str, Any]) -> QueryRequest:
    if isinstance(query, QueryRequest):
        return query
    try:
        return QueryRequest.model_validate(query)
    except ValidationError as exc:
        raise _as_user_error(exc) from None


def _valid_history(history: Sequence[Message | dict[str, Any]]) -> list[Message]:
    out = []
    for i, m in enumerate(history):
        try:
            out.append(Message.model_validate(m))
        except ValidationError as exc:
            raise _as_user_error(exc, prefix=f"history.{i}") from None
    return out


def _as_user_error(exc: ValidationError, prefix: str = "") -> ValidationFailed:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in (prefix, *first["loc"]) if p != "") or "query"
    return ValidationFailed(f"`{where}`: {first['msg']}", param=where)
