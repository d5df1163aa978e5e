"""Router.stream over scripted providers: fall back before the first chunk, never after."""

from __future__ import annotations

import pytest

from harpoon_ray.catalog import Catalog
from harpoon_ray.errors import AllModelsFailed, ProviderUnavailable, StreamInterrupted
from harpoon_ray.routing import Router
from harpoon_ray.schemas import Capabilities, Completion, StreamChunk
from harpoon_ray.testing.scripted import Cut, Fail, Hang, Reply, ScriptedPool

from .conftest import SIMPLE, ask

FIRST = "cloudflare/mistral-7b"
SECOND = "cloudflare/llama-3.2-1b"


async def collect(agen):
    chunks, final = [], None
    async for item in agen:
        if isinstance(item, Completion):
            final = item
        else:
            assert isinstance(item, StreamChunk) and final is None
            chunks.append(item.delta)
    return chunks, final


async def test_stream_yields_deltas_then_one_priced_completion(make_router):
    """Deltas arrive in order, then a Completion whose text is their concatenation."""
    pool = ScriptedPool({FIRST: [Reply("the capital is Paris", input_tokens=10)]})
    chunks, final = await collect(make_router(pool).stream(ask(SIMPLE)))
    assert chunks == ["the", " capital", " is", " Paris"]
    assert final.text == "the capital is Paris"
    assert (final.model, final.input_tokens, final.output_tokens) == (FIRST, 10, 4)
    # 10 * 0.11 + 4 * 0.19 = 1.86 per 1M
    assert final.cost_usd == pytest.approx(1.86e-6)
    assert final.ttft_s <= final.latency_s


async def test_failure_before_the_first_chunk_falls_back(make_router):
    """A model that fails before sending anything is replaced; the caller sees one answer."""
    pool = ScriptedPool({FIRST: [Fail(ProviderUnavailable("down"))], SECOND: [Reply("hi there")]})
    chunks, final = await collect(make_router(pool).stream(ask(SIMPLE)))
    assert "".join(chunks) == "hi there"
    assert final.model == SECOND
    assert [a.error_type for a in final.attempts] == ["provider_unavailable"] * 3 + [None]


async def test_hang_before_the_first_chunk_times_out_and_falls_back(make_router, settings):
    """No first chunk within the request's timeout counts as a timeout, then fallback."""
    router = make_router(
        ScriptedPool({FIRST: [Hang()]}), settings=settings.model_copy(update={"max_retries": 0})
    )
    _, final = await collect(router.stream(ask(SIMPLE, timeout_s=0.05)))
    assert final.model == SECOND
    assert final.attempts[0].error_type == "timeout"


async def test_cut_after_chunks_raises_stream_interrupted(make_router):
    """Once chunks reached the caller, a cut is an explicit error, never another model."""
    pool = ScriptedPool({FIRST: [Cut("one two three four", after_chunks=2)]})
    received = []
    with pytest.raises(StreamInterrupted) as info:
        async for item in make_router(pool).stream(ask(SIMPLE)):
            received.append(item)
    assert [c.delta for c in received] == ["one", " two"]
    assert info.value.model == FIRST
    assert "after 2 chunks" in info.value.message
    assert pool.calls() == [FIRST]


async def test_stream_ending_without_its_final_chunk_is_an_error(make_router):
    """A stream that just stops, with no usage chunk, is not passed off as complete."""
    pool = ScriptedPool({FIRST: [Cut("one two three", after_chunks=1, silent=True)]})
    with pytest.raises(StreamInterrupted):
        await collect(make_router(pool).stream(ask(SIMPLE)))


async def test_silent_end_before_any_chunk_falls_back(make_router):
    """A stream that closes before sending text is replaced like any early failure."""
    pool = ScriptedPool({FIRST: [Cut("x", after_chunks=0, silent=True)], SECOND: [Reply("ok")]})
    _, final = await collect(make_router(pool).stream(ask(SIMPLE)))
    assert final.model == SECOND
    assert final.attempts[0].error_type == "stream_interrupted"


async def test_stream_with_every_model_failing_raises_all_models_failed(make_router):
    """When no model of the chain can start a stream, the caller gets every attempt."""
    pool = ScriptedPool(default=[Fail(ProviderUnavailable("down"))])
    with pytest.raises(AllModelsFailed) as info:
        await collect(make_router(pool).stream(ask(SIMPLE), model="edge"))
    assert len(info.value.attempts) > 4


async def test_caller_closing_early_releases_the_provider_stream(make_router, clock, settings):
    """Breaking out after one chunk closes the stream and leaves a half-open probe free."""
    pool = ScriptedPool({FIRST: [Fail(ProviderUnavailable("down"))] * 3 + [Reply("a b c")]})
    router = make_router(pool)
    await collect(router.stream(ask(SIMPLE)))  # opens FIRST's breaker
    clock.advance(settings.breaker_cooldown_s)
    agen = router.stream(ask(SIMPLE))
    first = await anext(agen)
    assert first.delta == "a"
    await agen.aclose()
    assert router.breaker(FIRST).allow()  # the abandoned probe did not wedge the breaker


async def test_stream_skips_models_the_catalog_says_cannot_stream(catalog, settings):
    """A model marked streaming=false is never asked to stream, however cheap it is."""
    mute = catalog.get(FIRST).model_copy(update={"capabilities": Capabilities(streaming=False)})
    models = [mute if m.id == FIRST else m for m in catalog.models]
    router = Router(
        Catalog(models, catalog.providers, catalog.flagship.id), ScriptedPool(), settings
    )
    assert router.decide(ask(SIMPLE)).model == FIRST  # fine for a plain completion
    _, final = await collect(router.stream(ask(SIMPLE)))
    assert final.model != FIRST
    assert FIRST not in final.routing.fallbacks
