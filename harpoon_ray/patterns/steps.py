"""The building blocks every pattern is made of: one agent, a fan-out, a JSON answer.

Every model call, even the planner's or the synthesizer's, runs as a sub-agent through
`rt.run_subagents`, so it emits the same agent events, is checked against the budget
first, and is reused (not run again) when a resumed orchestration finds it in the log.
Agent ids are derived from the covenant id and the step, never random, for that reason.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import AllModelsFailed, MalformedOutput
from ..schemas import Covenant, EventType, ModelRequest
from . import prompts
from .budget import BudgetDecision, enforce, estimate
from .runtime import Runtime, SubAgentResult, SubAgentSpec
from .slices import built

T = TypeVar("T", bound=BaseModel)

DIGEST_ITEMS = 24
DIGEST_ITEM_CHARS = 800


@dataclass(frozen=True)
class Task:
    """One sub-agent to run: a name unique within the covenant, and what it is asked."""

    name: str
    role: str
    title: str
    thought: str
    request: ModelRequest
    model: str | None = None
    section: str = ""
    stream: bool = False  # the answer itself: its tokens go out as they come
    route_key: str | None = None  # takes of one step: routed once per chunk (SubAgentSpec)


def plan_payload(cov: Covenant, width: int) -> dict[str, Any]:
    """The `plan` event's payload: what will run, however wide."""
    return {
        "pattern": cov.pattern.value,
        "steps": [s.model_dump(mode="json") for s in cov.plan.steps],
        "width": width,
        "aggregation": cov.plan.aggregation,
        "max_rounds": cov.plan.max_rounds,
        "quality_bar": cov.plan.quality_bar,
    }


def agent_id(rt: Runtime, name: str) -> str:
    return f"{rt.covenant.id}:{name}"


def _spec(rt: Runtime, task: Task, model: str | None) -> SubAgentSpec:
    return SubAgentSpec(
        agent_id=agent_id(rt, task.name),
        covenant_id=rt.covenant.id,
        parent_id=agent_id(rt, "orchestrator"),
        role=task.role,
        title=task.title,
        thought=task.thought,
        request=task.request,
        model=model,
        stream=task.stream,
        route_key=task.route_key,
    )


async def run_one(rt: Runtime, task: Task, *, reserve_usd: float = 0.0) -> SubAgentResult | None:
    """Run one agent if the budget allows (possibly on a cheaper model); None if stopped."""
    decision = await enforce(
        rt, task.request, step=task.name, model=task.model, reserve_usd=reserve_usd
    )
    if not decision.runs:
        return None
    [result] = await rt.run_subagents([_spec(rt, task, _model_for(task, decision))])
    return result


async def fan_out(
    rt: Runtime, tasks: Sequence[Task], *, step: str, reserve_usd: float = 0.0
) -> list[SubAgentResult]:
    """Run `tasks` in parallel, as many as the budget allows, on the model it allows.

    The budget is checked once, on the longest request, for the whole fan-out: checking
    each of 10,000 sub-agents would cost more than the work it guards.
    """
    if not tasks:
        return []
    probe = max(tasks, key=lambda t: len(t.request.prompt_text))
    models = {t.model for t in tasks}
    asked = next(iter(models))
    if len(models) > 1:  # the same task on several models: budget for the dearest
        asked = max(models, key=lambda m: estimate(rt, probe.request, m))
    decision = await enforce(
        rt, probe.request, step=step, model=asked, count=len(tasks), reserve_usd=reserve_usd
    )
    if not decision.runs:
        return []
    chosen = tasks[: decision.count]
    specs = await built(
        len(chosen), lambda i: _spec(rt, chosen[i], _model_for(chosen[i], decision))
    )
    return await rt.run_subagents(specs)


def _model_for(task: Task, decision: BudgetDecision) -> str | None:
    """On *go*, what the task asked (None: the router routes it and keeps its fallbacks);
    otherwise the model the budget chose, pinned."""
    return task.model if decision.action == "go" else decision.model


def raise_for(result: SubAgentResult, what: str) -> None:
    """A step the pattern cannot do without failed: fail the covenant with a typed error."""
    if not result.ok:
        raise AllModelsFailed(
            f"the {what} failed: {result.error or 'no detail'}",
            attempts=[{"model": "?", "error_type": result.error_type, "message": result.error}],
        )


def parse_json(text: str, schema: type[T]) -> T:
    """A model's JSON reply, validated; tolerates code fences and text around the object.

    Raises ValueError with a message meant to be shown back to the model.
    """
    body = text.strip()
    from_text = getattr(schema, "from_text", None)  # a schema may read a plain-text reply
    if from_text is not None and not body.lstrip("`").lstrip().startswith(("{", "[", "json")):
        data = from_text(body)
        if data is not None:
            return _validated(data, schema)
    if body.startswith("```"):
        body = body.strip("`")
        body = body.split("\n", 1)[1] if "\n" in body else ""
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        start, end = body.find("{"), body.rfind("}")
        if start < 0 or end <= start:
            raise ValueError("the reply is not JSON") from None
        try:
            data = json.loads(body[start : end + 1])
        except json.JSONDecodeError as exc:
            raise ValueError(f"the reply is not valid JSON ({exc.msg})") from None
    return _validated(data, schema)


def _validated(data: Any, schema: type[T]) -> T:
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the object"
        raise ValueError(f"{where}: {first['msg']}") from None


@dataclass
class JsonAnswer(Generic[T]):
    """One structured answer: its value, or why there is none."""

    value: T | None = None
    status: Literal["ok", "invalid", "failed", "skipped"] = "skipped"
    error: str = ""
    model: str | None = None


async def ask_json_many(
    rt: Runtime,
    tasks: Sequence[Task],
    schema: type[T],
    *,
    step: str,
    retries: int = 2,
    reserve_usd: float = 0.0,
) -> list[JsonAnswer[T]]:
    """Ask each task for JSON matching `schema`, in one fan-out per round of asking.

    Invalid replies are re-asked together, each with its validation error, up to
    `retries` times; a task the budget did not let run stays `skipped`.
    """
    answers: list[JsonAnswer[T]] = [JsonAnswer() for _ in tasks]
    pending = list(enumerate(tasks))
    for attempt in range(retries + 1):
        if not pending:
            break
        label = step if attempt == 0 else f"{step} (re-asked)"
        results = await fan_out(rt, [t for _, t in pending], step=label, reserve_usd=reserve_usd)
        again: list[tuple[int, Task]] = []
        for (i, task), result in zip(pending, results, strict=False):
            model = result.completion.model if result.completion else task.model
            if not result.ok:
                answers[i] = JsonAnswer(status="failed", error=result.error or "", model=model)
                continue
            try:
                answers[i] = JsonAnswer(parse_json(result.output, schema), "ok", model=model)
                continue
            except ValueError as exc:
                error = str(exc)
                answers[i] = JsonAnswer(status="invalid", error=error, model=model)
            # the orchestrator's thought: the agent that replied has already completed
            await rt.emit(
                EventType.THOUGHT,
                None,
                {
                    "text": f"reply of {result.agent_id} rejected: {error}",
                    "about": result.agent_id,
                    "invalid": True,
                    "attempt": attempt + 1,
                },
            )
            again.append((i, _reasked(task, result.output, error, attempt + 1, model)))
        pending = again if attempt < retries else []
    return answers


def _reasked(task: Task, reply: str, error: str, n: int, model: str | None) -> Task:
    base = task.name.split("-retry")[0]
    return Task(
        name=f"{base}-retry{n}",
        role=task.role,
        title=task.title if task.title.endswith("(re-asked)") else f"{task.title} (re-asked)",
        thought=f"The previous reply was invalid ({error}); asking again with the error.",
        request=prompts.reask(task.request, reply, error),
        model=model,
        section=task.section,
    )


async def ask_json(
    rt: Runtime, task: Task, schema: type[T], *, retries: int = 2, reserve_usd: float = 0.0
) -> T | None:
    """One JSON answer the pattern cannot go on without; None when the budget stopped it.

    Raises AllModelsFailed when the call failed and MalformedOutput when every reply
    was invalid.
    """
    [answer] = await ask_json_many(
        rt, [task], schema, step=task.name, retries=retries, reserve_usd=reserve_usd
    )
    if answer.status == "failed":
        raise AllModelsFailed(
            f"the {task.title or task.name} failed: {answer.error}",
            attempts=[{"model": answer.model, "error_type": "failed", "message": answer.error}],
        )
    if answer.status == "invalid":
        raise MalformedOutput(
            f"the {task.title or task.name} gave no valid JSON after {retries + 1} tries "
            f"(last error: {answer.error}); see its agent.thought events for each reply",
            model=answer.model,
        )
    return answer.value


def digest(titled_outputs: Sequence[tuple[str, SubAgentResult]]) -> str:
    """A bounded summary of many results for one aggregating call.

    One output per distinct section first, then more, up to DIGEST_ITEMS, each clipped:
    the synthesizer's prompt stays the same size for 10 sub-agents or 10,000.
    """
    ok = [(t, r) for t, r in titled_outputs if r.ok and r.output]
    failed = len(titled_outputs) - len(ok)
    picked: list[tuple[str, SubAgentResult]] = []
    seen: set[str] = set()
    for title, r in ok:
        if len(picked) >= DIGEST_ITEMS:
            break
        if title not in seen:
            seen.add(title)
            picked.append((title, r))
    if len(picked) < DIGEST_ITEMS:
        chosen = {id(r) for _, r in picked}
        for title, r in ok:
            if len(picked) >= DIGEST_ITEMS:
                break
            if id(r) not in chosen:
                picked.append((title, r))
    lines = [
        f"{len(titled_outputs)} sub-agents ran: {len(ok)} succeeded, {failed} failed; "
        f"{len(picked)} of their outputs follow."
    ]
    for i, (title, r) in enumerate(picked, 1):
        lines.append(f"--- {i}. {title}\n{prompts.clip(r.output.strip(), DIGEST_ITEM_CHARS)}")
    return "\n".join(lines)
