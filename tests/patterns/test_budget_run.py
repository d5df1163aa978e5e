"""The covenant holds during the run: too little money ends within it, saying what was cut."""

from __future__ import annotations

import pytest

from harpoon_ray.errors import ConstraintUnsatisfiable
from harpoon_ray.patterns import LocalRuntime
from harpoon_ray.patterns import prompts as P
from harpoon_ray.schemas import Constraints, CovenantStatus, EventType, Tier

from .helpers import assert_well_formed, of_type


def cheapest_worker_cost(router, cov) -> float:
    req = P.work(cov, "Answer", cov.query)
    return min(router.decide(req, None, t).estimated_cost_usd for t in Tier)


def budget_events(rt: LocalRuntime) -> list[dict]:
    return [
        e.payload for e in of_type(rt.events, EventType.BUDGET) if e.payload["action"] != "summary"
    ]


async def test_a_fan_out_wider_than_the_money_is_cut_and_stays_within_budget(router, covenant_for):
    """50 sub-agents asked, money for about 12: fewer run, the synthesis still fits."""
    probe = covenant_for(router, "Give one tip for learning chess", agents=50)
    limit = cheapest_worker_cost(router, probe) * 12
    cov = covenant_for(
        router, "Give one tip for learning chess", agents=50,
        constraints=Constraints(max_cost_usd=limit),
    )  # fmt: skip
    rt = LocalRuntime(cov, router)
    await rt.run()
    assert_well_formed(rt.events)
    assert cov.status == CovenantStatus.COMPLETED
    assert cov.cost_usd <= limit
    [cut] = [b for b in budget_events(rt) if b["step"] == "sub-agents"]
    assert cut["action"] == "cut" and cut["requested_count"] == 50 and 1 <= cut["count"] < 50
    workers = [
        e for e in of_type(rt.events, EventType.AGENT_SPAWNED) if e.payload["role"] == "worker"
    ]
    assert len(workers) == cut["count"]
    assert any(f"cut to {cut['count']} of 50" in n for n in cov.notes)
    assert rt.events[-1].payload["notes"] == cov.notes


async def test_a_dear_model_is_swapped_for_a_cheaper_one_in_flight(router, covenant_for):
    """A flagship-level question with money for a primary model runs on a cheaper one."""
    query = (
        "Prove that the halting problem is undecidable and explain the diagonal argument "
        "step by step with a formal sketch"
    )
    cov = covenant_for(router, query, pattern="smart")
    routed = router.decide(P.answer(cov))
    assert routed.tier == Tier.FLAGSHIP
    cov.constraints = Constraints(max_cost_usd=routed.estimated_cost_usd / 3)
    rt = LocalRuntime(cov, router)
    await rt.run()
    [down] = budget_events(rt)
    assert down["action"] == "downgrade" and down["model"] != routed.model
    [action] = of_type(rt.events, EventType.ACTION)
    assert action.payload["model"] == down["model"]
    assert cov.cost_usd <= routed.estimated_cost_usd / 3


async def test_optimize_stops_improving_when_the_money_runs_out(scripted, covenant_for):
    """Money for a couple of rounds out of six: later rounds are stopped, the best draft kept."""
    drafts = iter(f"draft {i} " + "lorem " * 230 for i in range(1, 99))  # ~350 tokens each
    router, _ = scripted(
        work=[lambda r: next(drafts)],
        improve=[lambda r: next(drafts)],
        evaluate=['{"score": 0.2, "critique": "more"}', '{"score": 0.4, "critique": "more"}',
                  '{"score": 0.3, "critique": "more"}'],
    )  # fmt: skip
    cov = covenant_for(router, "Write a tagline and polish it over 6 rounds")
    one_round = sum(
        router.decide(r).estimated_cost_usd
        for r in (P.work(cov, "Draft", cov.query), P.evaluate(cov, "x" * 2400, 0.8))
    )
    cov.constraints = Constraints(max_cost_usd=one_round * 2.5)
    rt = LocalRuntime(cov, router)
    await rt.run()
    assert_well_formed(rt.events)
    assert cov.cost_usd <= one_round * 2.5
    rounds = [e.payload for e in of_type(rt.events, EventType.PROGRESS) if "round" in e.payload]
    assert 0 < len(rounds) < 6
    stopped = [b for b in budget_events(rt) if b["action"] == "stop"]
    assert stopped and stopped[0]["step"].startswith(f"round {len(rounds) + 1}")
    best_round = max(rounds, key=lambda r: r["score"])["round"]
    assert cov.result.startswith(f"draft {best_round} ")


async def test_no_money_for_even_one_step_is_a_clear_error(router, covenant_for):
    """When the budget allows nothing, the covenant fails with ConstraintUnsatisfiable."""
    cov = covenant_for(router, "Say hello")
    rt = LocalRuntime(cov, router)
    rt.budget.constraints = cov.constraints = Constraints(max_cost_usd=1e-12)
    with pytest.raises(ConstraintUnsatisfiable) as info:
        await rt.run()
    assert info.value.param == "constraints.max_cost_usd"
    assert_well_formed(rt.events, last=EventType.ERROR)
    assert budget_events(rt)[0]["action"] == "stop"
    assert cov.status == CovenantStatus.FAILED
