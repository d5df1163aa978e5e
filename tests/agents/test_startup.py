"""An actor's one-time start survives its first caller giving up."""

from __future__ import annotations

import asyncio

import pytest

from harpoon_ray.agents.startup import OnceStarted


def slow_start(runs: list[str], seconds: float = 0.05, fail: Exception | None = None):
    async def start() -> None:
        runs.append("start")
        await asyncio.sleep(seconds)
        if fail is not None:
            raise fail

    return start


async def test_a_cancelled_first_caller_leaves_the_start_running_for_the_next() -> None:
    """The first call is cancelled mid-start (a client that gave up): the next call on the
    actor waits for the same start and succeeds, instead of failing with CancelledError."""
    runs: list[str] = []
    started = OnceStarted(slow_start(runs))
    first = asyncio.create_task(started.wait())
    await asyncio.sleep(0.01)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(started.wait(), 2)
    await started.wait()
    assert runs == ["start"]


async def test_concurrent_callers_share_one_start() -> None:
    runs: list[str] = []
    started = OnceStarted(slow_start(runs))
    await asyncio.gather(*(started.wait() for _ in range(5)))
    assert runs == ["start"]


async def test_a_failed_start_is_every_callers_error() -> None:
    runs: list[str] = []
    started = OnceStarted(slow_start(runs, fail=OSError("the store is locked")))
    for _ in range(2):
        with pytest.raises(OSError, match="locked"):
            await started.wait()
    assert runs == ["start"]
