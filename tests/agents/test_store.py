"""The shard store: migrations, whole-batch writes, typed reads."""

from __future__ import annotations

import math
import time

import duckdb
import pytest

from harpoon_ray.agents.migrations import MIGRATIONS, migrate
from harpoon_ray.agents.store import Store, WriteBatch
from harpoon_ray.agents.writes import by_covenant
from harpoon_ray.schemas import (
    AgentAction,
    AgentExecution,
    AgentStatus,
    Covenant,
    CovenantStatus,
    Event,
)


def _covenant(user: str = "ann", **kw) -> Covenant:
    return Covenant(
        user_id=user,
        intent="sum it up",
        query="sum it up",
        pattern="parallel",
        pattern_reason="test",
        **kw,
    )


def _event(cov: str, seq: int, tenant: str = "local") -> Event:
    return Event(
        seq=seq,
        ts=time.time(),
        type="agent.thought",
        covenant_id=cov,
        tenant_id=tenant,
        agent_id="w1",
        payload={"text": f"step {seq}"},
    )


async def test_migrations_are_recorded_and_run_once(tmp_path):
    """Opening a file applies every migration once; reopening applies none."""
    s = Store(tmp_path / "a.duckdb")
    assert await s.open() == [name for name, _ in MIGRATIONS]
    await s.close()
    s2 = Store(tmp_path / "a.duckdb")
    assert await s2.open() == []
    names = await s2.query("SELECT name FROM schema_migrations ORDER BY name")
    assert [n for (n,) in names] == [name for name, _ in MIGRATIONS]
    await s2.close()


def test_a_failing_migration_leaves_no_half_schema(tmp_path, monkeypatch):
    """A migration that fails is rolled back and not recorded, so it runs again later."""
    conn = duckdb.connect(str(tmp_path / "b.duckdb"))
    broken = [*MIGRATIONS, ("9999_broken", "CREATE TABLE x (a INT); SELECT * FROM nowhere")]
    monkeypatch.setattr("harpoon_ray.agents.migrations.MIGRATIONS", broken)
    with pytest.raises(duckdb.Error):
        migrate(conn)
    tables = {
        t for (t,) in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    assert "x" not in tables and "events" in tables
    recorded = {n for (n,) in conn.execute("SELECT name FROM schema_migrations").fetchall()}
    assert "9999_broken" not in recorded


async def test_covenant_round_trips_and_upserts(store):
    """A covenant reads back equal, and writing it again replaces the row."""
    cov = _covenant()
    await store.write(WriteBatch(covenants=[cov]))
    assert await store.covenant(cov.id) == cov
    done = cov.model_copy(update={"status": CovenantStatus.COMPLETED, "result": "42"})
    await store.write(WriteBatch(covenants=[done]))
    assert (await store.covenant(cov.id)).result == "42"
    assert await store.covenants(active_only=True) == []
    assert [c.id for c in await store.covenants("local", "ann")] == [cov.id]


async def test_agents_keep_their_thoughts_and_actions(store):
    """An agent row keeps its JSON columns and the last of two writes in one batch wins."""
    a = AgentExecution(
        agent_id="w1",
        covenant_id="c1",
        role="worker",
        title="part 1",
        thoughts=["read the text"],
        status=AgentStatus.RUNNING,
    )
    b = a.model_copy(
        update={
            "status": AgentStatus.COMPLETED,
            "output": "done",
            "actions": [AgentAction(model="m", input_tokens=3, output_tokens=5)],
        }
    )
    await store.write(WriteBatch(agents=[a, b]))
    (got,) = await store.agents("c1")
    assert got.status == AgentStatus.COMPLETED and got.output == "done"
    assert got.thoughts == ["read the text"] and got.actions[0].output_tokens == 5


async def test_rows_keep_every_value_through_the_json_parameter(store):
    """Quotes, non-ASCII text, nulls, nested payloads and exact floats come back as sent."""
    ts = 1795600000.123456789
    payload = {"text": 'a "quoted" \\ line\nand émoji 🐟', "n": [1, 2.5, None], "ok": True}
    event = Event(
        seq=1, ts=ts, type="agent.output", covenant_id="c1", tenant_id="t'1", payload=payload
    )
    agent = AgentExecution(
        agent_id="w'1", covenant_id="c1", role="worker", title='ünï "title"', output=None
    )
    await store.write(WriteBatch(events=[(event, None)], agents=[agent]))
    (got,) = await store.events("c1")
    assert got == event and got.agent_id is None
    (row,) = await store.agents("c1")
    assert (row.agent_id, row.title, row.output, row.model) == ("w'1", agent.title, None, None)
    metric = {"tenant_id": "local", "ts": ts, "name": "cost", "value": 0.5, "labels": {"k": "é"}}
    await store.write(WriteBatch(metrics=[metric]))
    rows = await store.query("SELECT ts, labels->>'k', covenant_id FROM metrics")
    assert rows == [(ts, "é", None)]


async def test_a_batch_commits_whole_or_not_at_all(store):
    """A batch whose events collide with stored ones leaves none of its rows behind."""
    await store.write(WriteBatch(events=[(_event("c1", 1), None)]))
    cov = _covenant()
    with pytest.raises(duckdb.ConstraintException):
        await store.write(
            WriteBatch(covenants=[cov], events=[(_event("c1", 2), None), (_event("c1", 1), None)])
        )
    assert await store.covenant(cov.id) is None
    assert [e.seq for e in await store.events("c1")] == [1]


async def test_events_read_after_a_seq_with_their_dedup_keys(store):
    """Events read back in seq order after a given seq; the log state lists their keys."""
    await store.write(WriteBatch(events=[(_event("c1", i), f"k{i}") for i in range(1, 6)]))
    assert [e.seq for e in await store.events("c1", after=2, limit=2)] == [3, 4]
    assert await store.event_state("c1") == (5, {f"k{i}" for i in range(1, 6)})
    assert await store.event_state("nope") == (0, set())


async def test_conversation_turns_are_idempotent_and_ordered(store):
    """A turn written twice is stored once; messages come back oldest first."""
    t = time.time()
    msgs = [
        {
            "tenant_id": "local",
            "user_id": "ann",
            "covenant_id": "c1",
            "role": "user",
            "content": "hi",
            "ts": t,
        },
        {
            "tenant_id": "local",
            "user_id": "ann",
            "covenant_id": "c1",
            "role": "assistant",
            "content": "hello",
            "ts": t + 1,
        },
    ]
    await store.write(WriteBatch(messages=msgs))
    await store.write(WriteBatch(messages=msgs[1:]))
    got = await store.messages("local", "ann")
    assert [m["content"] for m in got] == ["hi", "hello"]
    assert await store.messages("other", "ann") == []


async def test_a_covenant_flagged_new_but_stored_is_replaced(store):
    """A covenant staged as new that the file already holds (a replay) is replaced, not refused."""
    cov = _covenant()
    await store.write(WriteBatch(covenants=[cov], new_covenants={cov.id}))
    again = cov.model_copy(update={"status": CovenantStatus.COMPLETED, "result": "again"})
    await store.write(WriteBatch(covenants=[again], new_covenants={cov.id}))
    assert (await store.covenant(cov.id)).result == "again"
    assert len(await store.query("SELECT id FROM covenants")) == 1


async def test_an_update_of_a_covenant_the_file_lacks_inserts_it(store):
    """A covenant written as an update though the file lacks it (lost first write) lands."""
    cov = _covenant(status=CovenantStatus.ACTIVE)
    await store.write(WriteBatch(covenants=[cov]))
    assert await store.covenant(cov.id) == cov


async def test_agent_rows_insert_once_then_update_and_survive_a_replay(store):
    """A running row inserts, the completed row updates it, a replayed running row
    (a retried chunk) replaces it: one row per agent throughout."""
    a = AgentExecution(
        agent_id="w1", covenant_id="c1", role="worker", title="t", status=AgentStatus.RUNNING
    )
    done = a.model_copy(update={"status": AgentStatus.COMPLETED, "output": "ok"})
    await store.write(WriteBatch(agents=[a]))
    await store.write(WriteBatch(agents=[done]))
    assert [(g.status, g.output) for g in await store.agents("c1")] == [
        (AgentStatus.COMPLETED, "ok")
    ]
    await store.write(WriteBatch(agents=[a]))
    assert [g.status for g in await store.agents("c1")] == [AgentStatus.RUNNING]


async def test_an_agent_named_new_is_inserted_from_its_last_row_without_a_rewrite(store):
    """A chunk that started and finished an agent between two reports sends only its
    completed row and names the agent new: one cheap insert, no conflict-checked rewrite."""
    done = AgentExecution(
        agent_id="w1", covenant_id="c1", role="worker", title="t", status=AgentStatus.COMPLETED
    )
    await store.write(WriteBatch(agents=[done], new_agents={"w1"}))
    assert [g.status for g in await store.agents("c1")] == [AgentStatus.COMPLETED]
    assert store.careful_writes == 0
    await store.write(WriteBatch(agents=[done]))  # without the name: an update, still cheap
    assert store.careful_writes == 0


def test_a_batch_cut_by_covenant_keeps_every_row_once_and_in_order():
    """Each part holds one covenant's rows (metrics of none together), in their order."""
    a, b = _covenant(), _covenant("bob")
    batch = WriteBatch(
        covenants=[a, b],
        new_covenants={b.id},
        events=[(_event(a.id, 1), "k1"), (_event(b.id, 1), None), (_event(a.id, 2), None)],
        messages=[{"covenant_id": b.id, "role": "user"}],
        metrics=[{"covenant_id": None, "name": "x"}, {"covenant_id": a.id, "name": "y"}],
    )
    parts = {p.covenants[0].id if p.covenants else None: p for p in by_covenant(batch)}
    assert set(parts) == {a.id, b.id, None}
    assert [(e.covenant_id, e.seq) for e, _ in parts[a.id].events] == [(a.id, 1), (a.id, 2)]
    assert parts[b.id].new_covenants == {b.id} and not parts[a.id].new_covenants
    assert parts[b.id].messages == batch.messages and parts[None].metrics == batch.metrics[:1]
    assert sum(len(p.events) + len(p.metrics) for p in parts.values()) == 5


async def test_events_come_back_exactly_as_written(store):
    """Payloads of every JSON shape, text beyond ASCII, a missing agent and the stamp's
    full precision survive the columnar write unchanged."""
    payloads = [
        {"text": "naïve café — 東京 🚀", "n": 2**53 + 1, "ratio": 0.1 + 0.2},
        {"nested": {"list": [1, [2, 3], {"k": None}], "empty": {}}, "flag": False},
        {"pair": ["a", "b"]},
        {"pair": ["c", "d"]},
    ]
    written = [
        Event(
            seq=i + 1,
            ts=1796690003.6310105 + i,
            type="agent.output",
            covenant_id="c9",
            tenant_id="t9",
            agent_id=None if i == 0 else f"w{i}",
            payload=p,
        )
        for i, p in enumerate(payloads)
    ]
    await store.write(WriteBatch(events=[(e, f"k{e.seq}") for e in written]))
    assert await store.events("c9") == written


async def test_a_nan_double_is_stored_as_nan(store):
    """A NaN stamp or metric value (a provider may report one) is kept, not turned into a
    NULL that a NOT NULL column refuses, which would sink the whole batch."""
    nan = float("nan")
    metric = {"tenant_id": "t", "ts": 1.0, "name": "latency", "value": nan, "labels": {}}
    event = Event(seq=1, ts=nan, type="agent.thought", covenant_id="cn", tenant_id="t", payload={})
    await store.write(WriteBatch(events=[(event, None)], metrics=[metric]))
    [back] = await store.events("cn")
    assert math.isnan(back.ts)
    [(value,)] = await store.query("SELECT value FROM metrics WHERE name = 'latency'")
    assert math.isnan(value)
