"""Concurrent calls to one shard travel together: the batchers alone, then on Ray."""

from __future__ import annotations

import asyncio

import pytest

from harpoon_ray.agents.batching import CallBatcher, ShardWaits
from harpoon_ray.errors import NotFound
from harpoon_ray.schemas import CovenantStatus, QueryRequest


class Doubler:
    """A stand-in shard method taking a list: doubles numbers, refuses negatives."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def __call__(self, items: list[int]) -> list[int | BaseException]:
        self.batches.append(items)
        await asyncio.sleep(0.001)
        return [NotFound(f"no {i}") if i < 0 else 2 * i for i in items]


async def test_calls_made_in_one_turn_travel_as_one():
    """Thirty calls made together are one send, each caller getting its own answer."""
    send = Doubler()
    batcher = CallBatcher(send)
    got = await asyncio.gather(*(batcher.call(i) for i in range(30)))
    assert got == [2 * i for i in range(30)]
    assert send.batches == [list(range(30))]


async def test_a_batch_is_split_at_its_size_limit():
    """More calls than `max_items` go in several sends of at most that many."""
    send = Doubler()
    batcher = CallBatcher(send, max_items=8)
    await asyncio.gather(*(batcher.call(i) for i in range(20)))
    assert [len(b) for b in send.batches] == [8, 8, 4]


async def test_one_bad_item_fails_alone():
    """An item the shard refuses raises for its caller only."""
    batcher = CallBatcher(Doubler())
    got = await asyncio.gather(*(batcher.call(i) for i in (1, -1, 3)), return_exceptions=True)
    assert got[0] == 2 and got[2] == 6
    assert isinstance(got[1], NotFound)


async def test_a_failed_send_fails_every_caller():
    """When the call itself fails, every item of it gets the error."""

    async def broken(items: list[int]) -> list[int]:
        raise ConnectionError("shard gone")

    batcher = CallBatcher(broken)
    got = await asyncio.gather(*(batcher.call(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(g, ConnectionError) for g in got)


class Ends:
    """A stand-in orchestrator's `wait_any`: ids end when the test says so."""

    def __init__(self) -> None:
        self.ended: dict[str, str] = {}
        self.changed = asyncio.Event()
        self.polls: list[list[str]] = []

    def end(self, cid: str) -> None:
        self.ended[cid] = f"{cid}:done"
        self.changed.set()
        self.changed = asyncio.Event()

    async def __call__(self, ids: list[str]) -> dict[str, str]:
        self.polls.append(list(ids))
        while not (found := {i: self.ended[i] for i in ids if i in self.ended}):
            await self.changed.wait()
        return found


async def test_waits_share_a_poll_and_the_rest_are_asked_again():
    """Waits made together share one poll; those not ended yet are polled again."""
    shard = Ends()
    waits = ShardWaits(shard)
    tasks = [asyncio.create_task(waits.wait(c, 5)) for c in ("a", "b")]
    await asyncio.sleep(0.01)
    shard.end("a")
    assert await tasks[0] == "a:done"
    shard.end("b")
    assert await tasks[1] == "b:done"
    assert shard.polls == [["a", "b"], ["b"]]


async def test_a_short_wait_is_not_held_up_by_a_long_one():
    """A wait that starts while another's poll runs gets its own poll."""
    shard = Ends()
    waits = ShardWaits(shard)
    long = asyncio.create_task(waits.wait("long", 5))
    await asyncio.sleep(0.01)
    short = asyncio.create_task(waits.wait("short", 5))
    await asyncio.sleep(0.01)
    shard.end("short")
    assert await asyncio.wait_for(short, 1) == "short:done"
    assert not long.done()
    shard.end("long")
    assert await long == "long:done"


async def test_a_wait_times_out_and_leaves_nothing_behind():
    """A wait past its timeout raises TimeoutError and is forgotten."""
    shard = Ends()
    waits = ShardWaits(shard)
    with pytest.raises(TimeoutError):
        await waits.wait("never", 0.05)
    assert waits._waiters == {}


@pytest.mark.ray
async def test_concurrent_covenants_share_actor_calls(client):
    """Fifty covenants submitted and waited on at once all complete, in far fewer than
    the hundred submit and wait calls they would otherwise cost."""
    submits = sum(b.calls for b in client._submits.values())
    polls = sum(w.calls for w in client._waits.values())
    covs = await asyncio.gather(
        *(
            client.submit(f"batch-{i % 5}", QueryRequest(query=f"Q{i}", pattern="smart"))
            for i in range(50)
        )
    )
    done = await asyncio.gather(*(client.wait(c.id, 60) for c in covs))
    assert all(d.status is CovenantStatus.COMPLETED for d in done)
    assert sum(b.calls for b in client._submits.values()) - submits <= 10
    assert sum(w.calls for w in client._waits.values()) - polls < 50
