"""LocalRuntime: the in-process Runtime the CLI and tests use, and the agents layer mirrors."""

from __future__ import annotations

import asyncio

from harpoon_ray.errors import ProviderUnavailable
from harpoon_ray.patterns import LocalRuntime, run_pattern
from harpoon_ray.patterns.runtime import SubAgentSpec
from harpoon_ray.schemas import AgentStatus, Event, EventType, Message, ModelRequest

from .helpers import assert_well_formed, of_type


def spec(cov, i: int, text: str = "Say something short") -> SubAgentSpec:
    return SubAgentSpec(
        agent_id=f"{cov.id}:a{i}",
        covenant_id=cov.id,
        title=f"agent {i}",
        thought="testing",
        request=ModelRequest(messages=[Message(role="user", content=text)], max_tokens=50),
    )


async def test_every_event_reaches_an_async_listener_in_order(router, covenant_for):
    """on_event (sync or async) sees each event once, in seq order, as it is logged."""
    seen = []

    async def listen(event):
        await asyncio.sleep(0)
        seen.append(event.seq)

    cov = covenant_for(router, "Compare tea and coffee")
    rt = LocalRuntime(cov, router, on_event=listen)
    await rt.run()
    assert seen == [e.seq for e in rt.events] == list(range(1, len(rt.events) + 1))


async def test_sub_agents_report_in_the_documented_order(router, covenant_for):
    """Per agent: spawned, thought, progress, action, output, completed."""
    cov = covenant_for(router, "hello")
    rt = LocalRuntime(cov, router)
    [result] = await rt.run_subagents([spec(cov, 0)])
    kinds = [e.type for e in rt.events if e.agent_id == result.agent_id]
    assert kinds == [
        EventType.AGENT_SPAWNED, EventType.THOUGHT, EventType.PROGRESS,
        EventType.ACTION, EventType.OUTPUT, EventType.COMPLETED,
    ]  # fmt: skip
    agent = rt.agents[result.agent_id]
    assert agent.status == AgentStatus.COMPLETED and agent.output == result.output
    assert agent.cost_usd == result.completion.cost_usd == rt.budget.spent_usd
    assert [a.model for a in agent.actions] == [result.completion.model]


async def test_max_concurrency_bounds_the_sub_agents_in_flight(scripted, covenant_for):
    """With max_concurrency=3, never more than three model calls run at once."""
    in_flight, peak = 0, 0

    async def slow(_):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.005)
        in_flight -= 1
        return "done"

    router, _ = scripted()
    cov = covenant_for(router, "hello")
    rt = LocalRuntime(cov, router, max_concurrency=3)
    rt.router = _Awaiting(router, slow)
    results = await rt.run_subagents([spec(cov, i) for i in range(12)])
    assert all(r.ok for r in results)
    assert peak == 3


class _Awaiting:
    """A router whose calls first await `hook` (to observe concurrency)."""

    def __init__(self, router, hook) -> None:
        self.inner, self.hook = router, hook

    def decide(self, *a, **kw):
        return self.inner.decide(*a, **kw)

    async def complete(self, *a, **kw):
        await self.hook(None)
        return await self.inner.complete(*a, **kw)


async def test_results_come_back_in_the_order_of_the_specs(router, covenant_for):
    """run_subagents returns one result per spec, in order, whatever finishes first."""
    cov = covenant_for(router, "hello")
    rt = LocalRuntime(cov, router)
    specs = [spec(cov, i) for i in range(20)]
    results = await rt.run_subagents(specs)
    assert [r.agent_id for r in results] == [s.agent_id for s in specs]


async def test_a_failing_sub_agent_fails_alone(scripted, covenant_for):
    """A worker whose every model fails is agent.failed; the others still synthesize."""

    def flaky(request):
        if "Python" in request.prompt_text.split("Your part")[1]:
            raise ProviderUnavailable("down for this one")
        return "fine"

    router, provider = scripted(work=[flaky])
    cov = covenant_for(router, "Compare Python, Go and Rust")
    rt = LocalRuntime(cov, router)
    await rt.run()
    assert_well_formed(rt.events)
    failed = of_type(rt.events, EventType.FAILED)
    assert len(failed) == 1 and failed[0].payload["type"] == "all_models_failed"
    [action] = [e for e in of_type(rt.events, EventType.ACTION) if e.agent_id == failed[0].agent_id]
    assert action.payload["ok"] is False and len(action.payload["attempts"]) >= 2
    assert rt.agents[failed[0].agent_id].status == AgentStatus.FAILED
    [synth] = [r for r in provider.calls if r.purpose == "synthesize"]
    assert "3 sub-agents ran: 2 succeeded, 1 failed" in synth.prompt_text


async def test_completed_sub_agents_are_reused_not_rerun(router, covenant_for):
    """Running the same covenant again on its runtime (a resume) makes no new model call."""
    cov = covenant_for(router, "Plan a week of meals for a family of four on a budget",
                       pattern="workers")  # fmt: skip
    rt = LocalRuntime(cov, router)
    first = await run_pattern(rt)
    calls = rt.model_calls
    again = await run_pattern(rt)
    assert rt.model_calls == calls
    assert again == first


async def test_logged_events_are_valid_boundary_events(router, covenant_for):
    """Every event survives a JSON round trip through the shared Event schema."""
    cov = covenant_for(router, "Compare oak and pine for a bookshelf")
    rt = LocalRuntime(cov, router)
    await rt.run()
    for e in rt.events:
        assert Event.model_validate_json(e.model_dump_json()) == e
        assert (e.covenant_id, e.tenant_id) == (cov.id, "t1")
