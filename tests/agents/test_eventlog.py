"""The event log: gap-free seqs, idempotent keys, committed-only reads, long-poll followers."""

from __future__ import annotations

import asyncio

import pytest

from harpoon_ray.agents.eventlog import EventLog
from harpoon_ray.schemas import EventType


def slow_writes(store, seconds: float, fail: Exception | None = None) -> asyncio.Event:
    """Make each of the store's writes take `seconds`, then fail with `fail` if given;
    the event returned is set when the first write starts."""
    real_write, writing = store.write, asyncio.Event()

    async def write(batch):
        writing.set()
        await asyncio.sleep(seconds)
        if fail is not None:
            raise fail
        await real_write(batch)

    store.write = write
    return writing


async def test_seqs_are_gap_free_from_one_and_stored(eventlog, store):
    """Appends get seq 1, 2, 3 ... and are in the store once flushed."""
    await eventlog.open_covenant("c1", "t1")
    seqs = [eventlog.append("c1", EventType.THOUGHT, "w1", {"i": i}) for i in range(5)]
    await eventlog.flush()
    assert seqs == [1, 2, 3, 4, 5]
    stored = await store.events("c1")
    assert [e.seq for e in stored] == seqs and stored[0].tenant_id == "t1"


async def test_a_key_already_logged_is_skipped_even_after_reopening(store):
    """A replayed append with a known key writes nothing, also in a fresh log."""
    first = EventLog(store, flush_interval_s=0.001)
    await first.open_covenant("c1", "local")
    assert first.append("c1", EventType.COMPLETED, "w1", key="w1/done") == 1
    assert first.append("c1", EventType.COMPLETED, "w1", key="w1/done") is None
    await first.close()
    second = EventLog(store, flush_interval_s=0.001)
    await second.open_covenant("c1", "local")
    assert second.append("c1", EventType.COMPLETED, "w1", key="w1/done") is None
    assert second.append("c1", EventType.COMPLETED, "w2", key="w2/done") == 2
    await second.close()
    assert [e.agent_id for e in await store.events("c1")] == ["w1", "w2"]


async def test_readers_never_see_uncommitted_events(eventlog):
    """An appended event is invisible to readers until its flush commits it."""
    await eventlog.open_covenant("c1", "local")
    eventlog.append("c1", EventType.PLAN)
    assert await eventlog.read("c1") == []
    await eventlog.flush()
    assert [e.seq for e in await eventlog.read("c1")] == [1]


async def test_reads_past_the_tail_come_from_the_store(eventlog):
    """A reader far behind gets every event, though the tail keeps only the last few."""
    await eventlog.open_covenant("c1", "local")
    for i in range(30):
        eventlog.append("c1", EventType.PROGRESS, "w1", {"i": i})
    await eventlog.flush()
    assert [e.seq for e in await eventlog.read("c1", after=0, limit=100)] == list(range(1, 31))
    assert [e.seq for e in await eventlog.read("c1", after=27)] == [28, 29, 30]


async def test_wait_returns_at_once_when_events_are_there(eventlog):
    """A follower behind the log gets its events without waiting."""
    await eventlog.open_covenant("c1", "local")
    eventlog.append("c1", EventType.PLAN)
    await eventlog.flush()
    got = await asyncio.wait_for(eventlog.wait("c1", after=0, timeout_s=30), 1)
    assert [e.seq for e in got] == [1]


async def test_wait_wakes_every_follower_on_the_next_commit(eventlog):
    """Many followers waiting at the head all get the next event when it commits."""
    await eventlog.open_covenant("c1", "local")
    followers = [asyncio.create_task(eventlog.wait("c1", after=0, timeout_s=5)) for _ in range(50)]
    await asyncio.sleep(0.01)
    eventlog.append("c1", EventType.RESULT, payload={"text": "done"})
    results = await asyncio.wait_for(asyncio.gather(*followers), 2)
    assert all([e.payload["text"] for e in r] == ["done"] for r in results)


async def test_wait_times_out_empty_when_nothing_comes(eventlog):
    """A follower at the head gets an empty list after its timeout."""
    await eventlog.open_covenant("c1", "local")
    assert await eventlog.wait("c1", after=0, timeout_s=0.05) == []


async def test_closing_a_covenant_wakes_its_followers(eventlog):
    """Followers of a covenant whose log closes return instead of waiting out the timeout."""
    await eventlog.open_covenant("c1", "local")
    waiter = asyncio.create_task(eventlog.wait("c1", after=0, timeout_s=30))
    await asyncio.sleep(0.01)
    await eventlog.close_covenant("c1")
    assert await asyncio.wait_for(waiter, 1) == []
    assert not eventlog.is_open("c1")


async def test_appends_nobody_waits_for_linger_into_one_commit(store):
    """Appends made apart with nobody waiting are committed together, within the linger."""
    log = EventLog(store, flush_interval_s=0.001, idle_flush_s=0.3)
    await log.open_covenant("c1", "local")
    log.append("c1", EventType.PLAN)
    await asyncio.sleep(0.05)
    log.append("c1", EventType.PROGRESS)
    assert log.commits == 0 and await log.read("c1") == []
    await asyncio.sleep(0.4)
    assert log.commits == 1 and [e.seq for e in await log.read("c1")] == [1, 2]
    await log.close()


async def test_a_flush_or_a_follower_cuts_the_linger_short(store):
    """Someone waiting (a flush caller, a follower) gets the commit at the short interval."""
    log = EventLog(store, flush_interval_s=0.001, idle_flush_s=30)
    await log.open_covenant("c1", "local")
    log.append("c1", EventType.PLAN)
    await asyncio.wait_for(log.flush(), 1)
    follower = asyncio.create_task(log.wait("c1", after=1, timeout_s=30))
    await asyncio.sleep(0.01)
    log.append("c1", EventType.PROGRESS)
    assert [e.seq for e in await asyncio.wait_for(follower, 1)] == [2]
    await log.close()


async def test_events_appended_during_a_commit_go_in_the_next_at_once(store):
    """What arrives while a commit runs has waited already: no flush interval after it."""
    log = EventLog(store, flush_interval_s=0.5)
    await log.open_covenant("c1", "local")
    writing = slow_writes(store, 0.1)
    log.append("c1", EventType.PLAN)
    first = asyncio.create_task(log.flush())
    await asyncio.wait_for(writing.wait(), 2)
    log.append("c1", EventType.PROGRESS)  # lands while the first commit is being written
    await first
    # the next commit (another 0.1 s) starts at once, not after another 0.5 s interval
    await asyncio.wait_for(log.flush(), 0.3)
    assert [e.seq for e in await log.read("c1")] == [1, 2]
    await log.close()


async def test_a_burst_marked_whole_is_committed_without_the_interval_for_followers(store):
    """`commit_soon` after a chunk's report: a follower gets it without the interval."""
    log = EventLog(store, flush_interval_s=30)
    await log.open_covenant("c1", "local")
    follower = asyncio.create_task(log.wait("c1", after=0, timeout_s=30))
    await asyncio.sleep(0.01)
    for _ in range(3):
        log.append("c1", EventType.AGENT_SPAWNED, "a1")
    log.commit_soon()
    assert [e.seq for e in await asyncio.wait_for(follower, 2)] == [1, 2, 3]
    await log.close()


async def test_commit_soon_without_followers_leaves_the_batch_to_grow(store):
    """Nobody follows: the interval (and the linger) still gather appends into one commit."""
    log = EventLog(store, flush_interval_s=0.3, idle_flush_s=0.3)
    await log.open_covenant("c1", "local")
    log.append("c1", EventType.AGENT_SPAWNED, "a1")
    log.commit_soon()
    await asyncio.sleep(0.1)
    assert log.commits == 0
    log.append("c1", EventType.AGENT_SPAWNED, "a2")
    await asyncio.wait_for(log.flush(), 2)
    assert log.commits == 1
    assert [e.seq for e in await log.read("c1")] == [1, 2]
    await log.close()


async def test_one_covenants_unwritable_batch_loses_no_other_covenants_events(store):
    """A commit that will not go in whole is written covenant by covenant: the good one's
    events are stored and readable, the bad one's seqs are free again, the flush says why."""
    log = EventLog(store, flush_interval_s=0.001)
    await log.open_covenant("good", "local")
    await log.open_covenant("bad", "local")
    real_write = store.write

    async def refuses_bad(batch):
        if any(e.covenant_id == "bad" for e, _ in batch.events):
            raise OSError("the disk refused this row")
        await real_write(batch)

    store.write = refuses_bad
    log.append("good", EventType.PLAN, key="good/plan")
    log.append("bad", EventType.PLAN, key="bad/plan")
    with pytest.raises(OSError, match="refused"):
        await log.flush()
    assert [e.seq for e in await store.events("good")] == [1]
    assert [e.seq for e in await log.read("good")] == [1]
    assert await store.events("bad") == [] and log.last_seq("bad") == 0
    assert not log.has_key("bad", "bad/plan")
    store.write = real_write
    assert log.append("bad", EventType.PLAN, key="bad/plan") == 1
    await log.flush()
    assert [e.seq for e in await store.events("bad")] == [1]
    await log.close()


async def test_what_came_during_a_failed_commit_takes_its_seqs(store):
    """An event appended while a commit that then fails was running follows on from the
    seqs taken back: the log has no gap and no duplicate."""
    log = EventLog(store, flush_interval_s=0.001)
    await log.open_covenant("c1", "local")
    real_write = store.write
    writing = slow_writes(store, 0.05, fail=OSError("the disk is full"))
    log.append("c1", EventType.PLAN)
    log.append("c1", EventType.THOUGHT)
    failing = asyncio.create_task(log.flush())
    await asyncio.wait_for(writing.wait(), 2)
    assert log.append("c1", EventType.PROGRESS) == 3  # pending behind the failing commit
    with pytest.raises(OSError, match="full"):
        await failing
    store.write = real_write
    await log.flush()
    assert [(e.seq, e.type) for e in await store.events("c1")] == [(1, EventType.PROGRESS)]
    assert log.append("c1", EventType.PLAN) == 2
    await log.close()


async def test_a_followed_covenants_events_are_encoded_while_their_commit_runs(store):
    """Once someone follows a covenant's texts, its events' wire JSON is made during the
    commit: the follower's page is ready when the commit is, the same as encoding it then."""
    log = EventLog(store, flush_interval_s=0.001)
    await log.open_covenant("followed", "local")
    await log.open_covenant("alone", "local")
    writing = slow_writes(store, 0.05)
    log.want_texts("followed")
    follower = asyncio.create_task(log.wait("followed", after=0, timeout_s=30))
    await asyncio.sleep(0.01)
    log.append("followed", EventType.AGENT_SPAWNED, "a1", {"title": "<b>é</b>"})
    log.append("followed", EventType.THOUGHT, "a1", {"text": "plan"})
    log.append("alone", EventType.PLAN)
    await asyncio.wait_for(writing.wait(), 2)
    await asyncio.sleep(0.01)  # the write is still running
    assert log.texts_ahead == 2  # the followed covenant's two, not the other one's
    got = await asyncio.wait_for(follower, 2)
    assert [log.text(e) for e in got] == [e.model_dump_json() for e in got]
    await log.close()


async def test_a_failed_commit_leaves_no_stale_text_for_a_renumbered_seq(store):
    """Seqs taken back after a failed commit go to other events: each reads as itself."""
    log = EventLog(store, flush_interval_s=0.001)
    await log.open_covenant("c1", "local")
    log.want_texts("c1")
    real_write = store.write
    writing = slow_writes(store, 0.05, fail=OSError("the disk is full"))
    log.append("c1", EventType.PLAN, payload={"n": "lost"})
    failing = asyncio.create_task(log.flush())
    await asyncio.wait_for(writing.wait(), 2)
    log.append("c1", EventType.PROGRESS, payload={"n": "kept"})  # will take seq 1
    with pytest.raises(OSError, match="full"):
        await failing
    store.write = real_write
    await log.flush()
    (event,) = await log.read("c1")
    assert event.seq == 1 and '"kept"' in log.text(event)
    assert log.text(event) == event.model_dump_json()
    await log.close()
