"""The router over the real provider pool: real SDK clients, real HTTP, scripted faults.

Every provider of the catalog is pointed at the project's OpenAI-compatible test server
(`ProviderPool.for_test_server`), so the `openai` and `groq` SDKs speak real HTTP on
loopback and their failures reach the router as the pool maps them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from harpoon_ray.errors import AllModelsFailed, StreamInterrupted
from harpoon_ray.providers.registry import ProviderPool
from harpoon_ray.schemas import Completion

from .conftest import HARD, MEDIUM, SIMPLE, ask

# The catalog's cheapest models per tier for these prompts, and the next in line.
EDGE = ("cloudflare/mistral-7b", "@cf/mistral/mistral-7b-instruct-v0.1")
EDGE_NEXT = ("cloudflare/llama-3.2-1b", "@cf/meta/llama-3.2-1b-instruct")
PRIMARY = ("groq/llama-3.1-8b-instant", "llama-3.1-8b-instant")
PRIMARY_NEXT = ("groq/gpt-oss-20b", "openai/gpt-oss-20b")
FLAGSHIP = ("openai/gpt-4.1-mini", "gpt-4.1-mini")
FLAGSHIP_NEXT = ("openai/o4-mini", "o4-mini")


@pytest.fixture
def server(test_server):
    """The session's test server, with no scripts or counts left by other tests."""
    test_server.reset()
    yield test_server
    test_server.reset()


@pytest.fixture
async def sdk_pool(catalog, server, settings) -> AsyncIterator[ProviderPool]:
    pool = ProviderPool.for_test_server(
        catalog, server.base_url, settings.model_copy(update={"force_simulated": False})
    )
    yield pool
    await pool.aclose()


async def test_answer_through_each_sdk_is_priced_from_reported_usage(make_router, sdk_pool, server):
    """Each tier's model answers over HTTP; cost is its prices times the server's usage."""
    router = make_router(sdk_pool)
    for text, (model_id, _) in ((SIMPLE, EDGE), (MEDIUM, PRIMARY), (HARD, FLAGSHIP)):
        c = await router.complete(ask(text))
        spec = router.catalog.get(model_id)
        assert c.model == model_id and c.text and not c.simulated
        assert c.input_tokens > 0 and c.output_tokens > 0
        assert c.cost_usd == pytest.approx(spec.cost(c.input_tokens, c.output_tokens))
        assert c.saving_usd == pytest.approx(c.flagship_cost_usd - c.cost_usd)
    assert server.calls() == {EDGE[1]: 1, PRIMARY[1]: 1, FLAGSHIP[1]: 1}


# One case per provider kind in the catalog: Cloudflare (openai SDK on Workers AI's
# path), Groq (groq SDK), OpenAI (openai SDK).
EVERY_PROVIDER = pytest.mark.parametrize(
    ("prompt", "first", "second"),
    [(SIMPLE, EDGE, EDGE_NEXT), (MEDIUM, PRIMARY, PRIMARY_NEXT), (HARD, FLAGSHIP, FLAGSHIP_NEXT)],
    ids=["cloudflare", "groq", "openai"],
)


@EVERY_PROVIDER
async def test_429_then_retry_succeeds(make_router, sdk_pool, server, sleep, prompt, first, second):
    """A 429 with Retry-After is waited out and the same model answers the retry."""
    server.script(first[1], [{"status": 429, "retry_after": 0.2}])
    c = await make_router(sdk_pool).complete(ask(prompt))
    assert c.model == first[0]
    assert sleep.waits == [0.2]
    assert [a.error_type for a in c.attempts] == ["rate_limited", None]
    assert server.calls() == {first[1]: 2}


@EVERY_PROVIDER
async def test_500s_then_fallback_to_the_next_model(
    make_router, sdk_pool, server, settings, prompt, first, second
):
    """A model that keeps answering 500 is retried, then the next one in the chain answers."""
    server.script(first[1], [{"status": 500}] * (settings.max_retries + 1))
    c = await make_router(sdk_pool).complete(ask(prompt))
    assert c.model == second[0]
    assert server.calls() == {first[1]: settings.max_retries + 1, second[1]: 1}
    assert {a.error_type for a in c.attempts if not a.ok} == {"provider_unavailable"}


async def test_hang_then_timeout_then_fallback(make_router, sdk_pool, server, settings):
    """A hung OpenAI endpoint times out at the request's deadline; the next model answers."""
    router = make_router(sdk_pool, settings=settings.model_copy(update={"max_retries": 0}))
    server.script(FLAGSHIP[1], [{"hang": True}])
    c = await router.complete(ask(HARD, timeout_s=0.3, max_tokens=32))
    assert c.model == FLAGSHIP_NEXT[0]
    assert (c.attempts[0].model, c.attempts[0].error_type) == (FLAGSHIP[0], "timeout")


@EVERY_PROVIDER
async def test_stream_cut_midway_ends_in_an_explicit_error(
    make_router, sdk_pool, server, prompt, first, second
):
    """A stream dropped after two chunks raises StreamInterrupted after those chunks."""
    server.script(first[1], [{"cut_after": 2, "text": "alpha beta gamma delta epsilon"}])
    received = []
    with pytest.raises(StreamInterrupted) as info:
        async for item in make_router(sdk_pool).stream(ask(prompt)):
            assert not isinstance(item, Completion)
            received.append(item.delta)
    assert len(received) == 2
    assert info.value.model == first[0]
    assert server.calls() == {first[1]: 1}


async def test_stream_error_before_content_falls_back(make_router, sdk_pool, server):
    """A 503 before any chunk is not the caller's problem: the next model streams."""
    server.script(EDGE[1], [{"status": 503}] * 3)
    chunks, final = [], None
    async for item in make_router(sdk_pool).stream(ask(SIMPLE)):
        if isinstance(item, Completion):
            final = item
        else:
            chunks.append(item.delta)
    assert final.model == EDGE_NEXT[0]
    assert "".join(chunks) == final.text and final.output_tokens > 0


async def test_breaker_opens_and_recovers_over_http(make_router, sdk_pool, server, clock, settings):
    """Three 503s open the breaker (no more calls reach the server); after the cool-down
    one probe gets through, succeeds, and closes it."""
    router = make_router(sdk_pool, settings=settings.model_copy(update={"max_retries": 0}))
    server.script(EDGE[1], [{"status": 503}] * settings.breaker_failures)
    for _ in range(settings.breaker_failures):
        assert (await router.complete(ask(SIMPLE))).model == EDGE_NEXT[0]
    assert router.state()[EDGE[0]]["state"] == "open"

    skipped = await router.complete(ask(SIMPLE))
    assert skipped.attempts[0].error_type == "circuit_open"
    assert server.calls()[EDGE[1]] == settings.breaker_failures

    clock.advance(settings.breaker_cooldown_s)
    probe = await router.complete(ask(SIMPLE))
    assert probe.model == EDGE[0]
    assert router.state()[EDGE[0]]["state"] == "closed"


async def test_all_models_failing_over_http_lists_each(make_router, sdk_pool, server, settings):
    """With every flagship model answering 500, the error names each one tried."""
    router = make_router(sdk_pool, settings=settings.model_copy(update={"max_retries": 0}))
    for model in ("gpt-4.1-mini", "o4-mini", "gpt-4.1", "gpt-4o"):
        server.script(model, [{"status": 500}])
    with pytest.raises(AllModelsFailed) as info:
        await router.complete(ask(HARD))
    assert len({a["model"] for a in info.value.attempts}) == 4
    assert info.value.to_dict()["attempts"] == info.value.attempts


async def test_simulated_pool_answers_are_labelled_simulated(make_router, catalog, settings):
    """With no keys, the pool's simulated provider answers and the Completion says so."""
    pool = ProviderPool(catalog, settings.model_copy(update={"force_simulated": True}))
    try:
        router = make_router(pool)
        c = await router.complete(ask(MEDIUM, max_tokens=32))
        assert c.simulated and c.output_tokens > 0
        streamed = [item async for item in router.stream(ask(HARD, max_tokens=32))]
        assert isinstance(streamed[-1], Completion) and streamed[-1].simulated
        assert all(chunk.simulated for chunk in streamed[:-1])
    finally:
        await pool.aclose()


async def test_malformed_replies_are_a_provider_failure_not_a_crash(
    make_router, sdk_pool, server, settings
):
    """Invalid JSON from a provider is retried like a 5xx, then the next model answers."""
    server.script(PRIMARY[1], [{"malformed": True}] * (settings.max_retries + 1))
    c = await make_router(sdk_pool).complete(ask(MEDIUM))
    assert c.model == PRIMARY_NEXT[0]
    assert len([a for a in c.attempts if not a.ok]) == settings.max_retries + 1
