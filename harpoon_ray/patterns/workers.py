"""Orchestrator-workers: a planner splits the task, workers do the parts, one synthesis.

The planner answers in JSON, validated as `PlanStep`s; an invalid answer is re-asked
with its validation error (twice), then the covenant fails with `MalformedOutput`. The
plan it returns is written into the covenant, so what was stored is what ran.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, model_validator

from ..errors import ConstraintUnsatisfiable
from ..schemas import EventType, PlanStep
from . import prompts
from .aggregate import synthesis_reserve
from .budget import estimate
from .parallel import run_sections
from .runtime import Runtime
from .steps import Task, ask_json, plan_payload

DEFAULT_STEPS = 4
MAX_STEPS = 8
PLANNER_RETRIES = 2


class PlannerReply(BaseModel):
    """The planner's JSON: `{"steps": [...]}`, or a bare list of steps."""

    steps: list[PlanStep] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _bare_list(cls, data: Any) -> Any:
        return {"steps": data} if isinstance(data, list) else data

    @model_validator(mode="after")
    def _unique_ids(self) -> PlannerReply:
        ids = [s.id for s in self.steps]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"step ids must be unique; repeated: {', '.join(dupes)}")
        return self


async def run(rt: Runtime) -> str:
    cov = rt.covenant
    wanted = min(cov.plan.width or DEFAULT_STEPS, MAX_STEPS)
    await rt.emit(
        EventType.PLAN, None, {**plan_payload(cov, cov.plan.width or 0), "planned": False}
    )
    planner = Task(
        name="planner",
        role="planner",
        title="Plan",
        thought=f"Splitting the task into at most {wanted} independent subtasks.",
        request=prompts.plan(cov, wanted),
    )
    # keep back enough for at least one worker and the synthesis
    reserve = estimate(rt, prompts.work(cov, "x", cov.query)) + synthesis_reserve(rt, "synthesize")
    reply = await ask_json(rt, planner, PlannerReply, retries=PLANNER_RETRIES, reserve_usd=reserve)
    if reply is None:
        raise ConstraintUnsatisfiable(
            "the budget does not cover the planner: " + cov.notes[-1],
            param="constraints.max_cost_usd",
        )
    steps = reply.steps
    if len(steps) > wanted:
        cov.notes.append(f"planner returned {len(steps)} steps; the first {wanted} are kept")
        steps = steps[:wanted]
    cov.plan = cov.plan.model_copy(update={"steps": steps})
    width = cov.plan.width or len(steps)
    await rt.emit(EventType.PLAN, None, {**plan_payload(cov, width), "planned": True})
    return await run_sections(rt, steps, width)
