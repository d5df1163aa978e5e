"""How far a call may go: at most `max_fallbacks` models after the first, within a deadline;
and the call path's shortcuts (pins not analysed, analyses reused) choosing as before."""

from __future__ import annotations

import pytest

from harpoon_ray.errors import (
    AllModelsFailed,
    ProviderUnavailable,
    RateLimited,
    StreamInterrupted,
    ValidationFailed,
)
from harpoon_ray.routing import Router, analyse, select
from harpoon_ray.testing.scripted import Fail, Hang, Reply, ScriptedPool

from .conftest import HARD, SIMPLE, ask

EDGE_FIRST = "cloudflare/mistral-7b"
EDGE_SECOND = "cloudflare/llama-3.2-1b"


def _bounded(settings, n: int):
    return settings.model_copy(update={"max_fallbacks": n})


async def test_a_failing_edge_prompt_tries_only_max_fallbacks_more_models(make_router, settings):
    """With every model down, an edge prompt tries its first model and 2 fallbacks, not 12."""
    pool = ScriptedPool(default=[Fail(ProviderUnavailable("down"))])
    router = make_router(pool, settings=_bounded(settings, 2))
    with pytest.raises(AllModelsFailed) as info:
        await router.complete(ask(SIMPLE))
    full = select(analyse(SIMPLE), router.catalog, None, ask(SIMPLE))
    expected = [full.model, *full.fallbacks[:2]]
    assert list(dict.fromkeys(a["model"] for a in info.value.attempts)) == expected
    assert len(pool.calls()) == 3 * (settings.max_retries + 1)


async def test_no_fallbacks_allowed_means_the_first_models_failure_is_final(make_router, settings):
    """max_fallbacks=0: the chosen model's failure is the answer, the next one is not asked."""
    pool = ScriptedPool({EDGE_FIRST: [Fail(ProviderUnavailable("down"))]})
    router = make_router(pool, settings=_bounded(settings, 0))
    with pytest.raises(AllModelsFailed):
        await router.complete(ask(SIMPLE))
    assert set(pool.calls()) == {EDGE_FIRST}


def test_decide_shows_the_chain_the_call_will_walk(make_router, settings):
    """decide() lists max_fallbacks fallbacks, the head of the selector's full chain."""
    full = select(analyse(SIMPLE), make_router(ScriptedPool()).catalog, None, ask(SIMPLE))
    assert len(full.fallbacks) == 11
    short = make_router(ScriptedPool(), settings=_bounded(settings, 4)).decide(ask(SIMPLE))
    assert (short.model, short.fallbacks) == (full.model, full.fallbacks[:4])
    long = make_router(ScriptedPool(), settings=_bounded(settings, 50)).decide(ask(SIMPLE))
    assert long.fallbacks == full.fallbacks


async def test_the_deadline_stops_a_chain_of_hanging_models(catalog, settings):
    """Every model hangs: the first try is cut at the call's deadline and no other starts."""
    pool = ScriptedPool(default=[Hang()])
    router = Router(catalog, pool, settings)  # real clock: the deadline is wall time
    with pytest.raises(AllModelsFailed) as info:
        await router.complete(ask(HARD), deadline_s=0.2)
    assert "deadline of 0.2s ran out" in info.value.message
    assert [(a["model"], a["error_type"]) for a in info.value.attempts] == [
        ("openai/gpt-4.1-mini", "timeout")
    ]
    assert info.value.http_status == 504


async def test_the_deadline_setting_applies_when_the_call_names_none(catalog, settings):
    """Settings.call_deadline_s bounds every call that passes no deadline_s of its own."""
    pool = ScriptedPool(default=[Hang()])
    router = Router(catalog, pool, settings.model_copy(update={"call_deadline_s": 0.2}))
    with pytest.raises(AllModelsFailed, match="deadline"):
        await router.complete(ask(HARD))
    assert len(pool.calls()) == 1


async def test_a_backoff_longer_than_the_time_left_moves_on_at_once(make_router, sleep):
    """A Retry-After of 0.5 s with 0.3 s left is not waited: the next model answers now."""
    pool = ScriptedPool({EDGE_FIRST: [Fail(RateLimited("slow down", retry_after_s=0.5))]})
    c = await make_router(pool).complete(ask(SIMPLE), deadline_s=0.3)
    assert c.model == EDGE_SECOND
    assert sleep.waits == []


async def test_a_deadline_that_is_not_positive_is_refused(make_router):
    """deadline_s=0 is a ValidationFailed naming the parameter, before any model call."""
    pool = ScriptedPool()
    with pytest.raises(ValidationFailed) as info:
        await make_router(pool).complete(ask(SIMPLE), deadline_s=0)
    assert info.value.param == "deadline_s"
    assert pool.calls() == []


async def test_a_pinned_call_is_not_analysed_but_decide_still_explains_it(make_router):
    """The pin's completion carries no analysis (it could not change the choice); decide()
    for the same pin still reports the prompt's complexity."""
    router = make_router(ScriptedPool({EDGE_SECOND: [Reply("pinned")]}))
    c = await router.complete(ask(HARD), model=EDGE_SECOND)
    assert (c.model, c.text, c.routing.fallbacks) == (EDGE_SECOND, "pinned", [])
    assert c.routing.analysis is None
    assert c.routing.reason == f"pinned to {EDGE_SECOND} by the caller"
    explained = router.decide(ask(HARD), model=EDGE_SECOND)
    assert explained.analysis == analyse(HARD)
    assert (explained.model, explained.estimated_cost_usd) == (
        c.routing.model,
        c.routing.estimated_cost_usd,
    )


def test_a_repeated_prompt_reuses_its_analysis(make_router):
    """The router keeps recent analyses: the same chat-sized text is analysed once."""
    router = make_router(ScriptedPool())
    first = router.analyse(MEDIUM_TEXT)
    assert router.analyse(MEDIUM_TEXT) is first
    assert first == analyse(MEDIUM_TEXT)
    huge = "word " * 2000  # past the cache's size limit: analysed afresh, same result
    assert router.analyse(huge) == analyse(huge)
    assert router.analyse(huge) is not router.analyse(huge)


MEDIUM_TEXT = "Write a Python function that merges two sorted lists."


async def test_a_stream_that_trickles_past_the_deadline_is_cut(catalog, settings):
    """Each word comes well within the chunk timeout, but the call's deadline ends the
    stream: the words sent so far, then StreamInterrupted naming the timeout."""
    pool = ScriptedPool(default=[Reply(text="one two three four five six", every_s=0.1)])
    router = Router(catalog, pool, settings)  # real clock: the deadline is wall time
    got: list[str] = []
    with pytest.raises(StreamInterrupted, match="timeout"):
        async for item in router.stream(ask(HARD), deadline_s=0.25):
            got.append(item.delta)
    assert got[0] == "one" and "six" not in "".join(got)


async def test_a_stream_whose_models_all_hang_fails_at_the_deadline(catalog, settings):
    """No first chunk before the deadline: the call fails once, as a timeout, 504."""
    pool = ScriptedPool(default=[Hang()])
    router = Router(catalog, pool, settings)
    with pytest.raises(AllModelsFailed) as info:
        async for _ in router.stream(ask(HARD), deadline_s=0.2):
            pass
    assert "deadline of 0.2s ran out" in info.value.message
    assert len(pool.calls()) == 1 and info.value.http_status == 504
