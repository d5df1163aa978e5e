"""Orchestration patterns as plain asyncio over a `Runtime`.

`run_pattern(rt)` runs the covenant's pattern and ends its event stream with a budget
summary and the result (or an `error` event, and the typed error is raised). The same
code runs in-process (`LocalRuntime`) and inside the Orchestrator actor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..errors import HarpoonError, NotFound
from ..schemas import CovenantStatus, EventType, Pattern
from . import optimize, parallel, smart, workers
from .budget import Budget, BudgetDecision
from .local import LocalRuntime
from .mediation import draft_covenant
from .runtime import Runtime, SubAgentResult, SubAgentSpec

PATTERNS: dict[Pattern, Callable[[Runtime], Awaitable[str]]] = {
    Pattern.PARALLEL: parallel.run,
    Pattern.WORKERS: workers.run,
    Pattern.OPTIMIZE: optimize.run,
    Pattern.SMART: smart.run,
}

__all__ = [
    "PATTERNS",
    "Budget",
    "BudgetDecision",
    "LocalRuntime",
    "Runtime",
    "SubAgentResult",
    "SubAgentSpec",
    "draft_covenant",
    "run_pattern",
]


async def run_pattern(rt: Runtime) -> str:
    """Run `rt.covenant`'s pattern; the covenant gets the result, totals and status.

    The last event is `covenant.result` on success, `error` on failure (then the error
    is raised for the caller to record).
    """
    cov = rt.covenant
    run = PATTERNS.get(cov.pattern)
    if run is None:
        raise NotFound(
            f"unknown pattern {cov.pattern!r}; choose one of "
            + ", ".join(p.value for p in PATTERNS),
            param="pattern",
        )
    cov.status = CovenantStatus.ACTIVE
    try:
        text = await run(rt)
    except HarpoonError as exc:
        _totals(rt)
        cov.status, cov.error = CovenantStatus.FAILED, exc.message
        await rt.emit(EventType.BUDGET, None, {"action": "summary", **rt.budget.summary()})
        await rt.emit(EventType.ERROR, None, {**exc.to_dict(), "notes": list(cov.notes)})
        raise
    _totals(rt)
    cov.status, cov.result = CovenantStatus.COMPLETED, text
    await rt.emit(EventType.BUDGET, None, {"action": "summary", **rt.budget.summary()})
    await rt.emit(
        EventType.RESULT,
        None,
        {
            "text": text,
            "cost_usd": cov.cost_usd,
            "flagship_cost_usd": cov.flagship_cost_usd,
            "saving_usd": max(0.0, cov.flagship_cost_usd - cov.cost_usd),
            "latency_s": cov.latency_s,
            "simulated": cov.simulated,
            "notes": list(cov.notes),
        },
    )
    return text


def _totals(rt: Runtime) -> None:
    cov, budget = rt.covenant, rt.budget
    cov.cost_usd = budget.spent_usd
    cov.flagship_cost_usd = budget.flagship_usd
    cov.latency_s = budget.elapsed()
    cov.simulated = budget.simulated
