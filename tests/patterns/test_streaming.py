"""The answer's tokens stream as a few batched agent.token events, before it completes."""

from __future__ import annotations

from harpoon_ray.patterns import LocalRuntime
from harpoon_ray.patterns.streaming import TokenBatcher
from harpoon_ray.schemas import EventType

from .helpers import assert_well_formed, of_type


def tokens_of(rt: LocalRuntime, agent_id: str) -> list:
    return [e for e in of_type(rt.events, EventType.TOKEN) if e.agent_id == agent_id]


async def test_the_smart_answer_streams_before_it_completes_and_joins_to_its_output(
    router, covenant_for
):
    """Token events come before the agent's completion; their deltas make its output."""
    cov = covenant_for(router, "Write a short note on the history of the telescope")
    rt = LocalRuntime(cov, router)
    await rt.run()
    assert_well_formed(rt.events)
    [done] = of_type(rt.events, EventType.COMPLETED)
    [output] = of_type(rt.events, EventType.OUTPUT)
    tokens = tokens_of(rt, done.agent_id)
    assert tokens and all(t.seq < done.seq for t in tokens)
    assert "".join(t.payload["delta"] for t in tokens) == output.payload["text"] == cov.result
    assert [t.payload["at"] for t in tokens] == [
        sum(len(x.payload["delta"]) for x in tokens[:i]) for i in range(len(tokens))
    ]
    assert all(t.payload["final"] is True for t in tokens)
    assert len(tokens) < done.payload["output_tokens"]  # batched, not one per token


async def test_only_the_synthesis_streams_in_a_workers_covenant(router, covenant_for):
    """Workers and the planner reply whole; the synthesizer's reply is the one streamed."""
    cov = covenant_for(router, "Compare three databases for analytics workloads", pattern="workers")
    rt = LocalRuntime(cov, router)
    await rt.run()
    streamed = {e.agent_id for e in of_type(rt.events, EventType.TOKEN)}
    assert streamed == {f"{cov.id}:synthesizer"}


async def test_the_batcher_sends_the_first_delta_at_once_then_in_batches():
    """The first delta goes alone; then a batch per `max_deltas` or per interval, no loss."""
    now = [0.0]
    sent: list[tuple[str, int]] = []

    async def on_tokens(delta: str, at: int) -> None:
        sent.append((delta, at))

    b = TokenBatcher(on_tokens, max_deltas=3, interval_s=1.0, clock=lambda: now[0])
    for piece in ["a", "b", "c", "d", "e", "f"]:
        await b.add(piece)
    now[0] = 5.0
    await b.add("g")  # the interval has passed: goes at once
    await b.add("h")
    await b.flush()
    assert sent == [("a", 0), ("bcd", 1), ("efg", 4), ("h", 7)]
