"""Faults on Ray: shards and chunk workers killed mid-run, nothing lost, nothing run twice.

Every model call goes to the test server, which counts the calls it receives: a
completed sub-agent run again would show up there as a call with no new action event.
"""

from __future__ import annotations

import os
import signal

import pytest
import ray

from harpoon_ray.schemas import CovenantStatus, EventType, QueryRequest

from .helpers import agent_events, assert_log_whole, script_every_model, wait_for

pytestmark = pytest.mark.ray

FAST = {"latency_s": 0.0}
SLOW = {"latency_s": 2.5}
WORKERS = 12


async def _half_done(client, server):
    """A parallel covenant of 12 sub-agents, stopped when some have completed and the
    rest are still waiting on a slow model; returns it and its log at that moment."""
    script_every_model(server, [FAST] * 4 + [SLOW] * 60)
    q = QueryRequest(
        query="Summarise the history of the bicycle.", pattern="parallel", agents=WORKERS
    )
    cov = await client.submit("faulty", q)

    async def some_completed():
        events = await client.events(cov.id, limit=100_000)
        done = agent_events(events, EventType.COMPLETED)
        spawned = agent_events(events, EventType.AGENT_SPAWNED)
        return events if done and len(spawned) > len(done) else None

    events = await wait_for(some_completed)
    return cov, events


def _expected_calls(before, after, lost_in_flight: bool) -> int:
    """One call per agent that acted, plus one lost call per agent in flight at the fault
    when the fault killed the calls in flight."""
    acted = {e.agent_id for e in agent_events(after, EventType.ACTION)}
    if not lost_in_flight:
        return len(acted)
    done_before = {e.agent_id for e in agent_events(before, EventType.COMPLETED)}
    in_flight = {e.agent_id for e in agent_events(before, EventType.AGENT_SPAWNED)} - done_before
    return len(acted) + len(in_flight)


async def _finish_and_check(client, server, cov, before, *, lost_in_flight=True):
    done = await client.wait(cov.id, timeout_s=90)
    assert done.status is CovenantStatus.COMPLETED, done.error
    after = await client.events(cov.id, limit=100_000)
    assert_log_whole(after)
    assert [e.seq for e in after[: len(before)]] == [e.seq for e in before]
    assert sum(server.calls().values()) == _expected_calls(before, after, lost_in_flight)
    completed = {e.agent_id for e in agent_events(before, EventType.COMPLETED)}
    rows = {a["agent_id"]: a for a in (await client.get(cov.id))["agents"]}
    assert all(rows[a]["status"] == "completed" for a in completed)
    return done, after


async def test_a_chunk_worker_killed_mid_chunk_is_retried_without_rerunning_agents(
    sdk_client, server
):
    """Killing a chunk's worker process reruns only its unfinished agents; the log stays whole."""
    cov, before = await _half_done(sdk_client, server)
    status = await sdk_client.status()
    pids = [
        c["pid"]
        for o in status["orchestrators"]
        for c in o["chunks"]
        if c["covenant_id"] == cov.id and c["pid"]
    ]
    assert pids
    os.kill(pids[0], signal.SIGKILL)
    await _finish_and_check(sdk_client, server, cov, before)


async def test_an_orchestrator_shard_killed_mid_run_resumes_from_its_log(sdk_client, server):
    """A killed orchestrator shard restarts, reuses completed sub-agents and completes."""
    cov, before = await _half_done(sdk_client, server)
    shard = sdk_client.shards.orchestrator_for(cov.id)
    ray.kill(shard, no_restart=False)
    await _finish_and_check(sdk_client, server, cov, before)
    resumed = await sdk_client.shards.orchestrator_for(cov.id).ready.remote()
    assert cov.id in resumed["resumed"]


async def test_a_mediator_shard_killed_mid_run_loses_nothing(sdk_client, server):
    """A killed mediator restarts with its covenants and conversation, and takes follow-ups."""
    cov, before = await _half_done(sdk_client, server)
    ray.kill(sdk_client.shards.mediator_for("local", "faulty"), no_restart=False)
    done, _ = await _finish_and_check(sdk_client, server, cov, before, lost_in_flight=False)
    listed = await sdk_client.list_covenants("local", user_id="faulty")
    assert [c.id for c in listed][:1] == [cov.id] and listed[0].status is CovenantStatus.COMPLETED
    server.reset()
    follow_up = await sdk_client.submit("faulty", "And who invented the chain drive?")
    assert [m.content for m in follow_up.history][-2:] == [done.query, done.result]


async def test_cancelling_stops_the_chunks_and_records_cancelled(sdk_client, server):
    """Cancelling a running covenant ends its chunk tasks and its log says cancelled."""
    cov, _ = await _half_done(sdk_client, server)
    got = await sdk_client.cancel(cov.id)
    assert got.status is CovenantStatus.CANCELLED
    events = await sdk_client.events(cov.id, limit=100_000)
    assert events[-1].payload["status"] == "cancelled"
    status = await sdk_client.status()
    assert all(c["covenant_id"] != cov.id for o in status["orchestrators"] for c in o["chunks"])
    rows = (await sdk_client.get(cov.id))["agents"]
    assert {r["status"] for r in rows} <= {"completed", "cancelled"}
    assert "cancelled" in {r["status"] for r in rows}


async def test_a_follow_up_after_the_mediator_lost_its_staged_answer_still_has_it(
    sdk_client, server
):
    """The answer turn is staged when the covenant ends and committed with the mediator's
    next batch; a mediator killed in between restarts without it, and the user's next
    query must still carry that answer in its history (asked of the orchestrator)."""
    script_every_model(server, [FAST] * 10)
    first = await sdk_client.submit("forgetful", "Name the parts of a bicycle.")
    done = await sdk_client.wait(first.id, timeout_s=60)
    assert done.status is CovenantStatus.COMPLETED, done.error
    ray.kill(sdk_client.shards.mediator_for("local", "forgetful"), no_restart=False)
    follow_up = await sdk_client.submit("forgetful", "And which one wears out first?")
    assert [m.content for m in follow_up.history][-2:] == [done.query, done.result]
