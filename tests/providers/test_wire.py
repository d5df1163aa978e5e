"""The wire client's own behaviours: the shared session, the body it sends, and answers the
test server cannot script (served by a canned loopback server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import ValidationError

from harpoon_ray.catalog import ProviderConfig
from harpoon_ray.errors import BadRequest, ProviderUnavailable, StreamInterrupted
from harpoon_ray.providers import ProviderPool, tokens
from harpoon_ray.providers.openai_sdk import OpenAIStyleProvider
from harpoon_ray.providers.wire import WireProvider, _stream_usage
from harpoon_ray.settings import Settings

from .helpers import local_spec, request

SPEC = local_spec()


def chunk(content: str | None = None, finish: str | None = None) -> bytes:
    delta = "{}" if content is None else f'{{"content":"{content}"}}'
    reason = "null" if finish is None else f'"{finish}"'
    return (
        f'data: {{"choices":[{{"index":0,"delta":{delta},"finish_reason":{reason}}}]}}\n\n'
    ).encode()


@pytest.fixture
async def canned() -> AsyncIterator[Callable[[bytes], str]]:
    """A loopback HTTP server answering every request with the given raw response; gives
    a factory that installs a response and returns the chat-completions URL."""
    answer = {"raw": b""}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            ),
            0,
        )
        await reader.readexactly(length)
        writer.write(answer["raw"])
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    def respond(raw: bytes) -> str:
        answer["raw"] = raw
        return f"http://127.0.0.1:{port}/v1/chat/completions"

    yield respond
    server.close()
    await server.wait_closed()


def sse_response(*events: bytes) -> bytes:
    body = b"".join(events)
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n"
    return head + f"content-length: {len(body)}\r\n\r\n".encode() + body


def wire(url: str, settings: Settings) -> WireProvider:
    return WireProvider("canned", url, "test-key", settings)


async def drain(provider: WireProvider) -> list:
    """Every chunk of one stream, then the provider closed: an unclosed one keeps its
    claim on the loop's shared connection pool, open until the interpreter exits."""
    try:
        return [c async for c in provider.stream(request(), SPEC)]
    finally:
        await provider.aclose()


def test_setting_chooses_the_client(settings):
    """`upstream_client` picks the wire client or the SDK adapter for the same provider."""
    config = ProviderConfig(name="local", kind="openai_compatible", base_url="http://x/v1")
    from harpoon_ray.providers import compatible

    wire_settings = settings.model_copy(update={"upstream_client": "wire"})
    sdk_settings = settings.model_copy(update={"upstream_client": "sdk"})
    assert isinstance(compatible.create(config, wire_settings), WireProvider)
    assert isinstance(compatible.create(config, sdk_settings), OpenAIStyleProvider)


def test_unknown_client_setting_is_refused():
    """A value other than wire or sdk is a validation error naming the setting."""
    with pytest.raises(ValidationError, match="upstream_client"):
        Settings(upstream_client="curl")


def test_openai_body_names_max_completion_tokens(catalog, settings):
    """OpenAI gets `max_completion_tokens`; the other kinds get `max_tokens`."""
    from harpoon_ray.providers.fastjson import loads

    pool = ProviderPool.for_test_server(catalog, "http://127.0.0.1:1", settings)
    by_kind = {}
    for spec in catalog.models:
        provider = pool.for_model(spec)
        by_kind[catalog.providers[spec.provider].kind] = loads(
            provider.body(request(max_tokens=7), spec, stream=True)
        )
    assert by_kind["openai"]["max_completion_tokens"] == 7
    assert by_kind["groq"]["max_tokens"] == 7 and "max_completion_tokens" not in by_kind["groq"]
    assert all(b["stream_options"] == {"include_usage": True} for b in by_kind.values())


async def test_providers_share_one_session_until_the_last_closes(catalog, server, settings):
    """Every wire provider of a process uses one aiohttp session, closed with the last one."""
    pool = ProviderPool.for_test_server(catalog, server.base_url, settings)
    kinds = {}
    for spec in catalog.models:
        kinds.setdefault(catalog.providers[spec.provider].kind, spec)
    providers = [pool.for_model(spec) for spec in kinds.values()]
    for provider, spec in zip(providers, kinds.values(), strict=True):
        await provider.complete(request(), spec)
    sessions = {id(p.client) for p in providers}
    assert len(providers) == 3 and len(sessions) == 1
    session = providers[0].client
    await pool.aclose()
    assert session.closed


async def test_usage_is_read_from_groq_x_groq():
    """Groq's finish chunk carries usage under `x_groq`; it counts like OpenAI's `usage`."""
    usage = {"prompt_tokens": 4, "completion_tokens": 9}
    assert _stream_usage({"choices": [], "x_groq": {"id": "r", "usage": usage}}) == usage
    assert _stream_usage({"choices": [], "usage": usage}) == usage
    assert _stream_usage({"choices": []}) is None


async def test_error_event_after_content_is_interrupted(canned, settings):
    """An `error` event after some text ends the stream as StreamInterrupted."""
    url = canned(sse_response(chunk("Hello"), b'data: {"error":{"message":"overloaded"}}\n\n'))
    with pytest.raises(StreamInterrupted, match="overloaded"):
        await drain(wire(url, settings))


async def test_error_event_before_content_is_unavailable(canned, settings):
    """An `error` event before any text is ProviderUnavailable, so the router may fall back."""
    url = canned(sse_response(b'data: {"error":{"message":"overloaded"}}\n\n'))
    with pytest.raises(ProviderUnavailable, match="overloaded"):
        await drain(wire(url, settings))


async def test_stream_closed_without_finish_reason_is_interrupted(canned, settings):
    """A stream that ends cleanly but never sent a finish reason is StreamInterrupted."""
    url = canned(sse_response(chunk("Hello"), chunk(" there")))
    with pytest.raises(StreamInterrupted, match="final chunk"):
        await drain(wire(url, settings))


async def test_stream_without_usage_counts_tokens(canned, settings):
    """A server that reports no usage gets Harpoon's own token counts on the done chunk."""
    url = canned(sse_response(chunk("Hello there"), chunk(finish="stop"), b"data: [DONE]\n\n"))
    *deltas, last = await drain(wire(url, settings))
    assert "".join(d.delta for d in deltas) == "Hello there"
    assert last.done and last.output_tokens == tokens.count("Hello there")
    assert last.input_tokens == tokens.count_messages(request().messages)


async def test_redirect_is_not_followed(canned, settings):
    """A 3xx is the provider's answer (a BadRequest), not a hop to another URL."""
    head = b"HTTP/1.1 307 Temporary Redirect\r\nlocation: http://example.com/\r\n"
    url = canned(head + b"content-length: 0\r\n\r\n")
    provider = wire(url, settings)
    with pytest.raises(BadRequest) as info:
        await provider.complete(request(), SPEC)
    await provider.aclose()
    assert info.value.status_code == 307


async def test_connection_refused_is_unavailable(settings):
    """Nobody listening is ProviderUnavailable that says the provider could not be reached."""
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nobody listens on it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    provider = wire(url, settings)
    with pytest.raises(ProviderUnavailable, match="could not be reached"):
        await provider.complete(request(), SPEC)
    await provider.aclose()
