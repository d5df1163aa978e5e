"""The fan-out on its own, over an in-memory covenant log: batching, shared frames, drops."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest

from harpoon_ray.schemas import Event, EventType
from harpoon_ray.serve.fanout import (
    FOLLOW_PAGE,
    JOIN_CHARS,
    CovenantFanout,
    SlowConsumer,
    Subscription,
)
from harpoon_ray.serve.frame_cuts import MAX_BATCH_EVENTS, MAX_FRAME_BYTES, frame_cuts
from harpoon_ray.serve.ws_frames import PreparedText

CID = "cov_fanouttest0001"


class MemoryLog:
    """A covenant log in memory that long-polls like the Orchestrator: `follow` yields
    whatever is new in one go (a page), then waits for more until the log is closed."""

    def __init__(self) -> None:
        self.log: list[Event] = []
        self.closed = False
        self.follow_limits: list[int] = []
        self.reads = 0
        self._changed = asyncio.Event()

    def append(self, count: int = 1, *, close: bool = False, text: str = "") -> None:
        for _ in range(count):
            seq = len(self.log) + 1
            payload = {"text": text} if text else {}
            self.log.append(
                Event(
                    seq=seq,
                    ts=time.time(),
                    type=EventType.PROGRESS,
                    covenant_id=CID,
                    payload=payload,
                )
            )
        self.closed = self.closed or close
        self._changed.set()

    async def events(self, covenant_id: str, after: int = 0, limit: int = 1000) -> list[Event]:
        self.reads += 1
        return self.log[after : after + limit]

    async def follow_texts(
        self, covenant_id: str, after: int = 0, limit: int = 1000
    ) -> AsyncIterator[list[tuple[int, str]]]:
        self.follow_limits.append(limit)
        while True:
            page = self.log[after : after + limit]
            if page:
                after = page[-1].seq
                yield [(e.seq, e.model_dump_json()) for e in page]
            if self.closed and after == len(self.log):
                return
            self._changed.clear()
            await self._changed.wait()


def seqs(message: PreparedText) -> list[int]:
    frame = json.loads(message.text)
    return [e["seq"] for e in (frame if isinstance(frame, list) else [frame])]


async def drain(sub: Subscription) -> list[PreparedText]:
    frames = []
    while (item := await asyncio.wait_for(sub.next(), 5)) is not None:
        frames.append(item[1])
    return frames


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_in_step_subscribers_send_the_very_same_prepared_frame() -> None:
    """Events stored together reach every in-step subscriber as one array frame, encoded
    once: each subscriber gets the identical message, whose frame bytes are built once."""
    log = MemoryLog()
    fanout = CovenantFanout(log)
    subs = [fanout.subscribe(CID) for _ in range(3)]
    await settle()
    log.append(5)
    await settle()
    got = [await asyncio.wait_for(s.next(), 5) for s in subs]
    assert seqs(got[0][1]) == [1, 2, 3, 4, 5]
    assert all(item[1] is got[0][1] for item in got)
    assert all(item[1].frame(15) is got[0][1].frame(15) for item in got)
    assert fanout.chunks_sent == 1
    await fanout.aclose()


async def test_a_waiting_reader_whose_socket_takes_the_frame_gets_it_written_at_once() -> None:
    """A reader in step hands the chunk's shared message to its socket's `sink` from the
    feed's own turn; when the socket cannot take it (paused), it is queued and sent the
    usual way, and nothing later overtakes it."""
    log = MemoryLog()
    fanout = CovenantFanout(log)
    written: list[PreparedText] = []
    takes = [True]
    sub = fanout.subscribe(CID)
    sub.sink = lambda message: takes[0] and (written.append(message) or True)
    reader = asyncio.create_task(sub.next())
    await settle()
    log.append(3)
    await settle()
    assert [seqs(m) for m in written] == [[1, 2, 3]] and not reader.done()
    takes[0] = False
    log.append(2)
    await settle()
    takes[0] = True
    log.append(1, close=True)
    assert seqs((await asyncio.wait_for(reader, 5))[1]) == [4, 5]
    assert [seqs(f) for f in await drain(sub)] == [[6]]
    assert len(written) == 1
    await fanout.aclose()


async def test_a_burst_comes_in_one_poll_and_goes_out_in_frames_of_at_most_max() -> None:
    """A burst stored at once is fetched in one long-poll page and reaches an in-step
    subscriber as frames of at most MAX_BATCH_EVENTS, in order."""
    total = MAX_BATCH_EVENTS + 500
    assert total <= FOLLOW_PAGE
    log = MemoryLog()
    fanout = CovenantFanout(log)
    sub = fanout.subscribe(CID)
    await settle()
    log.append(total, close=True)
    frames = await drain(sub)
    assert log.follow_limits == [FOLLOW_PAGE]
    assert [len(seqs(f)) for f in frames] == [MAX_BATCH_EVENTS, 500]
    assert [q for f in frames for q in seqs(f)] == list(range(1, total + 1))
    await fanout.aclose()


async def test_sockets_coming_after_the_end_get_the_log_from_memory() -> None:
    """Once a feed has seen a covenant to its end, later subscribers get the whole log (or
    the rest after their seq) in order from the kept chunks: no new follow, no read."""
    log = MemoryLog()
    fanout = CovenantFanout(log)
    first = fanout.subscribe(CID)
    await settle()
    log.append(1500, close=True)
    await drain(first)
    fanout.unsubscribe(first)
    await settle()
    late = [fanout.subscribe(CID) for _ in range(3)]
    resumed = fanout.subscribe(CID, after=1200)
    got = [[q for f in await drain(s) for q in seqs(f)] for s in late]
    assert got == [list(range(1, 1501))] * 3
    assert [q for f in await drain(resumed) for q in seqs(f)] == list(range(1201, 1501))
    assert len(log.follow_limits) == 1 and log.reads == 0
    await fanout.aclose()


async def test_a_lone_event_is_sent_as_an_object_not_an_array() -> None:
    """One event ready on its own goes out as that event's object."""
    log = MemoryLog()
    fanout = CovenantFanout(log)
    sub = fanout.subscribe(CID)
    await settle()
    log.append(1)
    seq, message = await asyncio.wait_for(sub.next(), 5)
    assert seq == 1 and json.loads(message.text)["seq"] == 1
    await fanout.aclose()


async def test_a_subscriber_behind_gets_everything_queued_in_one_frame() -> None:
    """Three pages queued while the reader was busy come out as one frame, in order."""
    log = MemoryLog()
    fanout = CovenantFanout(log)
    sub = fanout.subscribe(CID)
    await settle()
    for _ in range(3):
        log.append(2)
        await settle()
    assert sub.queued == 6
    seq, message = await asyncio.wait_for(sub.next(), 5)
    assert (seq, seqs(message)) == (6, [1, 2, 3, 4, 5, 6])
    await fanout.aclose()


async def test_a_reader_behind_by_big_chunks_sends_the_shared_messages() -> None:
    """Chunks over JOIN_CHARS queued for a slow reader go out one by one as the very
    messages an in-step reader got: a lagging socket costs no encoding of its own."""
    log = MemoryLog()
    fanout = CovenantFanout(log)
    fast = fanout.subscribe(CID)
    slow = fanout.subscribe(CID)
    await settle()
    sent = []
    for _ in range(3):
        log.append(300)
        await settle()
        sent.append((await asyncio.wait_for(fast.next(), 5))[1])
    assert all(len(m.text) > JOIN_CHARS for m in sent)
    got = [(await asyncio.wait_for(slow.next(), 5))[1] for _ in range(3)]
    assert all(g is m for g, m in zip(got, sent, strict=True))
    await fanout.aclose()


async def test_joining_mid_covenant_replays_then_goes_live_without_gap_or_duplicate() -> None:
    """A subscriber from after=2 while the feed is at 7 gets 3..7 from the log, then the
    live events, each seq once."""
    log = MemoryLog()
    fanout = CovenantFanout(log)
    first = fanout.subscribe(CID)
    await settle()
    log.append(7)
    await settle()
    late = fanout.subscribe(CID, after=2)
    log.append(3, close=True)
    frames = await drain(late)
    assert [s for f in frames for s in seqs(f)] == list(range(3, 11))
    assert [s for f in await drain(first) for s in seqs(f)] == list(range(1, 11))


async def test_a_joiner_of_a_live_feed_catches_up_from_its_chunks_not_the_store() -> None:
    """A socket joining a covenant whose feed has followed it from seq 1 gets what it
    missed as the chunks already sent (the same messages), with no read of the log."""
    log = MemoryLog()
    fanout = CovenantFanout(log)
    first = fanout.subscribe(CID)
    await settle()
    log.append(300)
    await settle()
    sent = (await asyncio.wait_for(first.next(), 5))[1]
    late = fanout.subscribe(CID)
    assert (await asyncio.wait_for(late.next(), 5))[1] is sent
    log.append(2, close=True)
    assert [s for f in await drain(late) for s in seqs(f)] == [301, 302]
    assert log.reads == 0


async def test_a_feed_that_started_mid_log_replays_joiners_from_the_store() -> None:
    """A feed started from seq 5 holds no chunks before it: a joiner from seq 2 reads
    3..5 from the log, then goes live, each seq once."""
    log = MemoryLog()
    log.append(5)
    fanout = CovenantFanout(log)
    fanout.subscribe(CID, after=5)
    await settle()
    joiner = fanout.subscribe(CID, after=2)
    log.append(2, close=True)
    assert [s for f in await drain(joiner) for s in seqs(f)] == [3, 4, 5, 6, 7]
    assert log.reads >= 1


async def test_a_joiner_during_an_unflushed_page_gets_no_duplicate() -> None:
    """A socket that joins after the feed took in a page but before it was sent reads that
    page from the log and skips its copy in the queue."""
    log = MemoryLog()
    fanout = CovenantFanout(log)
    fanout.subscribe(CID)
    await settle()
    log.append(4)
    await asyncio.sleep(0)  # the feed takes the page in; its flush is still pending
    await asyncio.sleep(0)
    late = fanout.subscribe(CID, after=1)
    log.append(1, close=True)
    assert [s for f in await drain(late) for s in seqs(f)] == [2, 3, 4, 5]


async def test_a_subscriber_past_its_limit_reads_what_it_holds_then_learns_why() -> None:
    """With room for 4 events, a reader that takes nothing while 6 arrive gets the 4 it
    holds, then SlowConsumer naming the seq to resume after; the feed forgets it."""
    log = MemoryLog()
    fanout = CovenantFanout(log, queue_events=4)
    sub = fanout.subscribe(CID)
    other = fanout.subscribe(CID)
    await settle()
    log.append(2)
    await settle()
    log.append(2)
    await settle()
    log.append(2)
    await settle()
    assert fanout.subscribers(CID) == 0 and other.dropped
    seq, message = await asyncio.wait_for(sub.next(), 5)
    assert (seq, seqs(message)) == (4, [1, 2, 3, 4])
    with pytest.raises(SlowConsumer, match="after=4"):
        await asyncio.wait_for(sub.next(), 5)
    await fanout.aclose()


async def test_the_feed_stops_when_its_last_subscriber_leaves() -> None:
    """No subscriber, no feed: the long-poll is cancelled."""
    log = MemoryLog()
    fanout = CovenantFanout(log)
    sub = fanout.subscribe(CID)
    await settle()
    assert fanout.feeds == 1
    fanout.unsubscribe(sub)
    await settle()
    assert fanout.feeds == 0


async def test_a_burst_of_big_events_goes_in_frames_under_the_common_1_mib_limit() -> None:
    """Events of ~10 KB each (long outputs): frames are cut by bytes, not only by count,
    so a client keeping the usual 1 MiB message limit is never sent more."""
    log = MemoryLog()
    fanout = CovenantFanout(log)
    sub = fanout.subscribe(CID)
    await settle()
    log.append(300, close=True, text="x" * 10_000)
    frames = await drain(sub)
    assert len(frames) > 1
    assert all(len(f.data) <= MAX_FRAME_BYTES for f in frames)
    assert [q for f in frames for q in seqs(f)] == list(range(1, 301))
    await fanout.aclose()


async def test_a_late_socket_replays_big_events_in_frames_under_the_limit() -> None:
    """The same bound holds for a socket that catches up from the store."""
    log = MemoryLog()
    log.append(300, text="é" * 5_000)  # 2 bytes a character in UTF-8
    sub = Subscription(CID, after=0, replay_until=300, limit=10_000, source=log)
    sub.ended = True
    frames = await drain(sub)
    assert all(len(f.data) <= MAX_FRAME_BYTES for f in frames)
    assert [q for f in frames for q in seqs(f)] == list(range(1, 301))


def test_frame_cuts_count_utf8_bytes_and_let_one_huge_event_go_alone() -> None:
    small, huge = "a" * 100, "€" * (MAX_FRAME_BYTES // 2)  # 3 bytes a character
    assert frame_cuts([small, huge, small]) == [1, 2, 3]
    assert frame_cuts([small] * (MAX_BATCH_EVENTS + 1)) == [MAX_BATCH_EVENTS, MAX_BATCH_EVENTS + 1]
    assert frame_cuts([]) == []
