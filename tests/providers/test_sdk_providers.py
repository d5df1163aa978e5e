"""Each HTTP provider against the test server, through the wire client (the default) and
through its real SDK (`HARPOON_UPSTREAM_CLIENT=sdk`): the same answers and failures."""

from __future__ import annotations

import pickle
import time

import pytest

from harpoon_ray.catalog import ProviderConfig
from harpoon_ray.errors import (
    AuthError,
    BadRequest,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    StreamInterrupted,
)
from harpoon_ray.providers import ProviderPool, tokens
from harpoon_ray.providers.openai_sdk import retry_after_s, usage_of

from .conftest import READ_TIMEOUT_S
from .helpers import local_catalog, local_spec, request

LOCAL = ProviderConfig(name="local", kind="openai_compatible", base_url="http://unused")


@pytest.fixture(params=["openai", "groq", "cloudflare", "openai_compatible"])
def kind(request) -> str:
    return request.param


@pytest.fixture(params=["wire", "sdk"])
def upstream(request, settings):
    """Settings choosing one upstream client: Harpoon's wire client or the SDKs."""
    return settings.model_copy(update={"upstream_client": request.param})


@pytest.fixture
async def case(kind, server, upstream):
    """(provider, model spec) of one kind, talking to the test server through one client."""
    catalog = local_catalog({"local": LOCAL}, [local_spec()])
    pool = ProviderPool.for_test_server(catalog, server.base_url, upstream)
    spec = next(m for m in catalog.models if catalog.providers[m.provider].kind == kind)
    provider = pool.for_model(spec)
    assert not provider.simulated
    yield provider, spec
    await pool.aclose()


async def collect(provider, spec, req=None):
    return [c async for c in provider.stream(req or request(), spec)]


async def test_completion_returns_text_and_server_usage(case, server):
    """A completion carries the server's text and token usage, and is not simulated."""
    provider, spec = case
    reply = await provider.complete(request("What is a circuit breaker?"), spec)
    assert "circuit breaker" in reply.text and not reply.simulated
    assert reply.output_tokens == tokens.count(reply.text)
    assert reply.input_tokens > 0 and reply.latency_s > 0
    assert server.calls() == {spec.provider_model: 1}


async def test_stream_yields_deltas_then_usage(case):
    """A stream yields the text in pieces, then one done chunk with the usage."""
    provider, spec = case
    *deltas, last = await collect(provider, spec)
    assert len(deltas) > 1 and all(not c.done for c in deltas)
    text = "".join(c.delta for c in deltas)
    assert last.done and last.finish_reason == "stop"
    assert last.output_tokens == tokens.count(text) and last.input_tokens > 0


async def test_max_tokens_reaches_the_server(case, server):
    """max_tokens is sent under the name the provider expects, and honoured."""
    provider, spec = case
    reply = await provider.complete(request("Tell me a long story", max_tokens=3), spec)
    assert reply.output_tokens == 3 and reply.finish_reason == "length"


async def test_429_is_rate_limited_with_retry_after(case, server):
    """A 429 becomes RateLimited carrying Retry-After in seconds."""
    provider, spec = case
    server.script(spec.provider_model, [{"status": 429, "retry_after": 2}])
    with pytest.raises(RateLimited) as info:
        await provider.complete(request(), spec)
    err = info.value
    assert (err.retry_after_s, err.status_code, err.model) == (2.0, 429, spec.id)


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_unavailable(case, server, status):
    """5xx answers become ProviderUnavailable with the status, retryable."""
    provider, spec = case
    server.script(spec.provider_model, [{"status": status}])
    with pytest.raises(ProviderUnavailable) as info:
        await provider.complete(request(), spec)
    assert info.value.status_code == status and info.value.retryable


@pytest.mark.parametrize(
    ("status", "error"), [(401, AuthError), (403, AuthError), (400, BadRequest)]
)
async def test_client_errors_are_not_retryable(case, server, status, error):
    """A refused key is AuthError and a refused request BadRequest: neither retryable."""
    provider, spec = case
    server.script(spec.provider_model, [{"status": status}])
    with pytest.raises(error) as info:
        await provider.complete(request(), spec)
    assert info.value.status_code == status and not info.value.retryable


async def test_hang_times_out_within_the_read_timeout(case, server):
    """A server that never answers gives ProviderTimeout once the read timeout passes."""
    provider, spec = case
    server.script(spec.provider_model, [{"hang": True}])
    started = time.perf_counter()
    with pytest.raises(ProviderTimeout) as info:
        await provider.complete(request(), spec)
    assert READ_TIMEOUT_S * 0.9 <= time.perf_counter() - started < READ_TIMEOUT_S + 2
    assert info.value.model == spec.id


async def test_request_timeout_overrides_the_default(case, server):
    """A request's own timeout_s is shorter than the configured read timeout."""
    provider, spec = case
    server.script(spec.provider_model, [{"hang": True}])
    started = time.perf_counter()
    with pytest.raises(ProviderTimeout):
        await provider.complete(request(timeout_s=0.1), spec)
    assert time.perf_counter() - started < READ_TIMEOUT_S


async def test_stream_cut_midway_is_interrupted(case, server):
    """A stream dropped after some chunks raises StreamInterrupted, never a clean end."""
    provider, spec = case
    server.script(spec.provider_model, [{"cut_after": 2}])
    seen = []
    with pytest.raises(StreamInterrupted) as info:
        async for chunk in provider.stream(request(), spec):
            seen.append(chunk)
    assert len(seen) == 2 and not any(c.done for c in seen)
    assert info.value.model == spec.id and not info.value.retryable


async def test_stream_cut_before_content_is_unavailable(case, server):
    """A stream dropped before any content is ProviderUnavailable, so a fallback may run."""
    provider, spec = case
    server.script(spec.provider_model, [{"cut_after": 0}])
    with pytest.raises(ProviderUnavailable):
        await collect(provider, spec)


async def test_malformed_body_is_unavailable(case, server):
    """An answer that is not valid JSON becomes ProviderUnavailable."""
    provider, spec = case
    server.script(spec.provider_model, [{"malformed": True}])
    with pytest.raises(ProviderUnavailable, match="malformed"):
        await provider.complete(request(), spec)


async def test_malformed_stream_chunk_is_unavailable(case, server):
    """A stream whose first chunk is not JSON becomes ProviderUnavailable."""
    provider, spec = case
    server.script(spec.provider_model, [{"malformed": True}])
    with pytest.raises(ProviderUnavailable, match="malformed"):
        await collect(provider, spec)


async def test_errors_survive_pickling(case, server):
    """A mapped error crosses a process boundary with every field intact."""
    provider, spec = case
    server.script(spec.provider_model, [{"status": 429, "retry_after": 3}])
    with pytest.raises(RateLimited) as info:
        await provider.complete(request(), spec)
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is RateLimited
    assert (copy.message, copy.model, copy.status_code, copy.retry_after_s) == (
        info.value.message,
        spec.id,
        429,
        3.0,
    )


async def test_client_is_reused_across_calls(case, server):
    """Many calls go through one provider and one client (its pool), concurrently."""
    import asyncio

    provider, spec = case
    await provider.complete(request("warm up"), spec)
    client = provider.client
    replies = await asyncio.gather(*(provider.complete(request(f"q{i}"), spec) for i in range(20)))
    assert len(replies) == 20 and client is not None and provider.client is client
    assert server.calls() == {spec.provider_model: 21}


async def test_groq_usage_is_read_from_x_groq(server):
    """Groq's own stream reports usage in `x_groq` of its last chunk; that is read too."""
    import groq

    client = groq.AsyncGroq(base_url=server.base_url, api_key="test-key", max_retries=0)
    stream = await client.chat.completions.create(
        model="llama-test", messages=[{"role": "user", "content": "hello"}], stream=True
    )
    chunks = [c async for c in stream]
    await client.close()
    usage = usage_of(chunks[-1])
    assert usage is not None and usage.completion_tokens > 0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),
        ({}, None),
    ],
)
def test_retry_after_reads_seconds_or_milliseconds(headers, expected):
    """Retry-After is read in seconds, retry-after-ms preferred; HTTP dates are skipped."""
    assert retry_after_s(headers) == expected


async def test_stream_that_hangs_times_out(case, server):
    """A stream whose server never answers ends in ProviderTimeout, not a silent wait."""
    provider, spec = case
    server.script(spec.provider_model, [{"hang": True}])
    with pytest.raises(ProviderTimeout):
        await collect(provider, spec)


async def test_scripted_latency_delays_the_answer(case, server):
    """A latency step delays the answer by at least that long, then answers normally."""
    provider, spec = case
    server.script(spec.provider_model, [{"latency_s": 0.2}])
    reply = await provider.complete(request(), spec)
    assert reply.latency_s >= 0.2 and reply.text


async def test_cloudflare_through_an_ai_gateway_path(server, upstream):
    """Workers AI answers through the AI Gateway's URL shape as well as the direct one."""
    from harpoon_ray.providers import cloudflare

    config = ProviderConfig(
        name="cloudflare",
        kind="cloudflare",
        api_key="cf-token",
        base_url=f"{server.base_url}/v1/acct/my-gateway/workers-ai/v1",
    )
    provider = cloudflare.create(config, upstream)
    spec = local_spec("cloudflare", "@cf/meta/llama-3.2-1b-instruct")
    try:
        reply = await provider.complete(request("Say hi through the gateway"), spec)
    finally:
        await provider.aclose()
    assert "gateway" in reply.text and server.calls() == {spec.provider_model: 1}
