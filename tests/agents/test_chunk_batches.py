"""A chunk's batches: every agent's events are reported, and its end is noticed."""

from __future__ import annotations

import asyncio

from harpoon_ray.agents.chunk import Chunk, _closed_cut
from harpoon_ray.agents.routing import build_router
from harpoon_ray.agents.sharding import AgentConfig
from harpoon_ray.patterns.runtime import SubAgentSpec
from harpoon_ray.schemas import Constraints, EventType, Message, ModelRequest
from harpoon_ray.settings import Settings


def _chunk(tmp_path) -> Chunk:
    settings = Settings(data_dir=tmp_path, force_simulated=True, simulated_speed=0.01)
    config = AgentConfig(settings=settings)
    return Chunk(config, "local", Constraints(), router=build_router(config))


def _spec(i: int) -> SubAgentSpec:
    request = ModelRequest(messages=[Message(role="user", content=f"Fact {i} about tides")])
    return SubAgentSpec(agent_id=f"c1:w{i}", covenant_id="c1", request=request)


async def test_batches_carry_every_agent_to_its_end(tmp_path):
    """Taken batch by batch until all have ended: each agent's events, each once, the
    last of them its `agent.completed`."""
    chunk = _chunk(tmp_path)
    tasks = chunk.start([_spec(i) for i in range(20)])
    events = []
    while True:
        batch = await asyncio.wait_for(chunk.next_batch(tasks, 1), 10)
        events += batch.events
        if all(t.done() for t in tasks) and not chunk.events and not chunk.results:
            break
    assert len({key for *_, key in events}) == len(events) == 20 * 5  # no thought given
    last = {aid: kind for aid, kind, *_ in events}
    assert last == {f"c1:w{i}": "agent.completed" for i in range(20)}
    await chunk.router.pool.aclose()


async def test_an_agent_ending_without_a_word_still_wakes_the_chunk(tmp_path):
    """The last agent ends without emitting anything (a bug, a cancel): the chunk's wait
    returns instead of waiting for an event that will never come."""
    chunk = _chunk(tmp_path)

    async def silent(spec: SubAgentSpec) -> None:
        await asyncio.sleep(0.05)

    chunk.run_agent = silent  # type: ignore[method-assign]
    tasks = chunk.start([_spec(0)])
    batch = await asyncio.wait_for(chunk.next_batch(tasks, 1), 5)
    assert batch.events == [] and all(t.done() for t in tasks)
    await chunk.router.pool.aclose()


def _row(aid: str, status: str) -> tuple:
    return ("local", "c1", aid, None, "worker", "", status, "[]", "[]", None, None, 0, 0, 0, 0, 0)


async def test_a_burst_is_cut_between_whole_agents(tmp_path):
    """Past the limit, a take ends where no agent has events left over; each agent's row
    and start go with its events, and the rest follows at the next take, in order."""
    chunk = _chunk(tmp_path)
    for aid in ("a", "b", "c"):
        chunk.started.append(aid)
        for kind in ("spawned", "thought", "progress"):
            chunk.emit(aid, EventType.THOUGHT, {}, kind)
        chunk.row(_row(aid, "running"))
    taken = []
    while chunk.events:
        batch = chunk.take(1, limit=5)
        taken.append(([e[0] for e in batch.events], [r[2] for r in batch.agents], batch.started))
    assert taken == [
        (["a"] * 3, ["a"], ["a"]),
        (["b"] * 3, ["b"], ["b"]),
        (["c"] * 3, ["c"], ["c"]),
    ]
    assert chunk.held is False
    await chunk.router.pool.aclose()


def test_a_cut_never_splits_an_agent():
    """Interleaved agents: the cut comes after the last event of every agent before it,
    and a first agent longer than the limit goes whole."""
    events = [(aid, "t", {}, f"{aid}/{i}") for i, aid in enumerate("abacddeff")]
    assert _closed_cut(events, 5) == 4  # a, b, a, c | d, d, e, f, f
    assert _closed_cut(events, 6) == 6  # a, b, a, c, d, d | e, f, f
    assert _closed_cut(events, 9) == 9
    assert _closed_cut([("a", "t", {}, str(i)) for i in range(8)], 3) == 8
