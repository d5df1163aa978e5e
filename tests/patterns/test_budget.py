"""The in-run budget: spend and time so far, and go / downgrade / cut / stop decisions."""

from __future__ import annotations

import pytest

from harpoon_ray.patterns import Budget, LocalRuntime, draft_covenant
from harpoon_ray.patterns.budget import enforce
from harpoon_ray.schemas import Completion, Constraints, EventType, Message, ModelRequest, Tier

SIMPLE = "Summarise this paragraph"
HARD = (
    "Design a distributed consensus protocol proof with formal verification and explain "
    "the trade-offs of Raft versus Paxos in depth"
)


def ask(text: str) -> ModelRequest:
    return ModelRequest(messages=[Message(role="user", content=text)], max_tokens=400)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def spent(cost: float) -> Completion:
    return Completion(
        text="x", model="m", provider="p", tier=Tier.EDGE, input_tokens=10, output_tokens=20,
        cost_usd=cost, flagship_model="f", flagship_cost_usd=cost * 10, saving_usd=cost * 9,
        ttft_s=0.1, latency_s=0.2,
    )  # fmt: skip


def cheapest_cost(router, text: str) -> float:
    return min(router.decide(ask(text), None, t).estimated_cost_usd for t in Tier)


def test_recorded_spend_reduces_what_is_left(router):
    """Each finished call's real cost counts against max_cost_usd."""
    b = Budget(Constraints(max_cost_usd=0.01), router=router)
    b.record(spent(0.004))
    b.record(spent(0.001))
    assert b.spent_usd == pytest.approx(0.005)
    assert b.remaining_cost() == pytest.approx(0.005)
    assert b.summary()["saving_usd"] == pytest.approx(0.045)


def test_no_limits_means_nothing_remaining_to_count(router):
    """Without constraints the budget never limits anything."""
    b = Budget(Constraints(), router=router)
    assert b.remaining_cost() is None and b.remaining_time() is None
    d = b.check(ask(HARD), step="fan-out", count=10_000)
    assert (d.action, d.count) == ("go", 10_000)


def test_elapsed_time_comes_from_the_injected_clock(router):
    """remaining_time counts down from max_latency_s as the clock moves."""
    clock = Clock()
    b = Budget(Constraints(max_latency_s=6.0), clock=clock, router=router)
    clock.now += 2.5
    assert b.remaining_time() == pytest.approx(3.5)


def test_a_step_that_fits_goes_on_the_routed_model(router):
    """Within budget, the step runs on the model the router would pick anyway."""
    routed = router.decide(ask(HARD))
    b = Budget(Constraints(max_cost_usd=routed.estimated_cost_usd * 3), router=router)
    d = b.check(ask(HARD), step="answer", count=2)
    assert d.action == "go"
    assert d.model == routed.model


def test_a_step_too_dear_moves_to_a_cheaper_model(router):
    """A flagship-level step that the money left cannot pay for is downgraded."""
    routed = router.decide(ask(HARD))
    assert routed.tier == Tier.FLAGSHIP
    b = Budget(Constraints(max_cost_usd=routed.estimated_cost_usd / 2), router=router)
    d = b.check(ask(HARD), step="answer")
    assert d.action == "downgrade"
    assert d.model != routed.model
    assert d.estimated_cost_usd <= routed.estimated_cost_usd / 2
    assert "left" in d.reason


def test_a_fan_out_too_wide_is_cut_to_what_the_money_allows(router):
    """When even the cheapest model cannot pay for all calls, only some run."""
    cheapest = cheapest_cost(router, SIMPLE)
    b = Budget(Constraints(max_cost_usd=cheapest * 3.5), router=router)
    d = b.check(ask(SIMPLE), step="sub-agents", count=10)
    assert (d.action, d.count, d.requested_count) == ("cut", 3, 10)
    assert d.estimated_cost_usd <= cheapest * 3.5


def test_money_kept_in_reserve_is_not_spent_on_the_fan_out(router):
    """reserve_usd holds back money for a later step (the synthesis)."""
    cheapest = cheapest_cost(router, SIMPLE)
    b = Budget(Constraints(max_cost_usd=cheapest * 10.5), router=router)
    d = b.check(ask(SIMPLE), step="sub-agents", count=10, reserve_usd=cheapest * 5)
    assert d.count == 5


def test_nothing_affordable_stops(router):
    """Once the money is spent, the next step is stopped, not run."""
    b = Budget(Constraints(max_cost_usd=0.001), router=router)
    b.record(spent(0.001))
    d = b.check(ask(SIMPLE), step="round 3 drafts")
    assert (d.action, d.count, d.model) == ("stop", 0, None)
    assert not d.runs


def test_little_time_left_moves_to_a_faster_model_then_stops(router):
    """As the deadline nears, a slow model gives way to a fast one, then to nothing."""
    clock = Clock()
    slow = router.decide(ask(SIMPLE))
    b = Budget(
        Constraints(max_latency_s=slow.estimated_latency_s + 0.5), clock=clock, router=router
    )
    assert b.check(ask(SIMPLE), step="a").action == "go"
    clock.now += slow.estimated_latency_s - 0.3  # 0.8 s left
    d = b.check(ask(SIMPLE), step="b")
    assert d.action == "downgrade"
    assert d.estimated_latency_s <= 0.8
    clock.now += 0.75
    assert b.check(ask(SIMPLE), step="c").action == "stop"


async def test_enforce_reports_every_change_as_an_event_and_a_note(router, covenant_for):
    """A downgrade is visible: a covenant.budget event and a line in covenant.notes."""
    routed = router.decide(ask(HARD))
    cov = draft_covenant({"query": HARD}, user_id="u", router=router)
    cov.constraints = Constraints(max_cost_usd=routed.estimated_cost_usd / 2)
    rt = LocalRuntime(cov, router)
    d = await enforce(rt, ask(HARD), step="answer")
    assert d.action == "downgrade"
    [event] = rt.events
    assert event.type == EventType.BUDGET
    assert event.payload["action"] == "downgrade" and event.payload["model"] == d.model
    assert cov.notes[-1].startswith("budget: answer moved to")


async def test_enforce_says_nothing_when_the_step_fits(router):
    """A step within budget emits no budget event."""
    cov = draft_covenant({"query": SIMPLE}, user_id="u", router=router)
    rt = LocalRuntime(cov, router)
    assert (await enforce(rt, ask(SIMPLE), step="answer")).action == "go"
    assert rt.events == []
