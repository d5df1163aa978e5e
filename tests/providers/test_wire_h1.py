"""The wire providers' HTTP/1.1 pool (`providers/h1.py`) against a loopback server that
scripts its answers: keep-alive reuse, chunked and unframed bodies, limits, timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from harpoon_ray.errors import ProviderTimeout, ProviderUnavailable
from harpoon_ray.providers.h1 import BrokenResponse, H1Pool, Target
from harpoon_ray.providers.wire import WireProvider
from harpoon_ray.settings import Settings

from .helpers import local_spec, request

SPEC = local_spec()
OK_BODY = b'{"choices":[{"message":{"content":"hi"},"finish_reason":"stop"}]}'


def answer(body: bytes = OK_BODY, *, status: str = "200 OK", extra: str = "") -> bytes:
    head = f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{extra}"
    return head.encode() + f"content-length: {len(body)}\r\n\r\n".encode() + body


@dataclass
class Scripted:
    """What the server saw, and how it answers the n-th request of a connection."""

    respond: Callable[[int, bytes], bytes | None] = lambda n, req: answer()
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    url: str = ""


@pytest.fixture
async def scripted() -> AsyncIterator[Scripted]:
    """A loopback server reading POSTs on kept-alive connections; `respond` returns the
    raw answer (the socket closes after one saying `connection: close`), or None to close
    the socket without one."""
    state = Scripted()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        n = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                state.requests.append(head + await reader.readexactly(length))
                raw = state.respond(n, head)
                n += 1
                if raw is None:
                    break
                writer.write(raw)
                await writer.drain()
                if b"connection: close" in raw.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/chat/completions"
    yield state
    server.close()
    await server.wait_closed()


def provider(url: str, settings: Settings) -> WireProvider:
    return WireProvider("scripted", url, "test-key", settings)


async def test_sequential_calls_share_one_kept_alive_connection(scripted, settings):
    """Five calls one after another travel on a single TCP connection."""
    wire = provider(scripted.url, settings)
    for _ in range(5):
        assert (await wire.complete(request(), SPEC)).text == "hi"
    await wire.aclose()
    assert scripted.connections == 1 and len(scripted.requests) == 5


async def test_request_carries_host_length_and_bearer(scripted, settings):
    """The request head names the host and port, the body length and the API key."""
    wire = provider(scripted.url, settings)
    await wire.complete(request(), SPEC)
    await wire.aclose()
    head = scripted.requests[0].split(b"\r\n\r\n")[0].decode().lower()
    port = scripted.url.split(":")[2].split("/")[0]
    assert head.startswith("post /v1/chat/completions http/1.1")
    assert f"host: 127.0.0.1:{port}" in head
    assert "authorization: bearer test-key" in head
    assert "content-length: " in head


async def test_connection_close_answer_opens_a_new_connection_next_time(scripted, settings):
    """An answer saying `connection: close` is not reused: the next call connects again."""
    scripted.respond = lambda n, req: answer(extra="connection: close\r\n")
    wire = provider(scripted.url, settings)
    for _ in range(3):
        assert (await wire.complete(request(), SPEC)).text == "hi"
    await wire.aclose()
    assert scripted.connections == 3


async def test_chunked_answer_is_read_whole(scripted, settings):
    """A chunked body is joined back together before it is parsed."""
    half = len(OK_BODY) // 2
    parts = (OK_BODY[:half], OK_BODY[half:])
    chunked = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in parts) + b"0\r\n\r\n"
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n"
    scripted.respond = lambda n, req: head + b"\r\n" + chunked
    wire = provider(scripted.url, settings)
    assert (await wire.complete(request(), SPEC)).text == "hi"
    assert (await wire.complete(request(), SPEC)).text == "hi"
    await wire.aclose()
    assert scripted.connections == 1


async def test_unframed_answer_ends_with_the_connection(scripted, settings):
    """A body with neither length nor chunks is complete when the server closes."""
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n"
    scripted.respond = lambda n, req: head + OK_BODY
    wire = provider(scripted.url, settings)
    assert (await wire.complete(request(), SPEC)).text == "hi"
    await wire.aclose()


async def test_socket_closed_without_an_answer_is_unavailable(scripted, settings):
    """A server that reads the request and hangs up is ProviderUnavailable, not a hang."""
    scripted.respond = lambda n, req: None
    wire = provider(scripted.url, settings)
    with pytest.raises(ProviderUnavailable, match="closed before the answer ended"):
        await wire.complete(request(), SPEC)
    await wire.aclose()


async def test_garbage_answer_is_unavailable(scripted, settings):
    """Bytes that are not HTTP are ProviderUnavailable naming a malformed answer."""
    scripted.respond = lambda n, req: b"SMTP ready\r\n\r\n"
    wire = provider(scripted.url, settings)
    with pytest.raises(ProviderUnavailable, match="malformed HTTP answer"):
        await wire.complete(request(), SPEC)
    await wire.aclose()


async def test_slow_answer_is_a_timeout(scripted, settings):
    """No answer within the request's own limit is ProviderTimeout."""
    scripted.respond = lambda n, req: b""  # reads the request, never answers
    wire = provider(scripted.url, settings)
    with pytest.raises(ProviderTimeout):
        await wire.complete(request(timeout_s=0.2), SPEC)
    await wire.aclose()


async def test_pool_limits_calls_in_flight(scripted):
    """With a limit of two, a third call waits until one of the first two is read."""
    pool = H1Pool(limit=2)
    target = Target(scripted.url, {"content-type": "application/json"})
    first = await pool.post(target, b"{}", 5, 5)
    second = await pool.post(target, b"{}", 5, 5)
    third = asyncio.ensure_future(pool.post(target, b"{}", 5, 5))
    await asyncio.sleep(0.1)
    assert not third.done()
    assert await first.read(5) == OK_BODY
    assert (await asyncio.wait_for(third, 5)).status == 200
    second.close()
    await pool.aclose()
    assert scripted.connections == 2  # the third reused the first one's socket


async def test_streamed_body_arrives_in_pieces(scripted):
    """`chunks()` yields what has arrived so far, then ends with the body."""
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 12\r\n\r\n"
    scripted.respond = lambda n, req: head + b"data: a\n\n" + b"..."
    pool = H1Pool(limit=4)
    resp = await pool.post(Target(scripted.url, {}), b"{}", 5, 5)
    got = b"".join([piece async for piece in resp.chunks(5)])
    resp.release()
    await pool.aclose()
    assert got == b"data: a\n\n..."


def test_only_http_urls_are_targets():
    """A URL that is not http(s) is refused before any connection is tried."""
    with pytest.raises(ValueError, match="not an http"):
        Target("ftp://example.com/x", {})


async def test_closed_pool_refuses_new_calls(scripted):
    """After `aclose`, a call fails at once instead of opening a socket."""
    pool = H1Pool(limit=1)
    await pool.aclose()
    with pytest.raises(BrokenResponse, match="closed"):
        await pool.post(Target(scripted.url, {}), b"{}", 5, 5)
    assert scripted.connections == 0
