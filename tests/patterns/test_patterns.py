"""Each pattern end to end through LocalRuntime, the real Router and the simulated provider."""

from __future__ import annotations

import pytest

from harpoon_ray.errors import NotFound
from harpoon_ray.patterns import PATTERNS, LocalRuntime, run_pattern
from harpoon_ray.patterns.steps import DIGEST_ITEM_CHARS, DIGEST_ITEMS
from harpoon_ray.schemas import CovenantStatus, EventType, Pattern

from .helpers import assert_well_formed, of_type


async def run(cov, router, **kw) -> LocalRuntime:
    rt = LocalRuntime(cov, router, **kw)
    await rt.run()
    return rt


def spawned_roles(rt: LocalRuntime) -> list[str]:
    return [e.payload["role"] for e in of_type(rt.events, EventType.AGENT_SPAWNED)]


async def test_smart_answers_with_one_routed_call(router, covenant_for):
    """One call, its attempts recorded, the covenant completed with its cost."""
    cov = covenant_for(router, "What is the boiling point of water?")
    assert cov.pattern == Pattern.SMART
    rt = await run(cov, router)
    assert_well_formed(rt.events)
    assert spawned_roles(rt) == ["assistant"]
    [action] = of_type(rt.events, EventType.ACTION)
    assert action.payload["attempts"][-1]["ok"] is True
    assert cov.status == CovenantStatus.COMPLETED
    assert cov.result and cov.result == rt.events[-1].payload["text"]
    assert cov.cost_usd == pytest.approx(action.payload["cost_usd"])
    assert cov.simulated is True


async def test_parallel_runs_each_section_then_synthesizes(router, covenant_for):
    """Three compared items: three workers, then one synthesizer reading their outputs."""
    cov = covenant_for(router, "Compare Python, Go and Rust for command-line tools")
    rt = await run(cov, router)
    assert_well_formed(rt.events)
    assert spawned_roles(rt) == ["worker"] * 3 + ["synthesizer"]
    [plan] = of_type(rt.events, EventType.PLAN)
    assert plan.payload["width"] == 3
    synth = next(a for a in rt.agents.values() if a.role == "synthesizer")
    assert cov.result == synth.output
    assert cov.cost_usd == pytest.approx(sum(a.cost_usd for a in rt.agents.values()))


async def test_parallel_on_several_models_ends_with_a_vote(router, covenant_for):
    """The same task on three models; a judge picks one of their answers."""
    cov = covenant_for(router, "Ask three models: what causes the seasons?")
    rt = await run(cov, router)
    assert_well_formed(rt.events)
    workers = [a for a in rt.agents.values() if a.role == "worker"]
    assert sorted(w.model for w in workers) == sorted(s.model for s in cov.plan.steps)
    assert "judge" in spawned_roles(rt)
    assert cov.result in {w.output for w in workers}


async def test_workers_plans_then_runs_the_planned_steps(router, covenant_for):
    """The planner's steps are written into the covenant and each gets a worker."""
    cov = covenant_for(
        router,
        "Design a rollout strategy for a new payments API, with a migration plan for "
        "existing clients and a monitoring plan",
        pattern=Pattern.WORKERS,
    )
    rt = await run(cov, router)
    assert_well_formed(rt.events)
    roles = spawned_roles(rt)
    assert roles[0] == "planner" and roles[-1] == "synthesizer"
    assert roles.count("worker") == len(cov.plan.steps) >= 1
    plans = of_type(rt.events, EventType.PLAN)
    assert [p.payload["planned"] for p in plans] == [False, True]
    assert [s["id"] for s in plans[-1].payload["steps"]] == [s.id for s in cov.plan.steps]


async def test_optimize_improves_until_the_bar(router, covenant_for):
    """Draft, evaluate, improve: the simulated evaluator's scores rise until the bar."""
    cov = covenant_for(router, "Write a haiku about autumn rain and polish it")
    assert cov.pattern == Pattern.OPTIMIZE
    rt = await run(cov, router)
    assert_well_formed(rt.events)
    rounds = [e.payload for e in of_type(rt.events, EventType.PROGRESS) if "round" in e.payload]
    assert rounds[-1]["met"] is True
    assert rounds[-1]["best"] >= cov.plan.quality_bar
    assert all(not r["met"] for r in rounds[:-1])
    assert {"generator", "evaluator"} <= set(spawned_roles(rt))


async def test_a_follow_up_puts_the_earlier_turns_into_the_prompt(scripted, covenant_for):
    """The history drafted into the covenant reaches the model."""
    from harpoon_ray.patterns import draft_covenant
    from harpoon_ray.schemas import Message

    router, provider = scripted()
    history = [Message(role="user", content="My cat is called Miso.")]
    cov = draft_covenant({"query": "What is my cat called?"}, user_id="u", router=router,
                         history=history)  # fmt: skip
    await run(cov, router)
    [request] = provider.calls
    assert "My cat is called Miso." in [m.content for m in request.messages]


async def test_ten_thousand_sub_agents_share_one_bounded_synthesis(scripted, covenant_for):
    """A width of 10,000 runs 10,000 workers; the synthesizer reads a bounded digest."""
    router, provider = scripted(work=["Walking lifts the mood."])  # every request kept
    cov = covenant_for(router, "Name one benefit of walking", agents=10_000)
    rt = await run(cov, router)
    assert_well_formed(rt.events)
    roles = spawned_roles(rt)
    assert roles.count("worker") == 10_000 and roles[-1] == "synthesizer"
    assert rt.model_calls == 10_001
    [synth] = [r for r in provider.calls if r.purpose == "synthesize"]
    assert "10000 sub-agents ran: 10000 succeeded" in synth.prompt_text
    assert len(synth.prompt_text) < DIGEST_ITEMS * (DIGEST_ITEM_CHARS + 50) + 2_000


async def test_run_pattern_dispatches_on_the_covenant_pattern(router, covenant_for):
    """Every Pattern has a runner, and an unknown one is a NotFound naming `pattern`."""
    assert set(PATTERNS) == set(Pattern)
    cov = covenant_for(router, "hello")
    rt = LocalRuntime(cov.model_copy(update={"pattern": "telepathy"}), router)
    with pytest.raises(NotFound) as info:
        await run_pattern(rt)
    assert info.value.param == "pattern"
    assert rt.events == []
