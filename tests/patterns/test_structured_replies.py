"""Planner, evaluator and judge replies: validated, re-asked when malformed, then handled."""

from __future__ import annotations

import itertools
import json

import pytest

from harpoon_ray.errors import MalformedOutput
from harpoon_ray.patterns import LocalRuntime
from harpoon_ray.schemas import CovenantStatus, EventType, Pattern

from .helpers import assert_well_formed, of_type

GOOD_PLAN = json.dumps(
    {
        "steps": [
            {"id": "a", "title": "Risks", "instruction": "List the rollout risks."},
            {"id": "b", "title": "Metrics", "instruction": "Pick the metrics to watch."},
        ]
    }
)
TASK = "Plan the rollout of a feature flag system across three teams"


def score(value: float, critique: str = "tighten it") -> str:
    return json.dumps({"score": value, "critique": critique})


async def test_a_malformed_plan_is_re_asked_with_the_error(scripted, covenant_for):
    """Not JSON, then a step missing its instruction, then a valid plan: it runs."""
    bad_shape = json.dumps({"steps": [{"id": "a", "title": "Risks"}]})
    router, provider = scripted(plan=["Sure! Here is my plan: step one...", bad_shape, GOOD_PLAN])
    cov = covenant_for(router, TASK, pattern=Pattern.WORKERS)
    rt = LocalRuntime(cov, router)
    await rt.run()
    assert_well_formed(rt.events)
    plan_calls = [r for r in provider.calls if r.purpose == "plan"]
    assert len(plan_calls) == 3
    assert "not JSON" in plan_calls[1].messages[-1].content
    assert "steps.0.instruction" in plan_calls[2].messages[-1].content
    assert [s.id for s in cov.plan.steps] == ["a", "b"]
    rejected = [e for e in of_type(rt.events, EventType.THOUGHT) if e.payload.get("invalid")]
    assert len(rejected) == 2
    assert cov.status == CovenantStatus.COMPLETED


async def test_a_plan_that_never_validates_fails_the_covenant_clearly(scripted, covenant_for):
    """Three malformed plans: MalformedOutput, an error event last, no worker spawned."""
    router, _ = scripted(plan=["[]"])
    cov = covenant_for(router, TASK, pattern=Pattern.WORKERS)
    rt = LocalRuntime(cov, router)
    with pytest.raises(MalformedOutput) as info:
        await rt.run()
    assert "3 tries" in info.value.message
    assert_well_formed(rt.events, last=EventType.ERROR)
    assert rt.events[-1].payload["type"] == "malformed_output"
    roles = {e.payload["role"] for e in of_type(rt.events, EventType.AGENT_SPAWNED)}
    assert roles == {"planner"}
    assert cov.status == CovenantStatus.FAILED


async def test_duplicate_step_ids_are_sent_back(scripted, covenant_for):
    """A plan repeating a step id is invalid and re-asked, naming the repeated id."""
    dupes = json.dumps({"steps": [{"id": "a", "title": "x", "instruction": "y"}] * 2})
    router, provider = scripted(plan=[dupes, GOOD_PLAN])
    cov = covenant_for(router, TASK, pattern=Pattern.WORKERS)
    await LocalRuntime(cov, router).run()
    retry = [r for r in provider.calls if r.purpose == "plan"][1]
    assert "repeated: a" in retry.messages[-1].content


async def test_a_plan_in_a_code_fence_or_as_a_bare_list_is_accepted(scripted, covenant_for):
    """Common harmless wrappers around the JSON do not cost a re-ask."""
    fenced = "```json\n" + json.dumps(json.loads(GOOD_PLAN)["steps"]) + "\n```"
    router, provider = scripted(plan=[fenced])
    cov = covenant_for(router, TASK, pattern=Pattern.WORKERS)
    await LocalRuntime(cov, router).run()
    assert [r.purpose for r in provider.calls].count("plan") == 1
    assert len(cov.plan.steps) == 2


async def test_optimize_stops_as_soon_as_the_bar_is_met(scripted, covenant_for):
    """Scores 0.5 then 0.9 against a bar of 0.8: two rounds, not the maximum of five."""
    router, provider = scripted(evaluate=[score(0.5), score(0.9, "good")])
    cov = covenant_for(router, "Write a slogan for a bakery and polish it over 5 rounds")
    rt = LocalRuntime(cov, router)
    await rt.run()
    assert_well_formed(rt.events)
    assert cov.plan.max_rounds == 5
    purposes = [r.purpose for r in provider.calls]
    assert purposes == ["work", "evaluate", "improve", "evaluate"]
    improve = next(r for r in provider.calls if r.purpose == "improve")
    assert "tighten it" in improve.prompt_text
    assert any("met in round 2" in n for n in cov.notes)


async def test_optimize_stops_at_max_rounds_with_the_best_draft(scripted, covenant_for):
    """Never reaching the bar, it stops after max_rounds and keeps the best-scored draft."""
    drafts = iter(["draft one", "draft two", "draft three"])
    router, _ = scripted(
        work=[lambda r: next(drafts)],
        improve=[lambda r: next(drafts)],
        evaluate=[score(0.3), score(0.6), score(0.4)],
    )
    cov = covenant_for(router, "Write a limerick and refine it in 3 rounds")
    rt = LocalRuntime(cov, router)
    await rt.run()
    assert cov.result == "draft two"
    assert any("after 3 rounds" in n for n in cov.notes)
    rounds = [
        e.payload["round"] for e in of_type(rt.events, EventType.PROGRESS) if "round" in e.payload
    ]
    assert rounds == [1, 2, 3]


async def test_a_malformed_score_is_re_asked(scripted, covenant_for):
    """A score out of range is sent back; the valid second reply is used."""
    router, provider = scripted(evaluate=[score(7.5), score(0.95)])
    cov = covenant_for(router, "Write a toast for a wedding and polish it")
    rt = LocalRuntime(cov, router)
    await rt.run()
    evals = [r for r in provider.calls if r.purpose == "evaluate"]
    assert len(evals) == 2
    assert "score" in evals[1].messages[-1].content
    assert cov.status == CovenantStatus.COMPLETED


async def test_an_evaluator_that_never_answers_properly_keeps_the_draft(scripted, covenant_for):
    """Unusable scores end the loop with the draft so far, and a note says why."""
    router, _ = scripted(work=["the only draft"], evaluate=["no idea"])
    cov = covenant_for(router, "Write a motto and polish it")
    rt = LocalRuntime(cov, router)
    await rt.run()
    assert_well_formed(rt.events)
    assert cov.result == "the only draft"
    assert any("no usable evaluation" in n for n in cov.notes)


async def test_a_judge_answering_in_words_is_understood(scripted, covenant_for):
    """ "I vote for option 2" picks the second candidate without a re-ask."""
    n = itertools.count(1)
    router, provider = scripted(
        work=[lambda r: f"answer {next(n)}"],
        vote=["After reading them all, I vote for option 2."],
    )
    cov = covenant_for(router, "Ask three models: is a tomato a fruit?")
    rt = LocalRuntime(cov, router)
    await rt.run()
    assert [r.purpose for r in provider.calls].count("vote") == 1
    vote = next(r for r in provider.calls if r.purpose == "vote")
    second = vote.prompt_text.split("Option 2: ")[1].split("\n")[0]
    assert cov.result == second
