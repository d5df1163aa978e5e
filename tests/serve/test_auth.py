"""With HARPOON_API_KEY set, every API route and socket needs the matching bearer token."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

pytestmark = pytest.mark.serve


def test_open_app_needs_no_token(http: httpx.Client) -> None:
    """Without HARPOON_API_KEY the loopback app answers without any token."""
    assert http.get("/api/models").status_code == 200


def test_missing_token_is_a_401(locked_app: str) -> None:
    """No Authorization header on the locked app gets 401 JSON saying what to send."""
    r = httpx.get(locked_app + "/api/models", timeout=30)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    err = r.json()["error"]
    assert err["type"] == "authentication_error"
    assert err["param"] == "authorization"


def test_wrong_token_is_a_401(locked_app: str) -> None:
    """A bearer token that does not match is refused."""
    r = httpx.get(locked_app + "/api/models", headers={"authorization": "Bearer nope"})
    assert r.status_code == 401
    assert "does not match" in r.json()["error"]["message"]


def test_matching_token_is_let_through(locked_app: str, api_key: str) -> None:
    """The right token opens every route."""
    headers = {"authorization": f"Bearer {api_key}"}
    r = httpx.get(locked_app + "/api/models", headers=headers, timeout=30)
    assert r.status_code == 200
    assert r.json()["models"]


async def test_a_socket_without_the_key_is_told_why_then_closed_1008(locked_app: str) -> None:
    """A socket without `?token=` gets an `error` frame naming the token, then close 1008
    (a browser can read both; a refusal at the handshake would reach it as 1006)."""
    url = locked_app.replace("http://", "ws://", 1) + "/api/agents/mediator/ann/ws"
    async with connect(url) as ws:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 30)
    assert frame["type"] == "error"
    assert frame["error"]["type"] == "authentication_error"
    assert frame["error"]["param"] == "token"
    assert "?token=" in frame["error"]["message"]
    assert closed.value.rcvd.code == 1008


async def test_a_socket_with_the_key_in_its_query_is_served(locked_app: str, api_key: str) -> None:
    """`?token=<key>` lets a socket through: a ping gets its pong."""
    url = locked_app.replace("http://", "ws://", 1) + f"/api/agents/mediator/ann/ws?token={api_key}"
    async with connect(url) as ws:
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "pong"


async def test_the_tenant_check_runs_on_the_event_loop_not_in_a_thread() -> None:
    """FastAPI sends a sync dependency to its thread pool: per request a hand-off, and a
    scan of every task the replica holds (one per open socket)."""
    import threading

    from fastapi import Depends, FastAPI

    from harpoon_ray.serve.auth import TenantResolver

    seen: dict[str, int] = {}

    class Recording(TenantResolver):
        def resolve(self, conn):
            seen["resolver"] = threading.get_ident()
            return super().resolve(conn)

    app = FastAPI()

    @app.get("/t")
    async def endpoint(tenant_id: str = Depends(Recording(None))) -> dict[str, str]:
        seen["endpoint"] = threading.get_ident()
        return {"tenant": tenant_id}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/t")).json() == {"tenant": "local"}
    assert seen["resolver"] == seen["endpoint"]
