"""Each pattern end to end on the session's Ray: shards, chunk tasks, stored rows, events."""

from __future__ import annotations

import pytest

from harpoon_ray.local_ray import (
    IDLE_WORKER_ENV,
    SERVE_LOG_BUFFER_ENV,
    keep_idle_workers,
    write_serve_logs_at_once,
)
from harpoon_ray.schemas import CovenantStatus, EventType, QueryRequest

pytestmark = pytest.mark.ray


@pytest.mark.parametrize("pattern", ["parallel", "workers", "optimize", "smart"])
async def test_each_pattern_completes_with_a_result(client, pattern):
    """A covenant of each pattern completes on Ray with a result and a gap-free log."""
    q = QueryRequest(query="Compare three ways to cache web pages and pick one.", pattern=pattern)
    cov = await client.submit("ann", q)
    assert cov.status is CovenantStatus.ACTIVE
    done = await client.wait(cov.id, timeout_s=60)
    assert done.status is CovenantStatus.COMPLETED, done.error
    assert done.result
    events = await client.events(cov.id, limit=100_000)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].type is EventType.COVENANT_CREATED
    assert EventType.RESULT in {e.type for e in events}


@pytest.mark.parametrize(
    ("apply", "name", "default"),
    [
        # Ray reaps a worker 1 s after its task, and each covenant's chunks then imported
        # Harpoon again in fresh workers: a Ray Harpoon starts keeps them 60 s.
        (keep_idle_workers, IDLE_WORKER_ENV, "60000"),
        # Serve's throughput-optimized replicas hold 1,000 log records before writing:
        # a 500's trace sat in memory, and was lost with the process.
        (write_serve_logs_at_once, SERVE_LOG_BUFFER_ENV, "1"),
    ],
)
def test_a_local_ray_gets_harpoons_setting_unless_one_is_exported(apply, name, default):
    env: dict[str, str] = {}
    apply(env)
    assert env == {name: default}
    env = {name: "7"}
    apply(env)
    assert env == {name: "7"}
