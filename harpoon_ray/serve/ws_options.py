"""The WebSocket options of the replica's own HTTP server, which Serve does not expose.

With `RAY_SERVE_THROUGHPUT_OPTIMIZED` (ingress haproxy or direct) each Gateway replica
runs uvicorn itself, built by Serve from its `HTTPOptions`, which carry no WebSocket
settings; uvicorn then accepts permessage-deflate from every client that offers it (all
browsers do). Deflate keeps a zlib state per socket, so a fan-out frame encoded once is
compressed again for each socket: in bench_ws, 1,000 sockets on one covenant cost the
gateway 21 s of CPU with it and 5 s without, and an idle socket 86 KB against 48 KB.

Serve builds the server after the deployment's constructor returns and looks
`uvicorn.Config` up when it does, so the constructor can put in a Config whose default
follows `Settings.ws_compression`. Options Serve passes itself are left as they are.
"""

from __future__ import annotations

from typing import Any

import uvicorn

_UVICORN_CONFIG = uvicorn.Config


def apply_ws_options(compression: bool) -> None:
    """From now on, uvicorn servers made in this process negotiate deflate only when
    `compression` is set (unless their maker says otherwise)."""

    class Config(_UVICORN_CONFIG):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("ws_per_message_deflate", compression)
            super().__init__(*args, **kwargs)

    uvicorn.Config = Config  # type: ignore[misc]
