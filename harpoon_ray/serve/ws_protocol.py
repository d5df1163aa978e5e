"""The replica's WebSocket protocol: uvicorn's, plus prepared frames and a deflate offer
whose messages each stand alone.

It announces the ASGI scope extension `harpoon.prepared_frames`; an application that
sees it may add a `PreparedText` under the message key `harpoon.prepared` to a
`websocket.send` (the `text` key stays, for any other server). This protocol then writes
the prepared frame of this socket's kind straight to the transport instead of framing
and compressing the text itself. Flow control, close and disconnect are uvicorn's.

The extension also offers `write_now`, the same write as a plain call: a covenant's feed
hands a new chunk to a thousand idle sockets in one turn of the loop, where a send per
socket meant waking its task and passing the ASGI send chain, ~0.1 ms each.

Deflate, when on, is negotiated with `server_no_context_takeover` (so one compressed
frame fits every socket) and `client_no_context_takeover` (so an idle socket keeps no
zlib state for what the client sends: a few control frames). Browsers accept both.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.protocol import State
from websockets.server import ServerProtocol

from .ws_frames import MESSAGE_KEY, SCOPE_EXTENSION, WRITE_NOW, PreparedText

_UNKNOWN = object()  # the negotiated kind, read once after the handshake


class PreparedFramesProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol that writes a message's prepared frame when given one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.config.ws_per_message_deflate:
            self.conn = ServerProtocol(
                extensions=[
                    ServerPerMessageDeflateFactory(
                        server_no_context_takeover=True,
                        client_no_context_takeover=True,
                        compress_settings={"memLevel": 5},
                    )
                ],
                max_size=self.config.ws_max_size,
                logger=self.conn.logger,
            )
        self._kind: object = _UNKNOWN

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][SCOPE_EXTENSION] = {WRITE_NOW: self.write_now}

    def _frame_kind(self) -> int | None:
        """0 for plain frames, the window bits for stand-alone deflate, None when this
        socket's deflate keeps a context (its frames must come from its own state)."""
        if self._kind is _UNKNOWN:
            kind: int | None = 0
            for ext in self.conn.extensions:
                if isinstance(ext, PerMessageDeflate):
                    kind = ext.local_max_window_bits if ext.local_no_context_takeover else None
            self._kind = kind
        return self._kind  # type: ignore[return-value]

    def _takes_prepared(self) -> bool:
        """Open for data from the app, and its frames can be the shared ones."""
        return (
            self.handshake_complete
            and not self.close_sent
            and self.initial_response is None
            and self._frame_kind() is not None
        )

    def write_now(self, prepared: PreparedText) -> bool:
        """Write the frame now if the socket takes it without waiting; else False."""
        if (
            not self._takes_prepared()
            or self.disconnected
            or self.conn.state is not State.OPEN
            or not self.writable.is_set()
        ):
            return False
        self.transport.write(prepared.frame(self._frame_kind()))
        return True

    async def send(self, message: Any) -> None:
        prepared = message.get(MESSAGE_KEY)
        if (
            not isinstance(prepared, PreparedText)
            or message["type"] != "websocket.send"
            or not self._takes_prepared()
        ):
            await super().send(message)
            return
        await self.writable.wait()
        if self.disconnected or self.conn.state is not State.OPEN:
            raise ClientDisconnected()
        self.transport.write(prepared.frame(self._frame_kind()))
