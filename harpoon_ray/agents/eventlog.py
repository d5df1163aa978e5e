"""The durable, gap-free event log of each covenant, with live followers.

Appends take a `seq` at once (per covenant, from 1, no gaps) and go into a write-behind
buffer; one flusher task commits the buffer as one `WriteBatch` every few milliseconds,
together with any rows staged alongside (agent rows, covenants), so an agent's row and
its events commit in the same transaction. Readers only ever see committed events: the
in-memory tail is filled after the commit, never before. What was appended while a commit
ran goes into the next one at once: it has waited that commit's length already.

A commit costs a few ms of CPU whatever its size (DuckDB's per-statement cost), so when
nobody waits for one (no `flush()` caller, no follower) the batch may grow for up to
`idle_flush_s` first; anyone starting to wait cuts that short. The other way round, a
writer that knows its appends are a whole burst (a chunk's report) calls `commit_soon()`:
with followers waiting, the commit starts without the interval.

Followers long-poll (`wait`): they hold no queue of their own, only a shared
`asyncio.Event` per covenant, and read from a bounded tail or from the store, so memory
stays bounded whatever the number or speed of readers. The events of a covenant whose
texts are followed (`want_texts`) are encoded to their wire JSON (`text`) while their
commit runs in the store's thread, so the followers' page is ready when the commit is
(encoding a 1,500-event page after the wake took 15 ms of the delay to every socket).

An append may carry a dedup `key` (e.g. `worker-3/agent.completed/0`): a key already in
the log is skipped. That makes replays after a restart or a retried chunk idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from ..schemas import AgentExecution, Covenant, Event, EventType
from .store import AgentRow, Store, WriteBatch, fast_event
from .writes import by_covenant

log = logging.getLogger(__name__)

_WRITE_ATTEMPTS = 3
ENDED_TAIL_EVENTS = 50_000  # events kept in memory of covenants that have ended


@dataclass
class _CovenantLog:
    tenant_id: str
    next_seq: int
    committed_seq: int
    keys: set[str]
    tail: deque[Event]
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    followed: bool = False  # its texts are read: encode its events ahead from now on
    texts: dict[int, str] = field(default_factory=dict)  # seq -> wire JSON, in seq order

    def wake(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


def is_last_word(event: Event) -> bool:
    """The shard's last event of a covenant: `covenant.updated` with a terminal status,
    written right after `covenant.result` or `error`."""
    return event.type is EventType.COVENANT_UPDATED and event.payload.get("status") in (
        "completed",
        "failed",
        "cancelled",
    )


class EventLog:
    """Per-covenant logs of one shard, written through its `Store`."""

    def __init__(
        self,
        store: Store,
        *,
        tail_events: int = 16_384,  # a 1,000-agent burst (~6,000 events) read from memory
        flush_interval_s: float = 0.02,
        idle_flush_s: float = 0.1,
    ) -> None:
        self.store = store
        self.tail_events = tail_events
        self.flush_interval_s = flush_interval_s
        self.idle_flush_s = idle_flush_s
        self._urgent = asyncio.Event()  # someone waits for the next commit
        self._soon = asyncio.Event()  # a whole burst is in: followers need not wait
        self._followers = 0
        self.commits = 0
        self._logs: dict[str, _CovenantLog] = {}
        self._pending = WriteBatch()
        self._pending_done: asyncio.Future | None = None
        self._inflight_done: asyncio.Future | None = None
        self._dirty = asyncio.Event()
        self._flusher: asyncio.Task | None = None
        self.events_written = 0
        self.texts_ahead = 0  # events encoded while their commit ran
        # tails of covenants that just ended: their readers (a client's last read, a UI
        # catching up) come right after the end, and a store read scans the events table
        self._ended: OrderedDict[str, deque[Event]] = OrderedDict()
        self._ended_events = 0

    # ------------------------------------------------------------------ covenants

    async def open_covenant(self, covenant_id: str, tenant_id: str, *, fresh: bool = False) -> int:
        """Load a covenant's log state (last seq, dedup keys); returns its last seq.

        `fresh`: the caller knows the store has nothing of it (a covenant just submitted),
        so there is nothing to read: two scans of the events table per covenant queued
        1,000 concurrent submits behind each other on the store's one thread."""
        st = self._logs.get(covenant_id)
        if st is None:
            top, keys = (0, set()) if fresh else await self.store.event_state(covenant_id)
            st = self._logs.get(covenant_id)  # another caller may have opened it meanwhile
            if st is None:
                st = _CovenantLog(tenant_id, top + 1, top, keys, deque(maxlen=self.tail_events))
                self._logs[covenant_id] = st
        return st.committed_seq

    def is_open(self, covenant_id: str) -> bool:
        return covenant_id in self._logs

    def has_key(self, covenant_id: str, key: str) -> bool:
        st = self._logs.get(covenant_id)
        return st is not None and key in st.keys

    async def close_covenant(self, covenant_id: str) -> None:
        """Commit what is pending, wake its followers, and free its memory."""
        await self.flush()
        st = self._logs.pop(covenant_id, None)
        if st is not None:
            st.closed = True
            self._keep_ended(covenant_id, st.tail)
            st.wake()

    def _keep_ended(self, covenant_id: str, tail: deque[Event]) -> None:
        if not tail or tail[0].seq != 1:
            return  # only whole logs: a partial tail would still need the store
        self._ended[covenant_id] = tail
        self._ended_events += len(tail)
        while self._ended_events > ENDED_TAIL_EVENTS and self._ended:
            _, old = self._ended.popitem(last=False)
            self._ended_events -= len(old)

    # ------------------------------------------------------------------ writes

    def append(
        self,
        covenant_id: str,
        type: EventType,
        agent_id: str | None = None,
        payload: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> int | None:
        """Give the event its seq and queue it; None when `key` is already in the log."""
        st = self._logs.get(covenant_id)
        if st is None:
            raise KeyError(f"covenant {covenant_id!r} is not open in this log")
        if key is not None:
            if key in st.keys:
                return None
            st.keys.add(key)
        seq = st.next_seq
        st.next_seq += 1
        kind = type if type.__class__ is EventType else EventType(type)
        event = fast_event(
            seq, time.time(), kind, covenant_id, st.tenant_id, agent_id, payload or {}
        )
        self._pending.events.append((event, key))
        self._kick()
        return seq

    def stage(
        self,
        *,
        covenants: list[Covenant] = (),
        new_covenants: list[Covenant] = (),
        agents: list[AgentExecution] = (),
        agent_rows: list[AgentRow] = (),
        new_agents: list[str] = (),
        messages: list[dict[str, Any]] = (),
        metrics: list[dict[str, Any]] = (),
    ) -> None:
        """Rows to commit in the same transaction as the next events. `new_covenants`: ones
        the caller knows the store has not seen (written without a conflict check);
        `new_agents`: ids of agents whose first row is among `agent_rows`."""
        self._pending.covenants.extend(covenants)
        if new_covenants:
            self._pending.covenants.extend(new_covenants)
            self._pending.new_covenants.update(c.id for c in new_covenants)
        self._pending.agents.extend(agents)
        self._pending.agent_rows.extend(agent_rows)
        self._pending.new_agents.update(new_agents)
        self._pending.messages.extend(messages)
        self._pending.metrics.extend(metrics)
        self._kick()

    def _kick(self) -> None:
        self._dirty.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())

    def commit_soon(self) -> None:
        """What was appended is a whole burst: when someone follows, commit it without
        waiting out the interval (a chunk's 1,500 events waited 20-40 ms in it for nothing
        else to join them). Without followers the interval and the linger still apply."""
        if self._followers:
            self._soon.set()

    async def flush(self) -> None:
        """Return once everything appended or staged before this call is committed."""
        if self._pending:
            if self._pending_done is None:
                self._pending_done = asyncio.get_running_loop().create_future()
            self._urgent.set()
            await asyncio.shield(self._pending_done)
        elif self._inflight_done is not None:
            await asyncio.shield(self._inflight_done)

    async def _flush_loop(self) -> None:
        behind = False
        while True:
            await self._dirty.wait()
            if not behind:  # what came during the last commit has waited long enough
                await self._interval()
            await self._linger()
            self._dirty.clear()
            self._soon.clear()
            batch, self._pending = self._pending, WriteBatch()
            done, self._pending_done = self._pending_done, None
            self._inflight_done = done or asyncio.get_running_loop().create_future()
            error = await self._commit_encoding_ahead(batch)
            if error is None:
                self._inflight_done.set_result(None)
            else:
                self._inflight_done.set_exception(error)
                self._inflight_done.exception()  # mark retrieved: the callers got it
            self._inflight_done = None
            behind = bool(self._pending)

    async def _interval(self) -> None:
        """`flush_interval_s`, cut short by `commit_soon`."""
        if self._soon.is_set():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.flush_interval_s):
                await self._soon.wait()

    async def _linger(self) -> None:
        """Let a batch nobody waits for grow, until someone waits or `idle_flush_s`."""
        if self._pending_done is not None or self._followers:
            return
        left = self.idle_flush_s - self.flush_interval_s
        if left <= 0:
            return
        self._urgent.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(left):
                await self._urgent.wait()

    async def _commit_encoding_ahead(self, batch: WriteBatch) -> BaseException | None:
        """`_commit`, with the followed covenants' events encoded on this loop while the
        store's thread writes them (DuckDB lets go of the GIL as it executes)."""
        commit = asyncio.ensure_future(self._commit(batch))
        await asyncio.sleep(0)  # the commit starts and hands the batch to the thread
        for event, _ in batch.events:
            st = self._logs.get(event.covenant_id)
            if st is not None and st.followed:
                st.texts[event.seq] = event.model_dump_json()
                self.texts_ahead += 1
        return await commit

    async def _commit(self, batch: WriteBatch) -> BaseException | None:
        """Write the batch, else each covenant's part of it alone: one covenant's row that
        will not go in loses no other covenant's events. Publishes what was written,
        takes back what was not; returns the first error."""
        error = await self._write(batch)
        if error is None:
            self._publish(batch)
            return None
        parts = by_covenant(batch)
        if len(parts) == 1:
            self._forget(batch)
            return error
        first: BaseException | None = None
        for part in parts:
            failed = await self._write(part, attempts=1)  # the whole was retried already
            if failed is None:
                self._publish(part)
            else:
                self._forget(part)
                first = first or failed
        return first

    async def _write(
        self, batch: WriteBatch, attempts: int = _WRITE_ATTEMPTS
    ) -> BaseException | None:
        for attempt in range(attempts):
            try:
                await self.store.write(batch)
                self.commits += 1
                return None
            except Exception as exc:  # a disk or constraint failure: retry, then report
                log.warning("event log flush failed (attempt %d): %s", attempt + 1, exc)
                last = exc
                await asyncio.sleep(0.05 * (attempt + 1))
        return last

    def _publish(self, batch: WriteBatch) -> None:
        touched: set[str] = set()
        for event, _ in batch.events:
            st = self._logs.get(event.covenant_id)
            if st is not None:
                st.committed_seq = event.seq
                st.tail.append(event)
                touched.add(event.covenant_id)
        self.events_written += len(batch.events)
        for cid in touched:
            st = self._logs[cid]
            _drop_texts_before(st.texts, st.tail[0].seq)  # kept as long as the tail
            st.wake()

    def _forget(self, batch: WriteBatch) -> None:
        """A batch that could not be written: take its seqs and keys back, and renumber
        what its covenants appended meanwhile (still pending) to follow on from there:
        no gap, no duplicate. Nobody has seen a pending event's seq."""
        nxt: dict[str, int] = {}
        for event, key in batch.events:
            st = self._logs.get(event.covenant_id)
            if st is None:
                continue
            nxt[event.covenant_id] = min(nxt.get(event.covenant_id, event.seq), event.seq)
            st.texts.pop(event.seq, None)  # the seq goes to another event
            if key is not None:
                st.keys.discard(key)
        for event, _ in self._pending.events:
            seq = nxt.get(event.covenant_id)
            if seq is not None:
                event.__dict__["seq"] = seq
                nxt[event.covenant_id] = seq + 1
        for covenant_id, seq in nxt.items():
            self._logs[covenant_id].next_seq = seq

    async def close(self) -> None:
        await self.flush()
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher

    # ------------------------------------------------------------------ reads

    def want_texts(self, covenant_id: str) -> None:
        """Someone follows the covenant's events as texts (`text`): from now on, while it
        is open, they are encoded while their commit runs. Sticky: between two long-polls
        a follower is still following."""
        st = self._logs.get(covenant_id)
        if st is not None:
            st.followed = True

    def text(self, event: Event) -> str:
        """The committed event's wire JSON (`model_dump_json`), encoded ahead if it was."""
        st = self._logs.get(event.covenant_id)
        text = st.texts.get(event.seq) if st is not None else None
        return event.model_dump_json() if text is None else text

    def last_seq(self, covenant_id: str) -> int | None:
        st = self._logs.get(covenant_id)
        return None if st is None else st.committed_seq

    async def read(self, covenant_id: str, after: int = 0, limit: int = 1000) -> list[Event]:
        """Committed events with seq > after, oldest first, at most `limit`."""
        st = self._logs.get(covenant_id)
        tail = st.tail if st is not None else self._ended.get(covenant_id)
        if tail and tail[0].seq <= after + 1:
            start = after + 1 - tail[0].seq
            end = min(len(tail), start + limit)
            return [tail[i] for i in range(max(start, 0), end)]
        return await self.store.events(covenant_id, after, limit)

    async def wait(
        self, covenant_id: str, after: int = 0, timeout_s: float = 10.0, limit: int = 1000
    ) -> list[Event]:
        """Events after `after`: at once if there are some, else the first to come within
        `timeout_s` (an empty list when none came or the covenant's log was closed)."""
        st = self._logs.get(covenant_id)
        if st is None or st.committed_seq > after:
            return await self.read(covenant_id, after, limit)
        changed = st.changed
        self._followers += 1  # commits come at the short interval while anyone follows
        self._urgent.set()
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await changed.wait()
        finally:
            self._followers -= 1
        return await self.read(covenant_id, after, limit)


def _drop_texts_before(texts: dict[int, str], seq: int) -> None:
    """Forget the texts of seqs below `seq` (the oldest are first: seq order)."""
    while texts:
        first = next(iter(texts))
        if first >= seq:
            return
        del texts[first]
