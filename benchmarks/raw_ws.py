"""A bare RFC 6455 client for load tests: asyncio streams, no per-frame Python protocol
machinery, no UTF-8 check of text frames.

The `websockets` client costs ~1 us of CPU per KB received here (its frame parser and the
UTF-8 validation of every text message), which at 1,000 clients x 2.5 MB each is more
CPU than the gateway spends sending it, on the same 2 cores. This one reads a frame's
header and then its payload in one `readexactly`, and hands the payload over as bytes.
Enough of the protocol for a reader of server frames: unmasked data frames (text and
binary, with continuations), ping (answered), close; the frames it sends are masked.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from urllib.parse import urlsplit

OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


class Closed(Exception):
    """The server closed the connection (close frame or EOF)."""


class RawSocket:
    """One client connection; `recv()` gives each data message's payload as bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, url: str, *, offer_deflate: bool = False) -> RawSocket:
        """Open and upgrade; raises if the server answers anything but 101, or accepts an
        extension this client cannot decode (deflate may be offered, as browsers do, to
        check that the server declines it)."""
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(
            parts.hostname, parts.port or 80, limit=2**22
        )
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
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        if not head.startswith("http/1.1 101"):
            writer.close()
            raise ConnectionError(f"upgrade refused: {head.splitlines()[0]}")
        if "sec-websocket-extensions" in head:
            writer.close()
            raise ConnectionError("the server negotiated an extension this client cannot decode")
        return cls(reader, writer)

    async def recv(self) -> bytes:
        """The next data message; raises Closed at the server's close or EOF."""
        parts: list[bytes] = []
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
                self.writer.write(_frame(OP_CLOSE, payload[:2]))
                raise Closed("server closed")
            if op == OP_PING:
                self.writer.write(_frame(OP_PONG, payload))
                continue
            if op == OP_PONG:
                continue
            parts.append(payload)
            if b0 & 0x80:  # FIN
                return parts[0] if len(parts) == 1 else b"".join(parts)

    async def send_text(self, text: str) -> None:
        self.writer.write(_frame(OP_TEXT, text.encode()))
        await self.writer.drain()

    async def close(self) -> None:
        try:
            self.writer.write(_frame(OP_CLOSE, struct.pack("!H", 1000)))
            self.writer.close()
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


def _frame(op: int, payload: bytes) -> bytes:
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
