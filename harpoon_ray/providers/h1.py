"""A small keep-alive HTTP/1.1 client for the wire providers: one POST at a time per
connection, the answer parsed by httptools (uvicorn's parser), one pool per event loop.

Why not aiohttp: on the gateway's hot path, a POST and its read through aiohttp's
`ClientSession` cost ~160 µs of CPU per call on 2 cores (request and response objects,
a writer task, timers, header multidicts); the same exchange over an asyncio protocol
costs ~35 µs, and the gateway's one-client latency is mostly CPU (benchmarks/README.md,
"Gateway"). The wire providers need only this: POST a JSON body, read a status, a few
headers and a body whole or as it arrives; no redirects, cookies or proxies.

Failures are OSErrors, so callers map them as they map socket errors: `ConnectionError`
for a connection lost or an answer that is not HTTP, `TimeoutError` for a slow one.
"""

from __future__ import annotations

import asyncio
import ssl
import weakref
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httptools

READ_PAUSE_BYTES = 1 << 20  # a stream's unread bytes past which the socket stops reading


class BrokenResponse(ConnectionError):
    """The connection closed mid-answer, or what came back was not HTTP/1.1."""


class Target:
    """A URL's origin and the request head that never changes for it."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default_port = self.port == (443 if self.tls else 80)
        host = self.host if default_port else f"{self.host}:{self.port}"
        lines = [f"POST {path} HTTP/1.1", f"host: {host}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.head = ("\r\n".join(lines) + "\r\ncontent-length: ").encode("latin-1")
        self.origin = (self.host, self.port, self.tls)

    def request(self, body: bytes) -> bytes:
        return b"".join((self.head, str(len(body)).encode(), b"\r\n\r\n", body))


class Response:
    """Status, headers (lower-cased names) and a body read whole or chunk by chunk."""

    def __init__(self, conn: _Connection, pool: H1Pool) -> None:
        self.status = conn.status
        self.headers = conn.headers
        self._conn: _Connection | None = conn
        self._pool = pool

    async def read(self, timeout_s: float) -> bytes:
        """The whole body, each wait for more bounded by `timeout_s`; the connection goes
        back to the pool when it may be reused."""
        conn = self._owned()
        while not conn.complete:
            await conn.wait(timeout_s)
        body = b"".join(conn.body)
        conn.body.clear()
        self.release()
        return body

    async def chunks(self, timeout_s: float) -> AsyncIterator[bytes]:
        """Body bytes as they arrive, each wait for more bounded by `timeout_s`."""
        conn = self._owned()
        while True:
            if conn.body:
                data = b"".join(conn.body)
                conn.body.clear()
                conn.resume()
                yield data
            elif conn.complete:
                return
            else:
                await conn.wait(timeout_s)

    def release(self) -> None:
        """Hand the connection back: kept for the next call if the answer was read to its
        end and both sides allow keep-alive, else closed."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.put(conn)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            self._pool.put(conn)

    def _owned(self) -> _Connection:
        if self._conn is None:
            raise BrokenResponse("the response was already released")
        return self._conn


class _Connection(asyncio.Protocol):
    """One socket and the parser state of the answer being read on it."""

    def __init__(self, origin: tuple[str, int, bool]) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self.reset()

    def reset(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.buffered = 0
        self.headers_done = False
        self.complete = False
        self.keep_alive = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(BrokenResponse(f"malformed HTTP answer: {exc}"))
            return
        if self.buffered > READ_PAUSE_BYTES and not self._paused and self.transport:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.headers_done and not self._framed():
            self.complete = True  # a body without length or chunks ends when the socket does
        if not self.complete:
            why = f": {exc}" if exc else ""
            self._fail(BrokenResponse(f"connection closed before the answer ended{why}"))
        self._wake()

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_done = True

    def on_body(self, data: bytes) -> None:
        self.body.append(data)
        self.buffered += len(data)

    def on_message_complete(self) -> None:
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()  # reads False once this returns

    # used by the pool and the response
    def _framed(self) -> bool:
        return "content-length" in self.headers or "transfer-encoding" in self.headers

    def _fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self.close()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout_s: float) -> None:
        """Until more arrived or the connection ended; raises what broke it, or
        TimeoutError after `timeout_s` without news (a timer handle: asyncio.timeout's
        task bookkeeping costs more, and this runs for every call)."""
        if self.error is not None:
            raise self.error
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(timeout_s, _expire, waiter, timeout_s)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None
        if self.error is not None and not (self.complete or self.body):
            raise self.error

    def resume(self) -> None:
        self.buffered = 0
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def reusable(self) -> bool:
        return self.complete and self.keep_alive and not self.closed and self.error is None

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()
        self.closed = True


def _expire(waiter: asyncio.Future[None], timeout_s: float) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError(f"no answer within {timeout_s} s"))


class H1Pool:
    """Idle keep-alive connections per origin, at most `limit` requests in flight."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.closed = False
        self._idle: dict[tuple[str, int, bool], list[_Connection]] = {}
        self._slots = asyncio.Semaphore(limit)
        self._busy: set[_Connection] = set()
        self._tls: ssl.SSLContext | None = None

    async def post(
        self, target: Target, body: bytes, connect_timeout_s: float, read_timeout_s: float
    ) -> Response:
        """Send the POST and wait for the answer's status and headers."""
        if self.closed:
            raise BrokenResponse("the HTTP pool is closed")
        payload = target.request(body)
        await self._slots.acquire()
        try:
            # A POST is not replayed on a fresh socket when a kept-alive one turns out
            # closed (RFC 9112 9.3.1: only idempotent requests are): the router's retry
            # decides, as it does for any failed call.
            conn = self._reuse(target.origin) or await self._connect(target, connect_timeout_s)
            return await self._exchange(conn, payload, read_timeout_s)
        except BaseException:
            self._slots.release()
            raise

    async def _exchange(self, conn: _Connection, payload: bytes, timeout_s: float) -> Response:
        self._busy.add(conn)
        try:
            conn.reset()
            assert conn.transport is not None
            conn.transport.write(payload)
            while not conn.headers_done:
                await conn.wait(timeout_s)
        except BaseException:
            conn.close()
            self._busy.discard(conn)
            raise
        return Response(conn, self)

    def put(self, conn: _Connection) -> None:
        """A response is done with its connection: keep it idle or drop it."""
        if conn not in self._busy:
            return
        self._busy.discard(conn)
        self._slots.release()
        if self.closed or not conn.reusable():
            conn.close()
            return
        idle = self._idle.setdefault(conn.origin, [])
        if len(idle) < self.limit:
            idle.append(conn)
        else:
            conn.close()

    def _reuse(self, origin: tuple[str, int, bool]) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        return None

    async def _connect(self, target: Target, timeout_s: float) -> _Connection:
        loop = asyncio.get_running_loop()
        tls: dict = {}
        if target.tls:
            if self._tls is None:
                self._tls = ssl.create_default_context()
            tls = {"ssl": self._tls, "server_hostname": target.host}
        async with asyncio.timeout(timeout_s):
            _, conn = await loop.create_connection(
                lambda: _Connection(target.origin), target.host, target.port, **tls
            )
        return conn

    async def aclose(self) -> None:
        self.closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
        for conn in list(self._busy):
            conn.close()


# One pool per event loop (its sockets belong to that loop), then per size.
_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, list]] = (
    weakref.WeakKeyDictionary()
)


class PoolLease:
    """A provider's claim on its process's shared pool for the running loop: `get()`
    makes it on first use, `release()` gives the claim back, the last one closes it."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._entry: list | None = None  # [pool, users]

    @property
    def pool(self) -> H1Pool | None:
        return self._entry[0] if self._entry is not None else None

    def get(self) -> H1Pool:
        loop = asyncio.get_running_loop()
        entry = self._entry
        if entry is not None and self._loop is loop and not entry[0].closed:
            return entry[0]
        self._drop()
        per_loop = _POOLS.setdefault(loop, {})
        entry = per_loop.get(self._limit)
        if entry is None or entry[0].closed:
            entry = per_loop[self._limit] = [H1Pool(self._limit), 0]
        entry[1] += 1
        self._loop, self._entry = loop, entry
        return entry[0]

    def _drop(self) -> H1Pool | None:
        entry, loop, self._entry, self._loop = self._entry, self._loop, None, None
        if entry is None:
            return None
        entry[1] -= 1
        if entry[1] > 0:
            return None
        per_loop = _POOLS.get(loop, {}) if loop is not None else {}
        if per_loop.get(self._limit) is entry:
            del per_loop[self._limit]
        return entry[0]

    async def release(self) -> None:
        pool = self._drop()
        if pool is not None:
            await pool.aclose()
