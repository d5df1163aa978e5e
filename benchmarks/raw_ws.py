"""A bare RFC 6455 client for load tests: asyncio streams, no per-frame Python protocol
machinery, no UTF-8 check of text frames.

The `websockets` client costs ~1 us of CPU per KB received here (its frame parser and the
UTF-8 validation of every text message), which at 1,000 clients x 2.5 MB each is more
CPU than the gateway spends sending it, on the same 2 cores. This one reads a frame's
header and then its payload in one `readexactly`, and hands the payload over as bytes.
Enough of the protocol for a reader of server frames: unmasked data frames (text and
binary, with continuations), ping (answered), close; the frames it sends are masked.
It may offer permessage-deflate as browsers do; compressed messages are handed over as
received, flagged, and `inflate()` decodes them when the caller chooses (a load test
does it after the run).
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import zlib
from urllib.parse import urlsplit

OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


class Closed(Exception):
    """The server closed the connection (close frame or EOF)."""


class RawSocket:
    """One client connection; `recv()` gives each data message's payload as bytes."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        deflate: dict[str, str | None] | None = None,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.deflate = deflate  # the server's permessage-deflate parameters, if agreed
        bits = int((deflate or {}).get("server_max_window_bits") or 15)
        self._window_bits = bits
        self._fresh_each_message = deflate is not None and "server_no_context_takeover" in deflate
        self._inflater = zlib.decompressobj(-bits)

    @classmethod
    async def connect(cls, url: str, *, offer_deflate: bool = False) -> RawSocket:
        """Open and upgrade; raises if the server answers anything but 101, or agrees to
        an extension other than the permessage-deflate this client may offer."""
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(
            parts.hostname, parts.port or 80, limit=2**22
        )
        writer.write(upgrade_request(url, offer_deflate))
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        try:
            deflate = agreed_deflate(head, offer_deflate)
        except ConnectionError:
            writer.close()
            raise
        return cls(reader, writer, deflate)

    async def recv(self) -> bytes:
        """The next data message, inflated; raises Closed at the server's close or EOF."""
        payload, compressed = await self.recv_raw()
        return self.inflate(payload) if compressed else payload

    def inflate(self, payload: bytes) -> bytes:
        """A compressed message's payload decoded. Messages that share the server's
        context must be inflated in the order they came."""
        if self._fresh_each_message:
            inflater = zlib.decompressobj(-self._window_bits)
        else:
            inflater = self._inflater
        return inflater.decompress(payload + b"\x00\x00\xff\xff")

    async def recv_raw(self) -> tuple[bytes, bool]:
        """The next data message as received, and whether it is compressed (RSV1)."""
        parts: list[bytes] = []
        compressed = False
        while True:
            try:
                b0, b1 = await self.reader.readexactly(2)
                size = b1 & 0x7F
                if size == 126:
                    (size,) = struct.unpack("!H", await self.reader.readexactly(2))
                elif size == 127:
                    (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
                payload = await self.reader.readexactly(size) if size else b""
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                raise Closed("connection ended") from exc
            op = b0 & 0x0F
            if op == OP_CLOSE:
                self.writer.write(client_frame(OP_CLOSE, payload[:2]))
                raise Closed("server closed")
            if op == OP_PING:
                self.writer.write(client_frame(OP_PONG, payload))
                continue
            if op == OP_PONG:
                continue
            if not parts:
                compressed = bool(b0 & 0x40)  # RSV1, set on a message's first frame
            parts.append(payload)
            if b0 & 0x80:  # FIN
                return (parts[0] if len(parts) == 1 else b"".join(parts)), compressed

    async def send_text(self, text: str) -> None:
        self.writer.write(client_frame(OP_TEXT, text.encode()))
        await self.writer.drain()

    async def close(self) -> None:
        try:
            self.writer.write(client_frame(OP_CLOSE, struct.pack("!H", 1000)))
            self.writer.close()
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


def client_frame(op: int, payload: bytes) -> bytes:
    """A client frame: FIN, masked (clients must mask, RFC 6455 5.3)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | op, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | op, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | op, 0x80 | 127, n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def upgrade_request(url: str, offer_deflate: bool) -> bytes:
    """The HTTP/1.1 upgrade a browser would send, offering permessage-deflate if asked."""
    parts = urlsplit(url)
    key = base64.b64encode(os.urandom(16)).decode()
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {parts.hostname}:{parts.port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if offer_deflate:
        lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def agreed_deflate(head: str, offered: bool) -> dict[str, str | None] | None:
    """The permessage-deflate parameters in the server's 101 answer (`head`, lower case),
    None when it agreed to none; raises ConnectionError for anything but a 101, or for
    an extension that was not offered."""
    if not head.startswith("http/1.1 101"):
        raise ConnectionError(f"upgrade refused: {head.splitlines()[0]}")
    deflate = None
    for line in head.splitlines():
        name, _, value = line.partition(":")
        if name.strip() != "sec-websocket-extensions":
            continue
        params = [p.strip() for p in value.split(";")]
        if not offered or params[0] != "permessage-deflate" or deflate is not None:
            raise ConnectionError(f"the server agreed to an extension not offered: {value}")
        deflate = {}
        for param in params[1:]:
            key, _, val = param.partition("=")
            deflate[key.strip()] = val.strip().strip('"') or None
    return deflate
