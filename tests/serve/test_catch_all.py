"""An unexpected exception becomes a generic 500 JSON body; the trace stays in the log."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from harpoon_ray.serve.errors import CatchAll


async def _boom(request):
    raise RuntimeError("secret internals: /etc/passwd")


async def get_behind_catch_all(handler, caplog) -> httpx.Response:
    """GET a route served by `handler` behind CatchAll, its log caught by `caplog`."""
    app = Starlette(routes=[Route("/r", handler)], middleware=[Middleware(CatchAll)])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="harpoon.serve"):
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/r")


async def test_unexpected_error_is_a_generic_500(caplog) -> None:
    """The client sees no message, type or trace of the failure; the server log does."""
    r = await get_behind_catch_all(_boom, caplog)
    assert r.status_code == 500
    assert r.json()["error"]["type"] == "internal_error"
    assert "secret" not in r.text and "Traceback" not in r.text
    assert "secret internals" in caplog.text


async def _callee_cancelled(request):
    """Awaits something cancelled elsewhere (a remote call Ray gave up on, say)."""
    gone = asyncio.get_running_loop().create_future()
    gone.cancel()
    await gone


async def test_a_callees_cancellation_is_a_500_with_a_trace_not_a_silent_one(caplog) -> None:
    """The request itself was not cancelled: the client gets the JSON 500, the log a trace."""
    r = await get_behind_catch_all(_callee_cancelled, caplog)
    assert r.status_code == 500
    assert r.json()["error"]["type"] == "internal_error"
    assert "CancelledError" in caplog.text


async def test_a_request_cancelled_itself_is_not_answered() -> None:
    """Its client left (or the server stops): the cancellation goes on up, no answer."""
    sent: list[dict] = []
    started = asyncio.Event()

    async def slow(scope, receive, send):
        started.set()
        await asyncio.sleep(30)

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "path": "/slow", "method": "GET", "headers": []}
    task = asyncio.create_task(CatchAll(slow)(scope, receive, send))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sent == []
