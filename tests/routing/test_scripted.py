"""The scripted provider that routing tests (and users' tests) drive the router with."""

from __future__ import annotations

import pytest

from harpoon_ray.errors import ProviderUnavailable, StreamInterrupted, ValidationFailed
from harpoon_ray.providers.base import Provider
from harpoon_ray.testing.scripted import Cut, Fail, Reply, ScriptedPool, ScriptedProvider

from .conftest import ask


def test_meets_the_provider_protocol():
    """A ScriptedProvider passes for a Provider wherever one is expected."""
    assert isinstance(ScriptedProvider(), Provider)


async def test_plays_the_script_in_order_then_repeats_the_last(catalog):
    """Outcomes are consumed one per call; the last one repeats once the script ends."""
    spec = catalog.get("groq/gpt-oss-20b")
    p = ScriptedProvider([Fail(ProviderUnavailable("down")), Reply("one"), Reply("two")])
    with pytest.raises(ProviderUnavailable) as info:
        await p.complete(ask("hi"), spec)
    assert info.value.model == spec.id  # filled in for the model called
    texts = [(await p.complete(ask("hi"), spec)).text for _ in range(3)]
    assert texts == ["one", "two", "two"]
    assert len(p.calls) == 4


async def test_each_failure_is_a_fresh_exception(catalog):
    """Raising the same scripted error twice gives two distinct exception objects."""
    spec = catalog.get("groq/gpt-oss-20b")
    p = ScriptedProvider([Fail(ProviderUnavailable("down"))])
    caught = []
    for _ in range(2):
        with pytest.raises(ProviderUnavailable) as info:
            await p.complete(ask("hi"), spec)
        caught.append(info.value)
    assert caught[0] is not caught[1]


async def test_stream_ends_with_a_usage_chunk(catalog):
    """A streamed reply is word deltas, then one done chunk with the token counts."""
    spec = catalog.get("groq/gpt-oss-20b")
    chunks = [c async for c in ScriptedProvider([Reply("a b c")]).stream(ask("x y"), spec)]
    assert [c.delta for c in chunks[:-1]] == ["a", " b", " c"]
    assert (chunks[-1].done, chunks[-1].input_tokens, chunks[-1].output_tokens) == (True, 2, 3)


async def test_cut_stream_raises_after_its_chunks(catalog):
    """Cut streams the given number of chunks, then raises StreamInterrupted."""
    spec = catalog.get("groq/gpt-oss-20b")
    got = []
    with pytest.raises(StreamInterrupted):
        async for c in ScriptedProvider([Cut("a b c", after_chunks=1)]).stream(ask("q"), spec):
            got.append(c.delta)
    assert got == ["a"]


def test_bad_scripts_are_refused():
    """An empty script or an unknown outcome is a clear error, not a later crash."""
    with pytest.raises(ValidationFailed):
        ScriptedProvider([])
    with pytest.raises(ValidationFailed):
        ScriptedProvider(["not an outcome"])


async def test_pool_logs_calls_across_models_in_order(catalog):
    """The pool hands out per-model providers and records the order models were called."""
    pool = ScriptedPool({"groq/gpt-oss-20b": [Reply("x")]})
    a, b = catalog.get("groq/gpt-oss-20b"), catalog.get("openai/gpt-4o")
    await pool.for_model(b).complete(ask("q"), b)
    await pool.for_model(a).complete(ask("q"), a)
    assert pool.calls() == ["openai/gpt-4o", "groq/gpt-oss-20b"]
    await pool.aclose()
    assert pool.default.closed
