"""The answer agent's tokens on Ray: logged before its completion, whole after a restart."""

from __future__ import annotations

from collections import Counter

import pytest
import ray

from harpoon_ray.schemas import CovenantStatus, EventType, QueryRequest

from .helpers import agent_events, assert_log_whole, script_every_model, wait_for

pytestmark = pytest.mark.ray

LONG = " ".join(f"word{i}" for i in range(120)) + "."


def _answer_tokens(events, agent_id):
    return [e for e in events if e.type is EventType.TOKEN and e.agent_id == agent_id]


async def test_answer_tokens_are_logged_before_its_completion_and_join_to_its_output(client):
    """A smart covenant's answer streams: token events precede agent.completed and their
    deltas, in seq order, are exactly the agent's output and the covenant's result."""
    q = QueryRequest(query="Write a short note on the history of the telescope", pattern="smart")
    cov = await client.submit("streamer", q)
    done = await client.wait(cov.id, timeout_s=60)
    assert done.status is CovenantStatus.COMPLETED, done.error
    events = await client.events(cov.id, limit=100_000)
    assert_log_whole(events)
    [completed] = agent_events(events, EventType.COMPLETED)
    tokens = _answer_tokens(events, completed.agent_id)
    assert tokens and max(t.seq for t in tokens) < completed.seq
    [output] = agent_events(events, EventType.OUTPUT)
    assert "".join(t.payload["delta"] for t in tokens) == output.payload["text"] == done.result
    assert all(t.payload["final"] is True for t in tokens)
    assert len(tokens) < completed.payload["output_tokens"]  # batched, not one per token


async def test_an_answer_streaming_when_its_shard_dies_resumes_without_gap_or_double(
    sdk_client, server
):
    """Killing the orchestrator mid-stream: the rerun's tokens continue where the log
    stopped, so the logged deltas still join to exactly the answer, each offset once."""
    script_every_model(server, [{"text": LONG, "chunk_delay_s": 0.03}] * 4)
    q = QueryRequest(query="Say the words.", pattern="smart")
    cov = await sdk_client.submit("stream-kill", q)
    aid = f"{cov.id}:answer"

    async def some_tokens():
        events = await sdk_client.events(cov.id, limit=100_000)
        return _answer_tokens(events, aid) and not agent_events(events, EventType.COMPLETED)

    await wait_for(some_tokens)
    ray.kill(sdk_client.shards.orchestrator_for(cov.id), no_restart=False)
    done = await sdk_client.wait(cov.id, timeout_s=90)
    assert done.status is CovenantStatus.COMPLETED, done.error
    events = await sdk_client.events(cov.id, limit=100_000)
    assert_log_whole(events)
    tokens = _answer_tokens(events, aid)
    assert "".join(t.payload["delta"] for t in tokens) == done.result == LONG
    offsets = Counter(t.payload["at"] for t in tokens)
    assert max(offsets.values()) == 1
