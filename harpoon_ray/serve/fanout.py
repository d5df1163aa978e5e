"""One live follower per covenant per gateway replica, fanned out to its local sockets.

A thousand sockets on one covenant cost one long-poll on the Orchestrator actor, not a
thousand. The long-poll brings events as the shard encoded them, (seq, JSON text) pairs,
up to FOLLOW_PAGE at a time; the feed cuts what arrives in one turn of the event loop into
`Chunk`s of at most MAX_BATCH_EVENTS, joins each once and hands the same chunk to every
subscriber; a subscriber in step with the feed sends the chunk's ready-made text as is.
A subscriber that fell behind takes all it has queued in one frame (a JSON array), so a
slow reader costs fewer frames, not more.

Resume without gap or duplicate: a subscriber joining with `after=A` while the feed has
already seen up to `L` is registered first (so it misses nothing from `L+1` on), then
gets `A+1..L`: from the chunks the feed kept when it has followed the covenant from seq 1
(the same messages, already built), else from the store. It yields every seq once, in
order, because it skips anything at or below the last seq it yielded. A crowd joining a
running covenant thus costs the store nothing and the gateway no encoding per socket.
A subscriber whose queue would pass `limit` events (a consumer slower than the
covenant) is dropped and told why, never buffered without bound.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import logging
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

from ..schemas import Event
from .frame_cuts import MAX_BATCH_EVENTS, frame_cuts, frame_text
from .ws_frames import PreparedText

log = logging.getLogger("harpoon.serve.fanout")

REPLAY_PAGE = 1000
# A reader behind by several chunks gets the small ones joined in one frame (fewer sends)
# up to this many characters; a bigger chunk goes as its own shared frame, so a lagging
# socket never costs an encoding, and a compression, of its own for it.
JOIN_CHARS = 32_768
# One long-poll answer: a burst (a chunk of agents reporting at once) in one round trip,
# not one per 1,000 events; each such trip cost ~18 ms under a 1,000-agent covenant.
FOLLOW_PAGE = 10_000
# Logs of ended covenants kept as their chunks, for sockets that come after the end (a
# crowd reloading a finished run): without it each one started a feed of its own and the
# shard and the gateway read and encoded the whole log again for every socket.
ENDED_KEEP_EVENTS = 100_000
FOLLOW_RETRY_S = (0.05, 0.2, 0.5, 1.0, 2.0)


class EventSource(Protocol):
    """What the fan-out needs of the agents layer (HarpoonClient meets it)."""

    async def events(self, covenant_id: str, after: int = 0, limit: int = 1000) -> list[Event]: ...

    def follow_texts(
        self, covenant_id: str, after: int = 0, limit: int = 1000
    ) -> AsyncIterator[list[tuple[int, str]]]: ...


def _last_seq(chunk: Chunk) -> int:
    return chunk.last


class SlowConsumer(Exception):
    """The subscriber's queue filled up: it fell `limit` events behind the covenant."""


class Chunk:
    """Consecutive events encoded once: `message` is what every in-step socket sends,
    its frames built once for all of them (ws_frames)."""

    __slots__ = ("body", "message", "parts", "seqs")

    def __init__(self, events: Sequence[tuple[int, str]]) -> None:
        self.seqs = [seq for seq, _ in events]
        self.parts = [text for _, text in events]
        self.body = ",".join(self.parts)
        text = self.parts[0] if len(self.parts) == 1 else f"[{self.body}]"
        self.message = PreparedText(text, shared=True)

    @property
    def first(self) -> int:
        return self.seqs[0]

    @property
    def last(self) -> int:
        return self.seqs[-1]

    def __len__(self) -> int:
        return len(self.seqs)


class Subscription:
    """One socket's view of one covenant: `next()` gives (last seq, message) in order."""

    __slots__ = (
        "_backlog",
        "_chunks",
        "_queued",
        "_replayed",
        "_waiter",
        "after",
        "covenant_id",
        "dropped",
        "ended",
        "limit",
        "replay_until",
        "sink",
        "source",
    )

    def __init__(
        self, covenant_id: str, after: int, replay_until: int, limit: int, source: EventSource
    ) -> None:
        self.covenant_id = covenant_id
        self.after = after
        self.replay_until = replay_until
        self.limit = limit
        self.source = source
        self.dropped = False
        self.ended = False
        self._chunks: deque[Chunk] = deque()
        self._queued = 0
        self._backlog = 0  # chunks at the head of the queue from a kept log, not counted
        self._waiter: asyncio.Future[None] | None = None
        self._replayed = after >= replay_until
        # Sends a chunk's message at once, if its socket can (True): set by a socket whose
        # server writes prepared frames on the spot (ws_frames.WRITE_NOW).
        self.sink: Callable[[PreparedText], bool] | None = None

    @classmethod
    def of_ended_log(
        cls, covenant_id: str, after: int, log: list[Chunk], limit: int, source: EventSource
    ) -> Subscription:
        """A subscription to a covenant whose whole log is at hand: its chunks (shared,
        not copied) after `after` are queued at once and it ends after them."""
        sub = cls(covenant_id, after, after, limit, source)
        sub.preload(log)
        sub.ended = True
        return sub

    def preload(self, log: Sequence[Chunk]) -> None:
        """Queue a kept log's chunks after `after`, shared, ahead of anything offered.
        They do not count against `limit`: they cost no memory of this subscriber's, and
        a socket that joins late is behind by what it joined after, not slow."""
        # The log is in seq order and may hold many one-event chunks (a streamed answer):
        # a joiner near its end must not walk all of them.
        start = bisect.bisect_right(log, self.after, key=_last_seq)
        self._chunks.extend(itertools.islice(log, start, None))
        self._backlog += len(log) - start

    @property
    def queued(self) -> int:
        """Events waiting in this subscriber's queue."""
        return self._queued

    async def next(self) -> tuple[int, PreparedText] | None:
        """The next frame: every event after the last one given, up to MAX_BATCH_EVENTS,
        as (seq of its last event, message). None once the covenant's log has ended.

        Raises SlowConsumer when this subscriber was dropped, after what it holds."""
        while True:
            if not self._replayed:
                got = await self._replay_page()
                if got is not None:
                    return got
                continue
            if self._chunks:
                got = self._take()
                if got is not None:
                    return got
                continue
            if self.dropped:
                raise SlowConsumer(
                    f"fell more than {self.limit} events behind the covenant; "
                    f"reconnect with ?after={self.after} to resume"
                )
            if self.ended:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def offer(self, chunk: Chunk) -> bool:
        """Queue a chunk; False (and nothing queued) when it would pass the limit.

        An empty queue takes any chunk: a page bigger than the limit is still bounded (by
        the long-poll's page size) and a reader in step must never be dropped for it. A
        reader in step whose socket takes the chunk's message at once (`sink`) gets it
        so, without a wake-up or a send of its own."""
        if self._queued and self._queued + len(chunk) > self.limit:
            return False
        if (
            self.sink is not None
            and self._waiter is not None  # its reader waits: nothing queued, none sending
            and not self._waiter.done()
            and chunk.first == self.after + 1
            and self.sink(chunk.message)
        ):
            self.after = chunk.last
            return True
        self._chunks.append(chunk)
        self._queued += len(chunk)
        self._wake()
        return True

    def end(self, *, dropped: bool = False) -> None:
        if dropped:
            self.dropped = True
        else:
            self.ended = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _take(self) -> tuple[int, PreparedText] | None:
        """The next frame from the queue: a chunk as its shared message when it can go
        whole (in step, or big), else small chunks joined, up to JOIN_CHARS."""
        parts: list[str] = []
        count = size = 0
        whole: Chunk | None = None  # the only chunk taken, if taken whole
        while self._chunks:
            chunk = self._chunks[0]
            fresh = chunk.first > self.after
            if parts and (
                not fresh
                or count + len(chunk) > MAX_BATCH_EVENTS
                or size + len(chunk.body) > JOIN_CHARS
            ):
                break
            self._chunks.popleft()
            if self._backlog:
                self._backlog -= 1
            else:
                self._queued -= len(chunk)
            if fresh:
                whole = chunk if not parts else None
                parts.append(chunk.body)
                count += len(chunk)
                size += len(chunk.body)
            else:  # overlaps the replay: keep only what is new
                whole = None
                for seq, text in zip(chunk.seqs, chunk.parts, strict=True):
                    if seq > self.after:
                        parts.append(text)
                        count += 1
                        size += len(text)
            self.after = max(self.after, chunk.last)
            if whole is not None and len(chunk.body) >= JOIN_CHARS:
                break
        if not count:
            return None
        if whole is not None:
            return self.after, whole.message
        return self.after, PreparedText(parts[0] if count == 1 else "[" + ",".join(parts) + "]")

    async def _replay_page(self) -> tuple[int, PreparedText] | None:
        """(after, replay_until] from the log, one page (one frame) at a time."""
        page = await self.source.events(
            self.covenant_id,
            after=self.after,
            limit=min(REPLAY_PAGE, self.replay_until - self.after),
        )
        page = [e for e in page if self.after < e.seq <= self.replay_until]
        if not page:
            self._replayed = True
            return None
        texts = [e.model_dump_json() for e in page]
        end = frame_cuts(texts)[0]  # the rest of the page is read again next time
        self.after = page[end - 1].seq
        if self.after >= self.replay_until:
            self._replayed = True
        return self.after, PreparedText(frame_text(texts[:end]))


class _Feed:
    def __init__(self, covenant_id: str, after: int) -> None:
        self.covenant_id = covenant_id
        self.last_seq = after
        self.subscribers: set[Subscription] = set()
        self.pending: list[tuple[int, str]] = []
        self.flush_scheduled = False
        self.task: asyncio.Task[None] | None = None
        self.ended = False
        self.complete = False  # the log's last word came in
        # every chunk since seq 1, while that is what this feed saw and it stays small:
        # what joiners catch up from, and late sockets once the covenant has ended
        self.log: list[Chunk] | None = [] if after == 0 else None
        self.logged = 0


class CovenantFanout:
    """The replica's registry of feeds, one per covenant with at least one subscriber."""

    def __init__(self, source: EventSource, queue_events: int = 10_000) -> None:
        self.source = source
        self.queue_events = queue_events
        self._feeds: dict[str, _Feed] = {}
        self._ended: OrderedDict[str, list[Chunk]] = OrderedDict()
        self._ended_events = 0
        self.feeds_started = 0
        self.subscriptions = 0
        self.chunks_sent = 0

    @property
    def feeds(self) -> int:
        return len(self._feeds)

    def subscribers(self, covenant_id: str | None = None) -> int:
        if covenant_id is not None:
            feed = self._feeds.get(covenant_id)
            return len(feed.subscribers) if feed else 0
        return sum(len(f.subscribers) for f in self._feeds.values())

    def subscribe(self, covenant_id: str, after: int = 0) -> Subscription:
        """Join (or start) the covenant's feed from `after`; no await, so no race."""
        feed = self._feeds.get(covenant_id)
        ended = self._ended.get(covenant_id) if feed is None else None
        if ended is not None:
            self._ended.move_to_end(covenant_id)
            self.subscriptions += 1
            return Subscription.of_ended_log(
                covenant_id, after, ended, self.queue_events, self.source
            )
        if feed is None:
            feed = _Feed(covenant_id, after)
            self._feeds[covenant_id] = feed
            feed.task = asyncio.create_task(self._run(feed), name=f"feed-{covenant_id}")
            self.feeds_started += 1
        self.subscriptions += 1
        if feed.log is not None:
            # The feed holds every chunk since seq 1: the joiner takes what it missed from
            # there (shared frames), and the feed's pending page when it is flushed.
            sub = Subscription(covenant_id, after, after, self.queue_events, self.source)
            sub.preload(feed.log)
        else:
            sub = Subscription(covenant_id, after, feed.last_seq, self.queue_events, self.source)
        feed.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        feed = self._feeds.get(sub.covenant_id)
        if feed is None:
            return
        feed.subscribers.discard(sub)
        if not feed.subscribers:
            self._feeds.pop(sub.covenant_id, None)
            if feed.task is not None and not feed.ended:
                feed.task.cancel()

    async def aclose(self) -> None:
        tasks = [f.task for f in self._feeds.values() if f.task is not None]
        self._feeds.clear()
        self._ended.clear()
        self._ended_events = 0
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t

    async def _run(self, feed: _Feed) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    pages = self.source.follow_texts(
                        feed.covenant_id, after=feed.last_seq, limit=FOLLOW_PAGE
                    )
                    async for page in pages:
                        failures = 0
                        fresh = [item for item in page if item[0] > feed.last_seq]
                        if not fresh:
                            continue
                        feed.last_seq = fresh[-1][0]
                        feed.pending.extend(fresh)
                        if not feed.flush_scheduled:
                            # Runs once this turn's events (a long-poll page) are all in.
                            feed.flush_scheduled = True
                            loop.call_soon(self._flush, feed)
                    feed.complete = True
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    # The actor restarted or a call timed out: resume from the last seq.
                    delay = FOLLOW_RETRY_S[min(failures, len(FOLLOW_RETRY_S) - 1)]
                    failures += 1
                    log.warning("feed %s: %r; resuming in %.2fs", feed.covenant_id, exc, delay)
                    await asyncio.sleep(delay)
        finally:
            self._flush(feed)
            feed.ended = True
            if feed.complete and feed.log:
                self._keep_ended(feed.covenant_id, feed.log, feed.logged)
            for sub in feed.subscribers:
                sub.end()
            if self._feeds.get(feed.covenant_id) is feed:
                del self._feeds[feed.covenant_id]

    def _keep_ended(self, covenant_id: str, log: list[Chunk], events: int) -> None:
        old = self._ended.pop(covenant_id, None)
        if old is not None:
            self._ended_events -= sum(len(c) for c in old)
        self._ended[covenant_id] = log
        self._ended_events += events
        while self._ended_events > ENDED_KEEP_EVENTS and self._ended:
            _, old = self._ended.popitem(last=False)
            self._ended_events -= sum(len(c) for c in old)

    def _flush(self, feed: _Feed) -> None:
        feed.flush_scheduled = False
        if not feed.pending:
            return
        pending, feed.pending = feed.pending, []
        start = 0
        for end in frame_cuts([text for _, text in pending]):
            chunk = Chunk(pending[start:end])
            start = end
            self.chunks_sent += 1
            if feed.log is not None:
                feed.log.append(chunk)
                feed.logged += len(chunk)
                if feed.logged > ENDED_KEEP_EVENTS:
                    feed.log = None  # too big to keep: late sockets read the store
            for sub in list(feed.subscribers):
                if not sub.offer(chunk):
                    # Nothing is taken out of its queue: what it holds is contiguous, it
                    # reads that, then learns of the drop.
                    feed.subscribers.discard(sub)
                    sub.end(dropped=True)
