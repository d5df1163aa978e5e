"""Parallel: independent sub-agents at once, then one aggregation.

The plan's steps are the sections of the task (or the same task, one step per model).
With a width larger than the plan, sub-agent *i* takes section *i mod n* as an
independent attempt, so 10,000 sub-agents over 4 sections is 2,500 takes of each.
"""

from __future__ import annotations

from ..errors import ConstraintUnsatisfiable
from ..schemas import Covenant, EventType, PlanStep
from . import prompts
from .aggregate import aggregate, synthesis_reserve
from .runtime import Runtime
from .slices import built
from .steps import Task, fan_out, plan_payload


def sections(cov: Covenant) -> list[PlanStep]:
    return cov.plan.steps or [PlanStep(id="answer", title="Answer", instruction=cov.query)]


async def tasks_for(cov: Covenant, steps: list[PlanStep], width: int) -> list[Task]:
    """`width` sub-agents round-robin over `steps`: linear in width, nothing more (built
    in slices: see `slices`)."""
    n = len(steps)

    def task(i: int) -> Task:
        step, take = steps[i % n], i // n
        on = f" on {step.model}" if step.model else ""
        return Task(
            name=f"w{i}",
            role="worker",
            title=step.title if take == 0 else f"{step.title} #{take + 1}",
            thought=f"Doing '{step.title}'{on}, independently of the others.",
            request=prompts.work(cov, step.title, step.instruction, take=take),
            model=step.model,
            section=step.title,
            # a step's takes differ only in the attempt number: route them once
            route_key=f"step{i % n}/{'again' if take else 'first'}",
        )

    return await built(width, task)


async def run_sections(rt: Runtime, steps: list[PlanStep], width: int) -> str:
    """Fan out over `steps`, keeping money back for the aggregation, then aggregate."""
    cov = rt.covenant
    tasks = await tasks_for(cov, steps, width)
    reserve = synthesis_reserve(rt, cov.plan.aggregation) if width > 1 else 0.0
    results = await fan_out(rt, tasks, step="sub-agents", reserve_usd=reserve)
    if not results:
        raise ConstraintUnsatisfiable(
            f"the budget allows none of the {width} sub-agents: "
            + (cov.notes[-1] if cov.notes else "no model fits"),
            param="constraints.max_cost_usd",
        )
    titled = [(t.section, r) for t, r in zip(tasks, results, strict=False)]
    return await aggregate(rt, titled, cov.plan.aggregation)


async def run(rt: Runtime) -> str:
    cov = rt.covenant
    steps = sections(cov)
    width = cov.plan.width or len(steps)
    await rt.emit(EventType.PLAN, None, plan_payload(cov, width))
    return await run_sections(rt, steps, width)
