"""The WebSocket options of the replica's own HTTP server, which Serve does not expose.

With `RAY_SERVE_THROUGHPUT_OPTIMIZED` (ingress haproxy or direct) each Gateway replica
runs uvicorn itself, built by Serve from its `HTTPOptions`, which carry no WebSocket
settings. Two are ours: the protocol class (`ws_protocol.PreparedFramesProtocol`, which
writes a fan-out frame built once instead of framing it again per socket) and whether
permessage-deflate is negotiated (`Settings.ws_compression`).

Serve builds the server after the deployment's constructor returns and looks
`uvicorn.Config` up when it does, so the constructor can put in a Config whose defaults
are these. Options Serve passes itself are left as they are.
"""

from __future__ import annotations

from typing import Any

import uvicorn

try:
    from .ws_protocol import PreparedFramesProtocol
except ImportError:  # a uvicorn older than its sans-I/O WebSocket protocol (0.35)
    PreparedFramesProtocol = None  # type: ignore[assignment,misc]

_UVICORN_CONFIG = uvicorn.Config


def apply_ws_options(compression: bool) -> None:
    """From now on, uvicorn servers made in this process speak WebSocket with prepared
    frames and negotiate deflate only when `compression` is set (unless their maker says
    otherwise)."""

    class Config(_UVICORN_CONFIG):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if PreparedFramesProtocol is not None:  # else uvicorn's own: frames per socket
                kwargs.setdefault("ws", PreparedFramesProtocol)
            kwargs.setdefault("ws_per_message_deflate", compression)
            super().__init__(*args, **kwargs)

    uvicorn.Config = Config  # type: ignore[misc]
