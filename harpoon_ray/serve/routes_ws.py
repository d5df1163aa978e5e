"""The two WebSockets: one covenant's events, and a user's mediator session.

Server frames are JSON text. Log events travel as stored (`seq`, `type`, `payload` ...):
one event is sent as its object; several ready at once (a long-poll page, a replay
page, small chunks queued for a socket a little behind) as one JSON **array** of
events in `seq` order, at most 1,000 per frame. Frames are encoded (and compressed)
once per covenant feed and go to every socket as built, so a reader must accept both
shapes.
Control frames are objects without a `seq`: `heartbeat`, `pong`, `submitted`, `end` (a
covenant's log is complete), `error` (`{"type": "error", "error": {"type", "message",
"param"}}`); they are never inside an array.
A bad client frame gets an `error` frame and the connection stays open. A client too
slow to keep up gets an `error` of type `slow_consumer` naming the seq to resume from,
then is closed (1013); it reconnects with `?after=SEQ` and misses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import json
import logging
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ..errors import HarpoonError
from ..schemas import QueryRequest
from .auth import TenantResolver
from .context import GatewayContext
from .fanout import SlowConsumer, Subscription
from .ws_frames import MESSAGE_KEY, SCOPE_EXTENSION, WRITE_NOW, PreparedText

log = logging.getLogger("harpoon.serve.ws")

CLOSE_NORMAL = 1000
CLOSE_TRY_AGAIN = 1013
CLOSE_NOT_FOUND = 4404
MAX_FRAME_CHARS = 200_000
TRIM_AFTER_CLOSES = 100  # closes in a burst worth handing memory back for


class _Ping(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["ping"]


class _Query(QueryRequest):
    """A QueryRequest sent as a socket frame."""

    type: Literal["query"]


class _Follow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["follow", "cancel"]
    covenant_id: str = Field(min_length=1, max_length=64)
    after: int = Field(default=0, ge=0)


_FRAME = TypeAdapter(Annotated[_Ping | _Query | _Follow, Field(discriminator="type")])


class OpenSockets:
    """The replica's open sockets: one ticker sends every socket's heartbeat (instead of a
    task per socket) and gives memory back to the OS after a burst of closes.

    The ticker scans the sockets a few times per period and sends a heartbeat to those
    quiet for a period. Freed socket buffers stay in glibc's heap unless trimmed, so once
    closes stop for a second it runs the cyclic GC, then `malloc_trim(0)` (in a thread:
    it may take a few ms). It stops when no socket is left, after a last trim."""

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self.tick_s = max(0.05, min(1.0, period_s / 4))
        self.conns: set[Connection] = set()
        self.closes_since_trim = 0
        self.last_close = 0.0
        self.trims = 0
        self._task: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()

    def add(self, conn: Connection) -> None:
        self.conns.add(conn)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._tick(), name="ws-heartbeats")

    def discard(self, conn: Connection) -> None:
        self.conns.discard(conn)
        self.closes_since_trim += 1
        self.last_close = time.monotonic()

    async def _tick(self) -> None:
        while self.conns or self.closes_since_trim:
            await asyncio.sleep(self.tick_s)
            now = time.monotonic()
            for conn in self.conns:
                if now - conn.last_sent >= self.period_s and not conn.sending:
                    task = asyncio.create_task(conn.heartbeat())
                    self._sending.add(task)
                    task.add_done_callback(self._sending.discard)
            burst_over = self.closes_since_trim and now - self.last_close > 1.0
            if burst_over and (self.closes_since_trim >= TRIM_AFTER_CLOSES or not self.conns):
                await self._trim()

    async def _trim(self) -> None:
        # A closed socket's objects are mostly in reference cycles (protocol, transport,
        # tasks): the cyclic GC must free them before there is anything to give back.
        self.closes_since_trim = 0
        self.trims += 1
        gc.collect()
        await asyncio.to_thread(malloc_trim)


def malloc_trim() -> None:
    """Give glibc's free heap pages back to the OS (a no-op on other C libraries)."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _libc = False
    if _libc:
        _libc.malloc_trim(0)


_libc: ctypes.CDLL | bool | None = None


class Connection:
    """One socket: serialised sends and the subscriptions it pumps (a task per followed
    covenant; an idle socket has none). Where the server takes prepared frames (the
    replica's own uvicorn, ws_protocol) a message goes with its frame built once."""

    __slots__ = (
        "_pumps",
        "_send_lock",
        "_write_now",
        "closed",
        "ctx",
        "last_sent",
        "prepared",
        "ws",
    )

    def __init__(self, ws: WebSocket, ctx: GatewayContext) -> None:
        self.ws = ws
        self.ctx = ctx
        ext = (ws.scope.get("extensions") or {}).get(SCOPE_EXTENSION)
        self.prepared = ext is not None
        self._write_now = ext.get(WRITE_NOW) if isinstance(ext, dict) else None
        self._send_lock = asyncio.Lock()
        self._pumps: dict[str, asyncio.Task[None]] | None = None
        self.closed = False
        self.last_sent = time.monotonic()

    @property
    def sending(self) -> bool:
        return self._send_lock.locked()

    async def send_text(self, text: str | PreparedText) -> None:
        # Even a one-off frame goes prepared: a short one (a heartbeat) is then never
        # deflated, and a long one is deflated by one fresh compressor, as any would be.
        prepared = text if isinstance(text, PreparedText) else PreparedText(text)
        message: dict[str, Any] = {"type": "websocket.send", "text": prepared.text}
        if self.prepared:
            message[MESSAGE_KEY] = prepared
        async with self._send_lock:
            await self.ws.send(message)
        self.last_sent = time.monotonic()

    def send_now(self, prepared: PreparedText) -> bool:
        """Write a frame at once, from the caller's turn, when nothing else is being sent
        on this socket and the server offers it (ws_frames.WRITE_NOW); else False."""
        if self._write_now is None or self.closed or self._send_lock.locked():
            return False
        try:
            sent = self._write_now(prepared)
        except Exception:  # the transport went away: the pump's own send will say so
            return False
        if sent:
            self.last_sent = time.monotonic()
        return sent

    async def send(self, frame: dict[str, Any]) -> None:
        await self.send_text(json.dumps(frame))

    async def heartbeat(self) -> None:
        with contextlib.suppress(Exception):
            await self.send({"type": "heartbeat", "ts": time.time()})

    async def error(self, type_: str, message: str, param: str | None = None) -> None:
        body = {"type": type_, "message": message, "param": param}
        await self.send({"type": "error", "error": body})

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Start the closing handshake; the reader returns when the client answers."""
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                async with self._send_lock:
                    await self.ws.close(code, reason[:120])

    def follow(self, covenant_id: str, after: int, *, close_at_end: bool) -> None:
        if self._pumps is None:
            self._pumps = {}
        elif covenant_id in self._pumps and not self._pumps[covenant_id].done():
            return
        sub = self.ctx.fanout.subscribe(covenant_id, after)
        if self._write_now is not None:
            sub.sink = self.send_now
        self._pumps[covenant_id] = asyncio.create_task(self._pump(sub, close_at_end))

    async def _pump(self, sub: Subscription, close_at_end: bool) -> None:
        try:
            while True:
                item = await sub.next()
                if item is None:
                    await self.send(
                        {"type": "end", "covenant_id": sub.covenant_id, "last_seq": sub.after}
                    )
                    if close_at_end:
                        await self.close(CLOSE_NORMAL, "covenant ended")
                    return
                await self.send_text(item[1])
        except SlowConsumer as exc:
            with contextlib.suppress(Exception):
                await self.error("slow_consumer", str(exc), "after")
            await self.close(CLOSE_TRY_AGAIN, f"slow consumer; resume with after={sub.after}")
        except (WebSocketDisconnect, RuntimeError, ConnectionError):
            await self.close()
        finally:
            self.ctx.fanout.unsubscribe(sub)

    async def shutdown(self) -> None:
        pumps = list((self._pumps or {}).values())
        for task in pumps:
            task.cancel()
        for task in pumps:
            with contextlib.suppress(BaseException):
                await task


async def _read_frames(conn: Connection, handle: Any) -> None:
    """Read client frames until the socket closes; bad ones get an error frame."""
    try:
        while True:
            try:
                raw = await conn.ws.receive_text()
            except KeyError:  # a binary frame: receive_text() finds no "text" key
                await conn.error("invalid_frame", "send JSON text frames, not binary", "frame")
                continue
            if len(raw) > MAX_FRAME_CHARS:
                await conn.error(
                    "invalid_frame", f"frame over {MAX_FRAME_CHARS} characters", "frame"
                )
                continue
            try:
                frame = _FRAME.validate_json(raw)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"][1:]) or "type"
                await conn.error("invalid_frame", f"{where}: {first['msg']}", where)
                continue
            try:
                await handle(frame)
            except HarpoonError as exc:
                await conn.error(exc.error_type, exc.message, exc.param)
    except (WebSocketDisconnect, RuntimeError, ConnectionError):
        conn.closed = True


async def _session(conn: Connection, beats: OpenSockets, handle: Any) -> None:
    """The socket's life on the route's own task: read frames until it closes."""
    beats.add(conn)
    try:
        await _read_frames(conn, handle)
    finally:
        beats.discard(conn)
        await conn.shutdown()


def ws_routes(ctx: GatewayContext, tenant: TenantResolver) -> APIRouter:
    router = APIRouter(dependencies=[Depends(tenant)])
    beats = OpenSockets(ctx.settings.ws_heartbeat_s)

    @router.websocket("/api/agents/orchestrator/{task_id}/ws")
    async def orchestrator_ws(
        ws: WebSocket,
        task_id: str,
        tenant_id: str = Depends(tenant),
        after: int = Query(default=0, ge=0),
    ) -> None:
        await ws.accept()
        conn = Connection(ws, ctx)
        try:
            await ctx.owners.check(task_id, tenant_id)
        except HarpoonError as exc:
            await conn.error(exc.error_type, exc.message, exc.param)
            await conn.close(CLOSE_NOT_FOUND, "unknown covenant")
            return

        async def handle(frame: Any) -> None:
            if isinstance(frame, _Ping):
                await conn.send({"type": "pong", "ts": time.time()})
            elif isinstance(frame, _Follow) and frame.type == "cancel":
                await (await ctx.client()).cancel(task_id)
            else:
                await conn.error("invalid_frame", "this socket takes ping or cancel", "type")

        conn.follow(task_id, after, close_at_end=True)
        await _session(conn, beats, handle)

    @router.websocket("/api/agents/mediator/{user_id}/ws")
    async def mediator_ws(
        ws: WebSocket,
        user_id: str,
        tenant_id: str = Depends(tenant),
        covenant_id: str | None = Query(default=None, max_length=64),
        after: int = Query(default=0, ge=0),
    ) -> None:
        await ws.accept()
        conn = Connection(ws, ctx)

        async def handle(frame: Any) -> None:
            client = await ctx.client()
            if isinstance(frame, _Ping):
                await conn.send({"type": "pong", "ts": time.time()})
            elif isinstance(frame, _Query):
                query = QueryRequest(**frame.model_dump(exclude={"type"}))
                covenant = await client.submit(user_id, query, tenant_id)
                await conn.send({"type": "submitted", "covenant": covenant.model_dump(mode="json")})
                conn.follow(covenant.id, 0, close_at_end=False)
            elif frame.type == "follow":
                await ctx.owners.check(frame.covenant_id, tenant_id)
                conn.follow(frame.covenant_id, frame.after, close_at_end=False)
            else:
                await ctx.owners.check(frame.covenant_id, tenant_id)
                await client.cancel(frame.covenant_id)

        if covenant_id is not None:
            try:
                await ctx.owners.check(covenant_id, tenant_id)
                conn.follow(covenant_id, after, close_at_end=False)
            except HarpoonError as exc:
                await conn.error(exc.error_type, exc.message, exc.param)
        await _session(conn, beats, handle)

    return router
