"""Many WebSocket clients read by one thread on epoll, each read stamped by the kernel.

bench_ws's fan-out asks when each of 1,000 clients receives each event. Read as asyncio
streams in one process (`raw_ws.py`), a burst that reached all 1,000 sockets at once was
stamped as the client loop got round to each socket (tens of microseconds apiece, so tens
of milliseconds from the first to the last), and that loop took up to a core of the two
the gateway runs on. A client on its own machine has neither cost. Here one thread waits
on epoll and takes whatever a readable socket holds with one `recvmsg`, asking the kernel
when that data arrived (SO_TIMESTAMPNS); during the run it only walks frame headers (to
answer pings and see the server's `end`); cutting payloads out, inflating and checking
them wait until the run is over. Each frame gets the stamps of the read that brought its
last byte: the kernel's (`kernel_ts`) and this thread's (`user_ts`).

Linux only (epoll, SO_TIMESTAMPNS on TCP). Enough of RFC 6455 for a reader of server
frames: unmasked data frames, ping (answered), close; the frames it sends are masked.
"""

from __future__ import annotations

import json
import select
import socket
import struct
import time
import zlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from raw_ws import agreed_deflate, client_frame, upgrade_request  # same folder

OP_CONT, OP_TEXT, OP_CLOSE, OP_PING = 0x0, 0x1, 0x8, 0x9
# Python names it from 3.13 on; 35 on Linux (asm-generic, x86 and arm alike), with a
# 64-bit timespec on 64-bit machines.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@qq")
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size)
READ_BYTES = 1 << 20
EVENT_STARTS = (b"[", b'{"seq":')  # a frame of events; anything else is a control frame


@dataclass(slots=True)
class Frame:
    start: int  # payload offset in the connection's buffer
    end: int
    compressed: bool
    kernel_ts: float
    user_ts: float


@dataclass(slots=True)
class Client:
    sock: socket.socket
    deflate: dict[str, str | None] | None
    buf: bytearray = field(default_factory=bytearray)
    pos: int = 0  # where the next frame header starts in `buf`
    frames: list[Frame] = field(default_factory=list)
    ended: bool = False  # the server's `end` frame came
    closed: bool = False
    error: dict | None = None  # an `error` frame (a slow consumer dropped, ...)

    def send_text(self, text: str) -> None:
        self.sock.setblocking(True)
        try:
            self.sock.sendall(client_frame(OP_TEXT, text.encode()))
        finally:
            self.sock.setblocking(False)

    def payloads(self) -> list[tuple[float, float, bytes, bool]]:
        """(kernel_ts, user_ts, payload as received, compressed) per data message."""
        return [
            (f.kernel_ts, f.user_ts, bytes(self.buf[f.start : f.end]), f.compressed)
            for f in self.frames
        ]

    def inflate(self, payload: bytes) -> bytes:
        bits = int((self.deflate or {}).get("server_max_window_bits") or 15)
        return zlib.decompressobj(-bits).decompress(payload + b"\x00\x00\xff\xff")

    def _walk(self, kernel_ts: float, user_ts: float) -> None:
        """Take every whole frame now in the buffer: data frames are noted with this
        read's stamps, pings answered, close and `end` seen."""
        buf, n = self.buf, len(self.buf)
        while n - self.pos >= 2:
            b0, b1 = buf[self.pos], buf[self.pos + 1]
            size, head = b1 & 0x7F, 2
            if size == 126:
                if n - self.pos < 4:
                    return
                (size,) = struct.unpack_from("!H", buf, self.pos + 2)
                head = 4
            elif size == 127:
                if n - self.pos < 10:
                    return
                (size,) = struct.unpack_from("!Q", buf, self.pos + 2)
                head = 10
            start = self.pos + head
            if n < start + size:
                return
            self.pos = start + size
            op = b0 & 0x0F
            if op == OP_PING:
                self.sock.send(client_frame(0xA, bytes(buf[start : start + size])))
            elif op == OP_CLOSE:
                self.closed = True
            elif op in (OP_TEXT, OP_CONT) and b0 & 0x80:
                # The gateway sends every message as one frame (FIN set).
                compressed = bool(b0 & 0x40)
                if compressed or bytes(buf[start : start + 8]).startswith(EVENT_STARTS):
                    self.frames.append(Frame(start, start + size, compressed, kernel_ts, user_ts))
                else:  # a control frame: short, sent uncompressed (heartbeat, end, error)
                    control = json.loads(bytes(buf[start : start + size]))
                    if control.get("type") == "error":
                        self.error = control.get("error")
                    self.ended = self.ended or control.get("type") in ("end", "error")


def connect(url: str, *, offer_deflate: bool = True, timeout_s: float = 30.0) -> Client:
    """Open and upgrade one connection (blocking), then leave it non-blocking with the
    kernel stamping its reads."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout_s)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.sendall(upgrade_request(url, offer_deflate))
    head = b""
    while b"\r\n\r\n" not in head:
        got = sock.recv(4096)
        if not got:
            raise ConnectionError("closed during the upgrade")
        head += got
    text, _, rest = head.partition(b"\r\n\r\n")
    try:
        deflate = agreed_deflate(text.decode("latin-1").lower(), offer_deflate)
    except ConnectionError:
        sock.close()
        raise
    client = Client(sock, deflate)
    client.buf += rest
    sock.setblocking(False)
    return client


def read_until_ended(clients: list[Client], cap_s: float) -> None:
    """Read every client until each has its `end` (or is closed), at most `cap_s`."""
    ep = select.epoll()
    by_fd = {}
    for c in clients:
        by_fd[c.sock.fileno()] = c
        ep.register(c.sock.fileno(), select.EPOLLIN)
    waiting = sum(1 for c in clients if not (c.ended or c.closed))
    deadline = time.monotonic() + cap_s
    space = bytearray(READ_BYTES)  # one buffer for every read: no 1 MB allocation each
    view = memoryview(space)
    try:
        while waiting and time.monotonic() < deadline:
            for fd, _ in ep.poll(0.5):
                c = by_fd[fd]
                try:
                    n, ancillary, _, _ = c.sock.recvmsg_into([view], _ANCILLARY)
                except BlockingIOError:
                    continue
                except OSError:
                    n, ancillary = 0, []
                user_ts = time.time()
                before = c.ended or c.closed
                if not n:
                    c.closed = True
                    ep.unregister(fd)
                else:
                    kernel_ts = user_ts
                    for level, kind, raw in ancillary:
                        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                            sec, nsec = _TIMESPEC.unpack(raw[: _TIMESPEC.size])
                            kernel_ts = sec + nsec / 1e9
                    c.buf += view[:n]
                    c._walk(kernel_ts, user_ts)
                if not before and (c.ended or c.closed):
                    waiting -= 1
    finally:
        ep.close()


def close_all(clients: list[Client]) -> None:
    for c in clients:
        try:
            c.sock.setblocking(True)
            c.sock.settimeout(1.0)
            c.sock.sendall(client_frame(OP_CLOSE, struct.pack("!H", 1000)))
        except OSError:
            pass
        finally:
            c.sock.close()
