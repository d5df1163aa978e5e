"""Smart: one routed call. The router picks the model and falls back on failure; the
attempts it made are in the call's agent.action event."""

from __future__ import annotations

from ..errors import ConstraintUnsatisfiable
from ..schemas import EventType
from . import prompts
from .runtime import Runtime
from .steps import Task, plan_payload, raise_for, run_one


async def run(rt: Runtime) -> str:
    cov = rt.covenant
    await rt.emit(EventType.PLAN, None, plan_payload(cov, 1))
    if (cov.plan.width or 1) > 1:
        cov.notes.append(f"smart runs one call; the width of {cov.plan.width} does not apply")
    task = Task(
        name="answer",
        role="assistant",
        title="Answer",
        thought="One call to the model the router picks for this query; it falls back if "
        "that model fails.",
        request=prompts.answer(cov),
        stream=True,
    )
    result = await run_one(rt, task)
    if result is None:
        raise ConstraintUnsatisfiable(
            "the budget allows no call at all: " + cov.notes[-1],
            param="constraints.max_cost_usd",
        )
    raise_for(result, "answer")
    return result.output
