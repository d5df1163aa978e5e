"""A loopback TCP proxy that ends WebSockets the way a server going away does (tests).

The browser talks to the gateway through it. Plain HTTP passes untouched; on a WebSocket
it counts the server's frames and, after `cut_after_frames` of them, sends the client a
close frame (1001, going away) at a frame boundary and drops both sides. Only the first
`cut_sockets` WebSockets are cut, so the client's reconnect goes through unharmed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

CLOSE_GOING_AWAY = b"\x88\x02\x03\xe9"  # FIN + close opcode, 2-byte payload: code 1001


@dataclass
class CuttingProxy:
    upstream_host: str
    upstream_port: int
    cut_after_frames: int
    cut_sockets: int = 1
    port: int = 0
    cuts: int = 0
    websockets: int = 0
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(Exception):
            writer.close()

    async def _handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        s_reader, s_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        head = await c_reader.readuntil(b"\r\n\r\n")
        s_writer.write(head)
        await s_writer.drain()
        is_ws = b"upgrade: websocket" in head.lower()
        cut = is_ws and self.websockets < self.cut_sockets
        if is_ws:
            self.websockets += 1
        up = asyncio.ensure_future(self._pipe(c_reader, s_writer))
        if cut:
            await self._forward_then_cut(s_reader, c_writer)
            up.cancel()
            s_writer.close()
            return
        await self._pipe(s_reader, c_writer)
        up.cancel()

    async def _forward_then_cut(
        self, s_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter
    ) -> None:
        """Forward the 101 answer and whole server frames, then close like a server would."""
        c_writer.write(await s_reader.readuntil(b"\r\n\r\n"))
        frames = 0
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while frames < self.cut_after_frames:
                header = await s_reader.readexactly(2)
                length = header[1] & 0x7F
                extra = b""
                if length == 126:
                    extra = await s_reader.readexactly(2)
                    length = int.from_bytes(extra, "big")
                elif length == 127:
                    extra = await s_reader.readexactly(8)
                    length = int.from_bytes(extra, "big")
                body = await s_reader.readexactly(length)  # server frames are never masked
                c_writer.write(header + extra + body)
                await c_writer.drain()
                if header[0] & 0x0F in (0x1, 0x2):
                    frames += 1
        self.cuts += 1
        with contextlib.suppress(Exception):
            c_writer.write(CLOSE_GOING_AWAY)
            await c_writer.drain()
            c_writer.close()

    async def _serve(self, ready: threading.Event, stop: asyncio.Event) -> None:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        async with server:
            await stop.wait()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)


@contextlib.contextmanager
def cutting_proxy(
    upstream: str, cut_after_frames: int, cut_sockets: int = 1
) -> Iterator[CuttingProxy]:
    """Run a `CuttingProxy` to `upstream` (`http://127.0.0.1:PORT`) in a thread."""
    host, port = upstream.removeprefix("http://").split(":")
    proxy = CuttingProxy(host, int(port), cut_after_frames, cut_sockets)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(proxy._serve(ready, stop))

    thread = threading.Thread(target=run, name="cutting-proxy", daemon=True)
    thread.start()
    ready.wait(5)
    try:
        yield proxy
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(5)
        loop.close()
