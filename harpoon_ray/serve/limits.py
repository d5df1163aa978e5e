"""Limits enforced before any handler runs: request bodies, and HTTP admission.

A declared Content-Length over the limit is refused at once; a chunked body is read up to
the limit and refused as soon as it passes it, so a client cannot make a replica buffer
an unbounded upload.

HTTP admission lives here rather than in Serve's `max_ongoing_requests` because every
open WebSocket holds one of those slots for its whole life: a replica sized for 11,000
sockets would otherwise run 11,000 HTTP requests at once and let p99 grow without
bound. Sockets are not counted here; HTTP requests are, with a bounded queue and an
immediate 503 past it.
"""

from __future__ import annotations

import asyncio

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_body


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(
        error_body(
            "request_too_large",
            f"request body is larger than {limit} bytes (HARPOON_MAX_BODY_BYTES)",
            "body",
            413,
        ),
        status_code=413,
    )


def _overloaded(running: int, queued: int) -> JSONResponse:
    return JSONResponse(
        error_body(
            "overloaded",
            f"the gateway is running {running} requests with {queued} waiting "
            "(HARPOON_HTTP_MAX_ONGOING / HARPOON_HTTP_MAX_QUEUED); retry shortly",
            None,
            503,
        ),
        status_code=503,
        headers={"retry-after": "1"},
    )


class HttpAdmission:
    """ASGI middleware: at most `max_ongoing` HTTP requests run, `max_queued` wait for a
    turn, any more get a 503 at once. WebSockets pass straight through."""

    def __init__(self, app: ASGIApp, max_ongoing: int, max_queued: int) -> None:
        self.app = app
        self.max_ongoing = max_ongoing
        self.max_queued = max_queued
        self.running = 0
        self.waiting = 0
        self.rejected = 0
        self._turn: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._turn is None:
            self._turn = asyncio.Semaphore(self.max_ongoing)
        turn = self._turn
        if turn.locked():
            if self.waiting >= self.max_queued:
                self.rejected += 1
                await _overloaded(self.running, self.waiting)(scope, receive, send)
                return
            self.waiting += 1
            try:
                await turn.acquire()
            finally:
                self.waiting -= 1
        else:
            await turn.acquire()
        self.running += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.running -= 1
            turn.release()


class BodyLimit:
    """ASGI middleware refusing HTTP bodies over `max_bytes` with a 413 JSON error."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None:
            if length > self.max_bytes:
                await _too_large(self.max_bytes)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        # No declared length (chunked): buffer up to the limit, then replay.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _too_large(self.max_bytes)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
