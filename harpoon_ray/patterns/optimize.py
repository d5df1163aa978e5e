"""Evaluator-optimizer: draft, score, improve, until the score meets the bar.

Each round makes `width` drafts (one unless the query asked for more), scores each with
an evaluator (JSON score + critique, re-asked when invalid), and keeps the best; the next
round improves the best against its critique. It stops at `plan.quality_bar`, at
`plan.max_rounds`, when the budget says so, or when no evaluator reply is usable; the
best draft so far is the answer in every case.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from pydantic import BaseModel, Field

from ..errors import AllModelsFailed, ConstraintUnsatisfiable
from ..schemas import Covenant, EventType
from . import prompts
from .budget import estimate
from .runtime import Runtime, SubAgentResult
from .slices import built
from .steps import Task, ask_json_many, fan_out, plan_payload

EVALUATOR_RETRIES = 2


class Score(BaseModel):
    score: float = Field(ge=0, le=1)
    critique: str = ""


@dataclass
class Best:
    text: str
    score: float
    critique: str
    round: int


def _judge(cov: Covenant, rnd: int, done: list[SubAgentResult], i: int) -> Task:
    return Task(
        name=f"r{rnd}-eval{i}",
        role="evaluator",
        title=f"Evaluation {i + 1}, round {rnd}",
        thought=f"Scoring the draft against the task; the bar is {cov.plan.quality_bar:.2f}.",
        request=prompts.evaluate(cov, done[i].output, cov.plan.quality_bar, rnd=rnd),
    )


async def _drafts(rt: Runtime, rnd: int, width: int, best: Best | None) -> list[Task]:
    """One draft per round streams its tokens: it is the answer being written (the chat
    shows each round's draft; the best one is the result). Several at once do not."""
    cov = rt.covenant

    def first(i: int) -> Task:
        return Task(
            name=f"r{rnd}-draft{i}",
            role="generator",
            title=f"Draft {i + 1}, round {rnd}",
            thought="Writing a first draft of the whole answer.",
            request=prompts.work(cov, "Draft", cov.query, take=i),
            stream=width == 1,
        )

    if best is None:
        return await built(width, first)
    kept = best

    def better(i: int) -> Task:
        return Task(
            name=f"r{rnd}-draft{i}",
            role="optimizer",
            title=f"Draft {i + 1}, round {rnd}",
            thought=f"Improving the best draft (score {kept.score:.2f}) against its critique.",
            request=prompts.improve(cov, kept.text, kept.critique, take=i),
            stream=width == 1,
        )

    return await built(width, better)


async def run(rt: Runtime) -> str:
    cov = rt.covenant
    plan = cov.plan
    width = plan.width or 1
    await rt.emit(EventType.PLAN, None, plan_payload(cov, width))
    best: Best | None = None
    for rnd in range(1, plan.max_rounds + 1):
        drafts = await _drafts(rt, rnd, width, best)
        eval_cost = estimate(rt, prompts.evaluate(cov, "x" * 2400, plan.quality_bar))
        results = await fan_out(
            rt, drafts, step=f"round {rnd} drafts", reserve_usd=eval_cost * width
        )
        done = [r for r in results if r.ok and r.output]
        if not done:
            if results and best is None:
                raise AllModelsFailed(f"every draft of round {rnd} failed")
            break
        judges = await built(len(done), partial(_judge, cov, rnd, done))
        scores = await ask_json_many(
            rt, judges, Score, step=f"round {rnd} evaluation", retries=EVALUATOR_RETRIES
        )
        scored = [(s.value, r) for s, r in zip(scores, done, strict=True) if s.value is not None]
        if not scored:
            kinds = sorted({s.status for s in scores})
            cov.notes.append(
                f"round {rnd}: no usable evaluation ({', '.join(kinds)}); "
                "stopping with the best draft so far"
            )
            if best is None:
                best = Best(done[0].output, 0.0, "", rnd)
            break
        value, result = max(scored, key=lambda sr: sr[0].score)
        if best is None or value.score >= best.score:
            best = Best(result.output, value.score, value.critique, rnd)
        met = best.score >= plan.quality_bar
        await rt.emit(
            EventType.PROGRESS,
            None,
            {
                "round": rnd,
                "score": value.score,
                "best": best.score,
                "bar": plan.quality_bar,
                "met": met,
                "progress": rnd / plan.max_rounds,
            },
        )
        if met:
            cov.notes.append(f"quality bar {plan.quality_bar:.2f} met in round {rnd}")
            break
    else:
        cov.notes.append(f"stopped after {plan.max_rounds} rounds below the bar")
    if best is None:
        raise ConstraintUnsatisfiable(
            "the budget allows not even one draft: " + (cov.notes[-1] if cov.notes else ""),
            param="constraints.max_cost_usd",
        )
    return best.text
