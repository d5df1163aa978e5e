"""Reads that skip the store: batched point lookups and the logs of covenants just ended."""

from __future__ import annotations

import asyncio

from harpoon_ray.agents.eventlog import EventLog
from harpoon_ray.agents.lookups import BatchedLookup
from harpoon_ray.agents.store import WriteBatch, agent_row
from harpoon_ray.schemas import AgentExecution, AgentStatus, EventType

from .test_store import _covenant


async def test_concurrent_lookups_share_one_fetch():
    """Keys asked for in the same loop turn are fetched together, each caller gets its own."""
    fetched: list[list[str]] = []

    async def fetch(keys: list[str]) -> dict[str, str]:
        fetched.append(sorted(keys))
        return {k: k.upper() for k in keys if k != "missing"}

    lookup = BatchedLookup(fetch)
    got = await asyncio.gather(*(lookup.get(k) for k in ["a", "b", "a", "missing"]))
    assert got == ["A", "B", "A", None]
    assert fetched == [["a", "b", "missing"]]


async def test_a_failed_fetch_reaches_every_caller_of_its_batch():
    """A store error is raised to each caller waiting on that batch, not swallowed."""

    async def fetch(keys: list[str]) -> dict[str, str]:
        raise OSError("disk gone")

    lookup = BatchedLookup(fetch)
    results = await asyncio.gather(lookup.get("x"), lookup.get("y"), return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)


async def test_an_ended_covenants_log_is_read_from_memory(store):
    """After close, the whole log is still readable with the store closed: no file read."""
    log = EventLog(store, flush_interval_s=0.001)
    await log.open_covenant("c1", "local", fresh=True)
    for i in range(3):
        log.append("c1", EventType.THOUGHT, "w1", {"i": i})
    await log.close_covenant("c1")
    await store.close()
    events = await log.read("c1", after=1)
    assert [e.seq for e in events] == [2, 3]
    assert [e.payload["i"] for e in events] == [1, 2]


async def test_agent_rows_as_tuples_store_like_models(store):
    """A chunk's plain row and the model it stands for land as the same stored agent."""
    model = AgentExecution(
        agent_id="w1",
        covenant_id="c1",
        tenant_id="local",
        role="worker",
        title="T",
        status=AgentStatus.COMPLETED,
        thoughts=["why"],
        output="done",
        model="m",
        input_tokens=3,
        output_tokens=4,
        cost_usd=0.5,
        latency_s=1.0,
        progress=1.0,
    )
    as_row = agent_row(model.model_copy(update={"agent_id": "w2"}))
    await store.write(WriteBatch(agents=[model], agent_rows=[as_row]))
    stored = {a.agent_id: a for a in await store.agents("c1")}
    assert stored["w2"].model_copy(update={"agent_id": "w1"}) == stored["w1"]
    assert stored["w1"].thoughts == ["why"] and stored["w1"].status is AgentStatus.COMPLETED


async def test_covenants_by_id_finds_the_stored_ones_in_one_query(store):
    """One query answers for many ids; an id never stored is simply absent."""
    stored = [_covenant("ann"), _covenant("bob")]
    await store.write(WriteBatch(covenants=stored))
    found = await store.covenants_by_id([stored[0].id, "cov_never", stored[1].id])
    assert found == {c.id: c for c in stored}
