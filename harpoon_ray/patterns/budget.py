"""The covenant holds during the run: spend and time so far, and what the next step may do.

A pattern asks `Budget.check` before each step (one call, or a fan-out of `count` equal
calls). The answer is *go* with the model the router would pick, *downgrade* to a cheaper
or faster model the router's selector finds under tightened constraints, *cut* the
fan-out to as many calls as the money left allows, or *stop*. `enforce` turns any answer
other than *go* into a `covenant.budget` event and a line in `covenant.notes`, so the
user sees what was changed and why.

Estimates come from the router's `decide` (catalog prices and speeds); actual spend comes
from `record(completion)` as each call finishes, whichever agent made it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel

from ..errors import ConstraintUnsatisfiable, NotFound
from ..schemas import (
    TIERS_IN_ORDER,
    Completion,
    Constraints,
    EventType,
    ModelRequest,
    RoutingDecision,
)

if TYPE_CHECKING:
    from .runtime import Runtime

Action = Literal["go", "downgrade", "cut", "stop"]


class Decider(Protocol):
    """The part of `routing.router.Router` a budget needs."""

    def decide(
        self,
        request: ModelRequest,
        constraints: Constraints | None = None,
        model: str | None = None,
    ) -> RoutingDecision: ...


class BudgetDecision(BaseModel):
    """What the next step may do. `count` is how many of its calls may run."""

    action: Action
    step: str
    model: str | None
    requested_model: str | None
    count: int
    requested_count: int
    estimated_cost_usd: float
    estimated_latency_s: float
    remaining_cost_usd: float | None
    remaining_time_s: float | None
    reason: str

    @property
    def runs(self) -> bool:
        return self.action != "stop" and self.count > 0


class Budget:
    """Spend and elapsed time of one covenant against its constraints.

    `clock` and `started_at` are injectable so an actor resuming a covenant can keep the
    original start (wall clock), and tests can move time by hand.
    """

    def __init__(
        self,
        constraints: Constraints,
        started_at: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        router: Decider,
    ) -> None:
        self.constraints = constraints
        self.clock = clock
        self.started_at = clock() if started_at is None else started_at
        self.router = router
        self.spent_usd = 0.0
        self.flagship_usd = 0.0
        self.calls = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.simulated = False

    # ------------------------------------------------------------------ accounting

    def record(self, completion: Completion) -> None:
        """Add one finished call's real cost and tokens."""
        self.spent_usd += completion.cost_usd
        self.flagship_usd += completion.flagship_cost_usd
        self.calls += 1
        self.input_tokens += completion.input_tokens
        self.output_tokens += completion.output_tokens
        self.simulated = self.simulated or completion.simulated

    def elapsed(self) -> float:
        return max(0.0, self.clock() - self.started_at)

    def remaining_cost(self) -> float | None:
        """USD left, or None when the covenant has no cost limit."""
        if self.constraints.max_cost_usd is None:
            return None
        return max(0.0, self.constraints.max_cost_usd - self.spent_usd)

    def remaining_time(self) -> float | None:
        """Seconds left, or None when the covenant has no latency limit."""
        if self.constraints.max_latency_s is None:
            return None
        return max(0.0, self.constraints.max_latency_s - self.elapsed())

    def summary(self) -> dict[str, Any]:
        return {
            "spent_usd": self.spent_usd,
            "flagship_usd": self.flagship_usd,
            "saving_usd": max(0.0, self.flagship_usd - self.spent_usd),
            "elapsed_s": self.elapsed(),
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "max_cost_usd": self.constraints.max_cost_usd,
            "max_latency_s": self.constraints.max_latency_s,
        }

    # ------------------------------------------------------------------ decisions

    def check(
        self,
        request: ModelRequest,
        *,
        step: str,
        model: str | None = None,
        count: int = 1,
        reserve_usd: float = 0.0,
    ) -> BudgetDecision:
        """May `count` calls like `request` run now, on which model?

        `reserve_usd` is kept back for a later step (a synthesizer after a fan-out).
        """
        cost_left = _left(self.remaining_cost(), reserve_usd)
        time_left = self.remaining_time()
        # what the step would get with no money or time limit: any change from it is ours
        unlimited = self.constraints.model_copy(
            update={"max_cost_usd": None, "max_latency_s": None}
        )
        first = self._try(request, unlimited, model)
        if first is not None and _fits(first, count, cost_left, time_left):
            return self._decision("go", step, first, model, count, count, "within budget")
        per_call = cost_left / count if cost_left is not None else None
        tight = self.constraints.model_copy(
            update={"max_cost_usd": _positive(per_call), "max_latency_s": _positive(time_left)}
        )
        start = first.tier if first is not None else None
        for tier in _tiers_from(start):
            found = self._try(request, tight, tier.value)
            if found is not None and _fits(found, count, cost_left, time_left):
                why = _why(first, count, cost_left, time_left)
                return self._decision("downgrade", step, found, model, count, count, why)
        cheapest = self._cheapest(request, time_left)
        if cheapest is not None and cost_left is not None:
            affordable = math.floor(cost_left / max(cheapest.estimated_cost_usd, 1e-12))
            if 1 <= affordable < count:
                why = f"only {affordable} of {count} calls fit in ${cost_left:.6f}"
                return self._decision("cut", step, cheapest, model, affordable, count, why)
        why = _why(first or cheapest, count, cost_left, time_left) or "no model fits"
        return self._decision("stop", step, cheapest or first, model, 0, count, why)

    def _try(
        self, request: ModelRequest, constraints: Constraints, model: str | None
    ) -> RoutingDecision | None:
        try:
            return self.router.decide(request, constraints, model)
        except (ConstraintUnsatisfiable, NotFound):
            return None

    def _cheapest(self, request: ModelRequest, time_left: float | None) -> RoutingDecision | None:
        """The cheapest model any tier offers that still meets quality and time."""
        loose = self.constraints.model_copy(
            update={"max_cost_usd": None, "max_latency_s": _positive(time_left)}
        )
        found = [self._try(request, loose, tier.value) for tier in TIERS_IN_ORDER]
        fitting = [d for d in found if d is not None]
        return min(fitting, key=lambda d: d.estimated_cost_usd, default=None)

    def _decision(
        self,
        action: Action,
        step: str,
        decision: RoutingDecision | None,
        requested_model: str | None,
        count: int,
        requested: int,
        reason: str,
    ) -> BudgetDecision:
        return BudgetDecision(
            action=action,
            step=step,
            model=decision.model if decision is not None and action != "stop" else None,
            requested_model=requested_model,
            count=count,
            requested_count=requested,
            estimated_cost_usd=(decision.estimated_cost_usd * count) if decision else 0.0,
            estimated_latency_s=decision.estimated_latency_s if decision else 0.0,
            remaining_cost_usd=self.remaining_cost(),
            remaining_time_s=self.remaining_time(),
            reason=reason,
        )


async def enforce(
    rt: Runtime,
    request: ModelRequest,
    *,
    step: str,
    model: str | None = None,
    count: int = 1,
    reserve_usd: float = 0.0,
) -> BudgetDecision:
    """`Budget.check`, and say so in an event and the covenant's notes unless it is *go*."""
    decision = rt.budget.check(
        request, step=step, model=model, count=count, reserve_usd=reserve_usd
    )
    if decision.action != "go":
        rt.covenant.notes.append(_note(decision))
        await rt.emit(EventType.BUDGET, None, decision.model_dump(mode="json"))
    return decision


def estimate(rt: Runtime, request: ModelRequest, model: str | None = None) -> float:
    """The cost of one call like `request` as the router would route it now (0 if none fits)."""
    try:
        return rt.budget.router.decide(request, rt.covenant.constraints, model).estimated_cost_usd
    except (ConstraintUnsatisfiable, NotFound):
        return 0.0


def _note(d: BudgetDecision) -> str:
    if d.action == "downgrade":
        return f"budget: {d.step} moved to {d.model} ({d.reason})"
    if d.action == "cut":
        return f"budget: {d.step} cut to {d.count} of {d.requested_count} calls ({d.reason})"
    return f"budget: {d.step} stopped, {d.requested_count} calls not run ({d.reason})"


def _fits(d: RoutingDecision, count: int, cost_left: float | None, time_left: float | None) -> bool:
    if cost_left is not None and d.estimated_cost_usd * count > cost_left:
        return False
    return time_left is None or d.estimated_latency_s <= time_left


def _why(
    d: RoutingDecision | None, count: int, cost_left: float | None, time_left: float | None
) -> str:
    if d is None:
        return "no model meets the constraints"
    parts = []
    if cost_left is not None and d.estimated_cost_usd * count > cost_left:
        parts.append(
            f"{count} x {d.model} needs ~${d.estimated_cost_usd * count:.6f}, ${cost_left:.6f} left"
        )
    if time_left is not None and d.estimated_latency_s > time_left:
        parts.append(f"{d.model} needs ~{d.estimated_latency_s:.2f}s, {time_left:.2f}s left")
    return "; ".join(parts)


def _tiers_from(start: Any) -> list[Any]:
    """The tier asked, then the ones below it, then the ones above (cheaper ones may live there)."""
    if start is None:
        return list(TIERS_IN_ORDER)
    below = [t for t in reversed(TIERS_IN_ORDER) if t.rank <= start.rank]
    above = [t for t in TIERS_IN_ORDER if t.rank > start.rank]
    return below + above


def _left(remaining: float | None, reserve: float) -> float | None:
    return None if remaining is None else max(0.0, remaining - reserve)


def _positive(x: float | None) -> float | None:
    """Constraints forbid 0: an exhausted budget becomes the smallest positive limit."""
    if x is None:
        return None
    return max(x, 1e-12)
