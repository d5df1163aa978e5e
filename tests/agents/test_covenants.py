"""Covenants through the client on Ray: storage agrees with the log, conversations, input
checks, budgets, cancellation and followers."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from harpoon_ray.errors import NotFound, ValidationFailed
from harpoon_ray.schemas import Constraints, CovenantStatus, Event, EventType, QueryRequest

pytestmark = pytest.mark.ray


async def test_stored_agents_agree_with_the_events(client):
    """Every stored agent row matches its events: one completion, same output, same cost."""
    q = QueryRequest(query="List five uses of graph databases.", pattern="parallel", agents=6)
    cov = await client.submit("ann", q)
    done = await client.wait(cov.id, timeout_s=60)
    assert done.status is CovenantStatus.COMPLETED, done.error
    detail = await client.get(cov.id)
    events = await client.events(cov.id, limit=100_000)
    completed = Counter(e.agent_id for e in events if e.type is EventType.COMPLETED)
    outputs = {e.agent_id: e.payload["text"] for e in events if e.type is EventType.OUTPUT}
    costs = Counter()
    for e in events:
        if e.type is EventType.ACTION:
            costs[e.agent_id] += e.payload["cost_usd"]
    rows = detail["agents"]
    assert len(rows) >= 6
    for row in rows:
        assert row["status"] == "completed"
        assert completed[row["agent_id"]] == 1
        assert row["output"] == outputs[row["agent_id"]]
        assert row["cost_usd"] == pytest.approx(costs[row["agent_id"]])
    assert detail["covenant"]["cost_usd"] == pytest.approx(sum(costs.values()))


async def test_a_follow_up_query_sees_the_earlier_turns(client):
    """The second covenant of a user carries the first query and its answer as history."""
    first = await client.submit("carol", "What is a B-tree?")
    answer = (await client.wait(first.id, timeout_s=60)).result
    second = await client.submit("carol", "And how does it differ from an LSM tree?")
    assert [m.content for m in second.history] == ["What is a B-tree?", answer]
    await client.wait(second.id, timeout_s=60)
    turns = await client.history("local", "carol")
    assert [t["role"] for t in turns] == ["user", "assistant", "user", "assistant"]
    assert await client.history("local", "someone-else") == []


@pytest.mark.parametrize(
    "query, param",
    [
        ({"query": "   "}, "query"),
        ({"query": "hi", "pattern": "telepathy"}, "pattern"),
        ({"query": "hi", "constraints": {"max_cost_usd": -1}}, "constraints.max_cost_usd"),
        ({"query": "hi", "agents": 0}, "agents"),
    ],
)
async def test_bad_input_gets_a_clear_error_and_writes_nothing(client, query, param):
    """A malformed query raises ValidationFailed naming the field, and no covenant is stored."""
    with pytest.raises(ValidationFailed) as info:
        await client.submit("dave", query)
    assert info.value.param == param
    assert await client.list_covenants("local", user_id="dave") == []
    assert await client.history("local", "dave") == []


async def test_unknown_covenants_are_not_found(client):
    """Reading a covenant id nobody issued raises NotFound, not a Ray error."""
    with pytest.raises(NotFound):
        await client.get("cov_does_not_exist")
    with pytest.raises(NotFound):
        await client.wait("cov_does_not_exist", 1)


async def test_a_budget_below_the_plan_ends_within_it_and_says_what_was_cut(client):
    """With max cost far below 40 sub-agents' need, spend stays under it and events say why."""
    q = QueryRequest(
        query="Write a detailed market analysis of electric bikes in twelve countries.",
        pattern="parallel",
        agents=40,
        constraints=Constraints(max_cost_usd=0.0002),
    )
    cov = await client.submit("erin", q)
    done = await client.wait(cov.id, timeout_s=60)
    assert done.status.terminal
    assert done.cost_usd <= 0.0002
    events = await client.events(cov.id, limit=100_000)
    budget = [e.payload for e in events if e.type is EventType.BUDGET]
    assert any(p.get("action") in ("cut", "downgrade", "stop") for p in budget)
    assert done.notes and any(n.startswith("budget:") for n in done.notes)
    spawned = [e for e in events if e.type is EventType.AGENT_SPAWNED]
    assert len(spawned) < 41


async def test_follow_streams_the_whole_log_and_ends(client):
    """A follower from seq 0 gets exactly the stored log, in order, and then stops."""
    cov = await client.submit("fay", QueryRequest(query="Explain CRDTs.", pattern="parallel"))
    seen = [e async for e in client.follow(cov.id)]
    stored = await client.events(cov.id, limit=100_000)
    assert [e.seq for e in seen] == [e.seq for e in stored]
    assert seen[-1].type is EventType.COVENANT_UPDATED
    assert seen[-1].payload["status"] == "completed"


async def test_follow_texts_relays_the_stored_log_as_json_in_pages(client):
    """The relay form of follow: pages of (seq, JSON text) whose texts are the stored
    events, from a resume point to the covenant's last word."""
    cov = await client.submit("ivy", QueryRequest(query="Explain gossip.", pattern="parallel"))
    pages = [p async for p in client.follow_texts(cov.id, after=2, limit=5)]
    stored = await client.events(cov.id, limit=100_000)
    assert all(1 <= len(p) <= 5 for p in pages)
    relayed = [Event.model_validate_json(text) for p in pages for _, text in p]
    assert [seq for p in pages for seq, _ in p] == [e.seq for e in relayed]
    assert relayed == [e for e in stored if e.seq > 2]
    assert relayed[-1].payload["status"] == "completed"


async def test_a_follower_resuming_after_a_seq_gets_only_the_rest(client):
    """Resuming with the last seq seen yields the remaining events, none twice."""
    cov = await client.submit("gus", QueryRequest(query="Explain vector clocks.", pattern="smart"))
    await client.wait(cov.id, timeout_s=60)
    everything = await client.events(cov.id, limit=100_000)
    half = everything[len(everything) // 2].seq
    rest = [e.seq async for e in client.follow(cov.id, after=half)]
    assert rest == [e.seq for e in everything if e.seq > half]


async def test_many_covenants_list_newest_first_across_shards(client):
    """Covenants of many users come back from every mediator shard, newest first."""
    users = [f"lister-{i}" for i in range(6)]
    made = [await client.submit(u, "Name a prime number.") for u in users]
    await asyncio.gather(*(client.wait(c.id, 60) for c in made))
    listed = await client.list_covenants("local", limit=500)
    ids = [c.id for c in listed]
    assert {c.id for c in made} <= set(ids)
    created = [c.created_at for c in listed]
    assert created == sorted(created, reverse=True)
    mine = await client.list_covenants("local", user_id="lister-3")
    assert [c.id for c in mine] == [made[3].id]
    assert mine[0].status is CovenantStatus.COMPLETED


async def test_status_reports_shards(client):
    """Status names every shard and counts live orchestrations."""
    st = await client.status()
    assert st["ok"] is True
    assert len(st["orchestrators"]) == 2 and len(st["mediators"]) == 2
    assert st["orchestrations"] >= 0 and st["running_agents"] >= 0


async def test_a_mediator_called_directly_also_refuses_bad_input(client):
    """Bad input sent straight to a mediator shard (not through the client) writes nothing."""
    from harpoon_ray.agents.client import _call

    mediator = client.shards.mediator_for("local", "hal")
    with pytest.raises(ValidationFailed):
        await _call(mediator.submit.remote("local", "hal", {"query": "ok", "agents": -3}, None))
    assert await client.list_covenants("local", user_id="hal") == []
