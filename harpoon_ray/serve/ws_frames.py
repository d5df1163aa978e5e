"""Server WebSocket frames built once and written to many sockets.

A covenant's events go to every socket that follows it, the same text each time. Sent
through the ASGI server's WebSocket machinery, each socket encodes the text to UTF-8,
frames it and, when permessage-deflate was negotiated, compresses it with its own zlib
state: at 1,000 sockets that is 1,000 copies and compressions of the same bytes.

A `PreparedText` holds one message's text and builds, on first use and once per kind,
the complete frame bytes a socket writes as is: plain, or deflated for sockets that
negotiated permessage-deflate with `server_no_context_takeover` (each message then
stands alone, RFC 7692 section 7.1.1.1, so one compressed payload fits every such
socket whatever it was sent before). The window size is part of the kind: a payload
compressed with a 32 KB window cannot be read by a client that asked for less.

Short messages are never compressed (a heartbeat would grow), nor is a payload that
deflate does not shrink; a socket that negotiated deflate reads uncompressed messages
as well (their RSV1 bit is clear).
"""

from __future__ import annotations

import struct
import zlib

# The ASGI contract between the app and a server that takes prepared frames
# (ws_protocol.py): the server announces SCOPE_EXTENSION in a socket's scope, and the app
# then adds a message's PreparedText under MESSAGE_KEY to its `websocket.send`. The
# extension's dict may hold a callable under WRITE_NOW: `write_now(prepared) -> bool`
# writes the frame at once, without awaiting, when the socket takes writes (open, not
# paused by flow control), else writes nothing and returns False.
SCOPE_EXTENSION = "harpoon.prepared_frames"
MESSAGE_KEY = "harpoon.prepared"
WRITE_NOW = "write_now"

OP_TEXT = 0x1
FIN = 0x80
RSV1 = 0x40  # permessage-deflate: this message's payload is compressed
MIN_DEFLATE_BYTES = 256  # below this, framing and zlib's header eat the saving
SHARED_LEVEL = 6  # a message many sockets get: paid once, worth the better ratio
ONE_OFF_LEVEL = 1  # a message for one socket: paid per socket, so kept cheap
_SYNC_TAIL = b"\x00\x00\xff\xff"  # every deflate message ends so; RFC 7692 drops it


def frame_header(first_byte: int, size: int) -> bytes:
    """An unmasked (server-to-client) frame header for a payload of `size` bytes."""
    if size < 126:
        return struct.pack("!BB", first_byte, size)
    if size < 1 << 16:
        return struct.pack("!BBH", first_byte, 126, size)
    return struct.pack("!BBQ", first_byte, 127, size)


def deflate_payload(data: bytes, window_bits: int, level: int = SHARED_LEVEL) -> bytes:
    """`data` compressed as one permessage-deflate message with a fresh context."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -window_bits)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4] if out.endswith(_SYNC_TAIL) else out


class PreparedText:
    """One text message and its frames, built lazily and kept for every later socket.
    `shared`: many sockets will send it (compress harder, once)."""

    __slots__ = ("_data", "_frames", "level", "text")

    def __init__(self, text: str, *, shared: bool = False) -> None:
        self.text = text
        self.level = SHARED_LEVEL if shared else ONE_OFF_LEVEL
        self._data: bytes | None = None
        self._frames: dict[int, bytes] = {}  # window bits (0: plain) -> frame

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data = self.text.encode()
        return self._data

    def frame(self, deflate_window_bits: int = 0) -> bytes:
        """The frame for a socket that negotiated deflate with that window (0: none)."""
        key = deflate_window_bits if len(self.data) >= MIN_DEFLATE_BYTES else 0
        frame = self._frames.get(key)
        if frame is None:
            frame = self._build(key)
            self._frames[key] = frame
        return frame

    def _build(self, window_bits: int) -> bytes:
        data = self.data
        if window_bits:
            packed = deflate_payload(data, window_bits, self.level)
            if len(packed) < len(data):
                return frame_header(FIN | RSV1 | OP_TEXT, len(packed)) + packed
            return self.frame(0)
        return frame_header(FIN | OP_TEXT, len(data)) + data

    def __reduce__(self) -> tuple:
        # An ASGI message crossing a process (Serve's proxy ingress) carries the text
        # key for its own server; the frames are for this process's sockets only.
        return (PreparedText, (self.text,))  # the level is moot without the frames
