"""HTTP admission: a bounded number of requests run, a bounded number wait, the rest 503."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from harpoon_ray.serve.limits import HttpAdmission


def gated_app(gate: asyncio.Event, started: list[str]) -> HttpAdmission:
    """An app whose requests hold their turn until `gate` opens, behind the admission."""

    async def slow(request: Request) -> PlainTextResponse:
        started.append(request.url.path)
        await gate.wait()
        return PlainTextResponse("ok")

    return HttpAdmission(Starlette(routes=[Route("/{name}", slow)]), max_ongoing=2, max_queued=1)


async def fill(c: httpx.AsyncClient, app: HttpAdmission, started: list) -> list[asyncio.Task]:
    """Send three requests and give them up to 0.5 s to settle as 2 running, 1 waiting."""
    held = [asyncio.create_task(c.get(f"/r{i}")) for i in range(3)]
    for _ in range(50):
        await asyncio.sleep(0.01)
        if len(started) == 2 and app.waiting == 1:
            break
    return held


async def test_past_running_and_waiting_requests_the_next_gets_503_at_once() -> None:
    """With 2 running and 1 waiting, a 4th request is refused at once with a typed error;
    the others all finish once the gate opens."""
    gate, started = asyncio.Event(), []
    app = gated_app(gate, started)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        held = await fill(c, app, started)
        refused = await asyncio.wait_for(c.get("/r3"), 5)
        gate.set()
        done = await asyncio.gather(*held)
    assert refused.status_code == 503
    assert refused.json()["error"]["type"] == "overloaded"
    assert refused.headers["retry-after"] == "1"
    assert [r.status_code for r in done] == [200, 200, 200]
    assert app.rejected == 1 and app.running == 0 and app.waiting == 0


async def test_a_waiting_request_runs_when_a_turn_frees() -> None:
    """The queued request starts as soon as a running one ends, not before."""
    gate, started = asyncio.Event(), []
    app = gated_app(gate, started)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        held = await fill(c, app, started)
        assert len(started) == 2
        gate.set()
        await asyncio.gather(*held)
    assert sorted(started) == ["/r0", "/r1", "/r2"]


async def test_websocket_scopes_are_not_counted() -> None:
    """A websocket scope goes straight to the app: sockets hold Serve's slots, not these."""
    seen: list[str] = []

    async def inner(scope, receive, send) -> None:
        seen.append(scope["type"])

    app = HttpAdmission(inner, max_ongoing=1, max_queued=0)
    await app({"type": "websocket"}, None, None)
    assert seen == ["websocket"] and app.running == 0
