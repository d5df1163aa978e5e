"""The replica's own uvicorn server, built the way Serve builds it, follows
`Settings.ws_compression` for permessage-deflate and writes prepared frames."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import pytest
import uvicorn
from websockets.asyncio.client import connect

from harpoon_ray.serve.ws_frames import MESSAGE_KEY, SCOPE_EXTENSION, PreparedText
from harpoon_ray.serve.ws_options import apply_ws_options
from tests.conftest import free_loopback_port

BIG = json.dumps([{"seq": i, "type": "agent.thought", "text": f"step {i}"} for i in range(2000)])


async def _echo_once(scope, receive, send) -> None:
    """A bare ASGI socket: accept, echo one frame, close. Asked for "prepared", it sends
    a message whose prepared frame (BIG) differs from its text key, to show which the
    server wrote."""
    assert scope["type"] == "websocket"
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    msg = await receive()
    text = msg.get("text") or ""
    if text == "prepared" and SCOPE_EXTENSION in scope["extensions"]:
        await send({"type": "websocket.send", "text": "unprepared", MESSAGE_KEY: PreparedText(BIG)})
    else:
        await send({"type": "websocket.send", "text": text})
    await send({"type": "websocket.close", "code": 1000})


@pytest.fixture
def restore_uvicorn_config() -> Iterator[None]:
    original = uvicorn.Config
    yield
    uvicorn.Config = original


@pytest.fixture
async def server_url(restore_uvicorn_config, request) -> AsyncIterator[str]:
    apply_ws_options(request.param)
    port = free_loopback_port()
    # As ray.serve._private.http_util.start_asgi_http_server does: no ws options.
    config = uvicorn.Config(
        lambda: _echo_once, factory=True, host="127.0.0.1", port=port, lifespan="off",
        access_log=False, log_level=None, log_config=None,
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # uvicorn offers no started event: poll its flag, bounded
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    yield f"ws://127.0.0.1:{port}/"
    server.should_exit = True
    await task


@pytest.mark.parametrize("server_url", [False], indirect=True)
async def test_deflate_offered_by_a_client_is_declined_when_switched_off(server_url: str) -> None:
    """With HARPOON_WS_COMPRESSION=0 a browser-like client offering deflate gets plain
    frames."""
    async with connect(server_url, compression="deflate") as ws:
        assert ws.protocol.extensions == []
        await ws.send("hello")
        assert await ws.recv() == "hello"


@pytest.mark.parametrize("server_url", [True], indirect=True)
async def test_deflate_is_negotiated_when_switched_on(server_url: str) -> None:
    """With HARPOON_WS_COMPRESSION on (the default) the client gets the compression it
    offers."""
    async with connect(server_url, compression="deflate") as ws:
        assert [e.name for e in ws.protocol.extensions] == ["permessage-deflate"]
        await ws.send("hello")
        assert await ws.recv() == "hello"


@pytest.mark.parametrize("server_url", [False], indirect=True)
async def test_the_server_writes_a_prepared_frame_as_built(server_url: str) -> None:
    """A message carrying a prepared frame reaches the client as that frame."""
    async with connect(server_url, max_size=None) as ws:
        await ws.send("prepared")
        assert await ws.recv() == BIG


@pytest.mark.parametrize("server_url", [True], indirect=True)
async def test_deflate_is_negotiated_without_context_takeover_either_way(server_url: str) -> None:
    """Each message stands alone both ways, so one deflated frame fits every socket and
    an idle socket keeps no zlib state; the client inflates the prepared frame."""
    async with connect(server_url, compression="deflate", max_size=None) as ws:
        (deflate,) = ws.protocol.extensions
        assert deflate.remote_no_context_takeover and deflate.local_no_context_takeover
        await ws.send("prepared")
        assert await ws.recv() == BIG
