"""One live follower per covenant per gateway replica, fanned out to its local sockets.

A thousand sockets on one covenant cost one long-poll on the Orchestrator actor, not a
thousand: the feed follows the log once, serialises each event once and hands the text
to every subscriber's bounded queue.

Resume without gap or duplicate: a subscriber joining with `after=A` while the feed has
already broadcast up to `L` is registered first (so it misses nothing from `L+1` on),
then reads `A+1..L` from the log; it yields every seq once, in order, because it skips
anything at or below the last seq it yielded. A subscriber whose queue fills (a consumer
slower than the covenant) is dropped and told why, never buffered without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from ..schemas import Event

log = logging.getLogger("harpoon.serve.fanout")

REPLAY_PAGE = 1000
FOLLOW_RETRY_S = (0.05, 0.2, 0.5, 1.0, 2.0)


class EventSource(Protocol):
    """What the fan-out needs of the agents layer (HarpoonClient meets it)."""

    async def events(self, covenant_id: str, after: int = 0, limit: int = 1000) -> list[Event]: ...

    def follow(self, covenant_id: str, after: int = 0) -> AsyncIterator[Event]: ...


class SlowConsumer(Exception):
    """The subscriber's queue filled up: it fell `limit` events behind the covenant."""


@dataclass(eq=False)
class Subscription:
    """One socket's view of one covenant: `next()` gives (seq, json) in order, once each."""

    covenant_id: str
    after: int
    replay_until: int
    queue: asyncio.Queue[tuple[int, str] | None]
    source: EventSource
    dropped: bool = False
    ended: bool = False
    _replay: list[tuple[int, str]] = field(default_factory=list)
    _replayed: bool = False

    async def next(self, idle_s: float | None = None) -> tuple[int, str] | None:
        """The next event, or None when the covenant's log has ended.

        Raises TimeoutError after `idle_s` seconds without one (heartbeat time) and
        SlowConsumer when this subscriber was dropped.
        """
        while True:
            if not self._replayed:
                await self._fill_replay()
            if self._replay:
                seq, text = self._replay.pop(0)
                if seq > self.after:
                    self.after = seq
                    return seq, text
                continue
            if self.dropped and self.queue.empty():
                raise SlowConsumer(
                    f"fell more than {self.queue.maxsize} events behind the covenant; "
                    f"reconnect with ?after={self.after} to resume"
                )
            if self.ended and self.queue.empty():
                return None
            item = await asyncio.wait_for(self.queue.get(), idle_s)
            if item is None:
                continue
            seq, text = item
            if seq > self.after:
                self.after = seq
                return seq, text

    async def _fill_replay(self) -> None:
        """Read (after, replay_until] from the log, a page at a time, as the reader goes."""
        if self.after >= self.replay_until:
            self._replayed = True
            return
        page = await self.source.events(
            self.covenant_id,
            after=self.after,
            limit=min(REPLAY_PAGE, self.replay_until - self.after),
        )
        page = [e for e in page if self.after < e.seq <= self.replay_until]
        if not page:
            self._replayed = True
            return
        self._replay = [(e.seq, e.model_dump_json()) for e in page]


class _Feed:
    def __init__(self, covenant_id: str, after: int) -> None:
        self.covenant_id = covenant_id
        self.last_seq = after
        self.subscribers: set[Subscription] = set()
        self.task: asyncio.Task[None] | None = None
        self.ended = False


class CovenantFanout:
    """The replica's registry of feeds, one per covenant with at least one subscriber."""

    def __init__(self, source: EventSource, queue_events: int = 10_000) -> None:
        self.source = source
        self.queue_events = queue_events
        self._feeds: dict[str, _Feed] = {}
        self.feeds_started = 0
        self.subscriptions = 0

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
        if feed is None:
            feed = _Feed(covenant_id, after)
            self._feeds[covenant_id] = feed
            feed.task = asyncio.create_task(self._run(feed), name=f"feed-{covenant_id}")
            self.feeds_started += 1
        self.subscriptions += 1
        sub = Subscription(
            covenant_id=covenant_id,
            after=after,
            replay_until=feed.last_seq,
            queue=asyncio.Queue(self.queue_events),
            source=self.source,
        )
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
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t

    async def _run(self, feed: _Feed) -> None:
        failures = 0
        try:
            while True:
                try:
                    async for event in self.source.follow(feed.covenant_id, after=feed.last_seq):
                        failures = 0
                        if event.seq <= feed.last_seq:
                            continue
                        feed.last_seq = event.seq
                        self._broadcast(feed, (event.seq, event.model_dump_json()))
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
            feed.ended = True
            for sub in feed.subscribers:
                sub.ended = True
                _offer(sub, None)  # wakes a waiting reader; a full queue is awake anyway
            if self._feeds.get(feed.covenant_id) is feed:
                del self._feeds[feed.covenant_id]

    def _broadcast(self, feed: _Feed, item: tuple[int, str]) -> None:
        for sub in list(feed.subscribers):
            if not _offer(sub, item):
                # Nothing is taken out of its queue: what it holds is contiguous, it
                # reads that, then learns of the drop.
                sub.dropped = True
                feed.subscribers.discard(sub)


def _offer(sub: Subscription, item: tuple[int, str] | None) -> bool:
    try:
        sub.queue.put_nowait(item)
    except asyncio.QueueFull:
        return False
    return True
