"""Chromium reads the gateway's prepared, deflated WebSocket frames.

The session's app runs behind Serve's proxy, whose uvicorn frames every message itself;
`harpoon run` and `serve_config.yaml` put the replica's own uvicorn, with
`PreparedFramesProtocol`, in front of browsers. This checks that path against the real
browser's permessage-deflate: a bare ASGI socket on that protocol, no Ray needed.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from harpoon_ray.serve.ws_frames import MESSAGE_KEY, PreparedText
from harpoon_ray.serve.ws_protocol import PreparedFramesProtocol
from tests.conftest import free_loopback_port

pytestmark = [pytest.mark.browser]

EVENTS = [
    json.dumps(
        [{"seq": n * 100 + i, "type": "agent.thought", "text": f"step {i}"} for i in range(100)]
    )
    for n in range(3)
]


async def _sender(scope: dict, receive: Any, send: Any) -> None:
    """Accept, send three big prepared messages and one short one, then wait for close."""
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    for text in [*EVENTS, '{"type":"end"}']:
        await send({"type": "websocket.send", "text": text, MESSAGE_KEY: PreparedText(text)})
    while (await receive())["type"] != "websocket.disconnect":
        pass


@pytest.fixture(scope="module")
def socket_url() -> Iterator[str]:
    port = free_loopback_port()
    config = uvicorn.Config(
        _sender, host="127.0.0.1", port=port, lifespan="off", log_level="warning",
        ws=PreparedFramesProtocol, ws_per_message_deflate=True,
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    yield f"ws://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(timeout=10)


def test_chromium_inflates_prepared_frames_sent_without_context_takeover(
    browser: Any, socket_url: str
) -> None:
    """The browser agrees to deflate with no context takeover either way and reads three
    big compressed messages in a row, and a short plain one, as sent."""
    page = browser.new_page()
    try:
        got = page.evaluate(
            """url => new Promise((resolve, reject) => {
                const ws = new WebSocket(url), texts = [];
                ws.onmessage = e => {
                    texts.push(e.data);
                    if (texts.length < 4) return;
                    resolve({extensions: ws.extensions, texts});
                    ws.close();
                };
                ws.onerror = () => reject(new Error("socket error"));
                setTimeout(() => reject(new Error("timed out")), 10000);
            })""",
            socket_url,
        )
    finally:
        page.close()
    assert "permessage-deflate" in got["extensions"]
    assert "server_no_context_takeover" in got["extensions"]
    assert "client_no_context_takeover" in got["extensions"]
    assert got["texts"] == [*EVENTS, '{"type":"end"}']
