"""Router.complete over scripted providers: retries, fallback, breakers, priced answers."""

from __future__ import annotations

import json
import pickle

import pytest

from harpoon_ray.errors import (
    AllModelsFailed,
    BadRequest,
    ProviderUnavailable,
    RateLimited,
    ValidationFailed,
)
from harpoon_ray.testing.scripted import Fail, Hang, Reply, ScriptedPool

from .conftest import HARD, SIMPLE, ask

EDGE_FIRST = "cloudflare/mistral-7b"  # the cheapest edge model for SIMPLE
EDGE_SECOND = "cloudflare/llama-3.2-1b"
FLAGSHIP_FIRST = "openai/gpt-4.1-mini"
FLAGSHIP_SECOND = "openai/o4-mini"


async def test_success_reports_tokens_cost_and_saving(make_router, catalog):
    """A first-try answer carries its provider's tokens and hand-computable prices."""
    pool = ScriptedPool({EDGE_FIRST: [Reply("Paris is the capital", input_tokens=20)]})
    c = await make_router(pool).complete(ask(SIMPLE))
    assert (c.model, c.provider, c.tier.value) == (EDGE_FIRST, "cloudflare", "edge")
    assert (c.text, c.input_tokens, c.output_tokens) == ("Paris is the capital", 20, 4)
    # mistral-7b: 20 * 0.11 + 4 * 0.19 = 2.96 per 1M; gpt-4o: 20 * 2.5 + 4 * 10 = 90 per 1M
    assert c.cost_usd == pytest.approx(2.96e-6)
    assert c.flagship_cost_usd == pytest.approx(90e-6)
    assert c.saving_usd == pytest.approx(87.04e-6)
    assert c.flagship_model == "openai/gpt-4o"
    assert [(a.model, a.ok) for a in c.attempts] == [(EDGE_FIRST, True)]
    assert c.routing.model == EDGE_FIRST and c.routing.reason
    assert c.simulated is False


async def test_429_is_retried_after_the_retry_after_delay(make_router, sleep):
    """A 429 with Retry-After 0.5 s is waited out, then the same model answers."""
    pool = ScriptedPool({EDGE_FIRST: [Fail(RateLimited("slow down", retry_after_s=0.5)), Reply()]})
    c = await make_router(pool).complete(ask(SIMPLE))
    assert c.model == EDGE_FIRST
    assert sleep.waits == [0.5]
    assert [(a.model, a.error_type, a.retry) for a in c.attempts] == [
        (EDGE_FIRST, "rate_limited", 0),
        (EDGE_FIRST, None, 1),
    ]


async def test_retry_after_beyond_the_cap_moves_to_the_next_model(make_router, sleep):
    """Waiting 60 s for one model is worse than asking the next one now."""
    pool = ScriptedPool({EDGE_FIRST: [Fail(RateLimited("later", retry_after_s=60))]})
    c = await make_router(pool).complete(ask(SIMPLE))
    assert c.model == EDGE_SECOND
    assert sleep.waits == []


async def test_500s_are_retried_with_jittered_backoff_then_fall_back(make_router, sleep, settings):
    """Each retry waits a random time within base * 2**retry; then the next model answers."""
    pool = ScriptedPool({EDGE_FIRST: [Fail(ProviderUnavailable("500", status_code=500))]})
    c = await make_router(pool).complete(ask(SIMPLE))
    assert c.model == EDGE_SECOND
    assert pool.calls() == [EDGE_FIRST] * (settings.max_retries + 1) + [EDGE_SECOND]
    assert len(sleep.waits) == settings.max_retries
    for retry, wait in enumerate(sleep.waits):
        assert 0 <= wait <= settings.backoff_base_s * 2**retry
    assert [a.error_type for a in c.attempts] == ["provider_unavailable"] * 3 + [None]


async def test_backoff_never_exceeds_the_configured_maximum(make_router, settings):
    """Full jitter is drawn under min(backoff_max_s, base * 2**retry), however many retries."""
    router = make_router(ScriptedPool(), settings=settings.model_copy(update={"max_retries": 50}))
    waits = [router.backoff_s(ProviderUnavailable("x"), r) for r in range(50)]
    assert all(0 <= w <= settings.backoff_max_s for w in waits)
    assert max(waits) > settings.backoff_base_s  # it does grow past the first step


async def test_a_refused_request_is_not_retried(make_router, sleep):
    """A 400 from one model goes straight to the next model, without waiting."""
    pool = ScriptedPool({EDGE_FIRST: [Fail(BadRequest("nope", status_code=400))]})
    c = await make_router(pool).complete(ask(SIMPLE))
    assert pool.calls() == [EDGE_FIRST, EDGE_SECOND]
    assert sleep.waits == []
    assert c.attempts[0].error_type == "provider_bad_request"


async def test_a_hang_times_out_and_falls_back(make_router, settings):
    """A model that never answers is cut off at the request's timeout, then replaced."""
    router = make_router(
        ScriptedPool({FLAGSHIP_FIRST: [Hang()]}),
        settings=settings.model_copy(update={"max_retries": 0}),
    )
    c = await router.complete(ask(HARD, timeout_s=0.05))
    assert c.model == FLAGSHIP_SECOND
    assert (c.attempts[0].model, c.attempts[0].error_type) == (FLAGSHIP_FIRST, "timeout")


async def test_every_model_failing_lists_every_attempt(make_router, catalog):
    """When the whole chain fails, the error holds each try with its model and cause."""
    pool = ScriptedPool(default=[Fail(ProviderUnavailable("down"))])
    with pytest.raises(AllModelsFailed) as info:
        await make_router(pool).complete(ask(HARD))
    err = info.value
    flagships = {m.id for m in catalog.models if m.tier.value == "flagship"}
    assert {a["model"] for a in err.attempts} == flagships
    assert all(a["error_type"] in {"provider_unavailable", "circuit_open"} for a in err.attempts)
    assert err.http_status == 503
    assert "openai/gpt-4.1-mini" in err.message
    assert pickle.loads(pickle.dumps(err)).attempts == err.attempts


async def test_breaker_opens_skips_the_model_then_recovers(make_router, clock, settings):
    """Three failures open a model's breaker; it is skipped until the cool-down, when one
    probe succeeds and closes it."""
    pool = ScriptedPool({EDGE_FIRST: [Fail(ProviderUnavailable("down"))] * 3 + [Reply("back")]})
    router = make_router(pool)

    first = await router.complete(ask(SIMPLE))
    assert first.model == EDGE_SECOND
    assert router.state()[EDGE_FIRST]["state"] == "open"

    second = await router.complete(ask(SIMPLE))
    assert second.model == EDGE_SECOND
    assert (second.attempts[0].model, second.attempts[0].error_type) == (EDGE_FIRST, "circuit_open")
    assert pool.providers[EDGE_FIRST].calls.__len__() == 3  # not called while open

    clock.advance(settings.breaker_cooldown_s)
    assert router.state()[EDGE_FIRST]["state"] == "half_open"
    third = await router.complete(ask(SIMPLE))
    assert (third.model, third.text) == (EDGE_FIRST, "back")
    assert router.state()[EDGE_FIRST]["state"] == "closed"


async def test_state_lists_every_catalog_model(make_router, catalog):
    """state() reports a breaker for each model, closed before any call."""
    state = make_router(ScriptedPool()).state()
    assert set(state) == {m.id for m in catalog.models}
    assert {s["state"] for s in state.values()} == {"closed"}


async def test_pinned_model_failing_does_not_silently_switch(make_router):
    """A pinned model has no fallbacks: its failure is the caller's answer."""
    pool = ScriptedPool({EDGE_SECOND: [Fail(BadRequest("no"))]})
    with pytest.raises(AllModelsFailed) as info:
        await make_router(pool).complete(ask(SIMPLE), model=EDGE_SECOND)
    assert [a["model"] for a in info.value.attempts] == [EDGE_SECOND]


async def test_dict_request_and_constraints_are_accepted(make_router):
    """The dict forms that arrive over a Ray call work like the models."""
    c = await make_router(ScriptedPool()).complete(
        {"messages": [{"role": "user", "content": SIMPLE}]}, {"min_quality": 0.6}
    )
    assert c.tier.value == "primary"


@pytest.mark.parametrize(
    ("request_", "constraints", "model", "param"),
    [
        ({"messages": []}, None, None, "request.messages"),
        ("just a string", None, None, "request"),
        (
            {"messages": [{"role": "user", "content": "x"}]},
            {"max_cost_usd": -1},
            None,
            "constraints.max_cost_usd",
        ),
        ({"messages": [{"role": "user", "content": "x"}]}, None, 42, "model"),
    ],
)
async def test_bad_input_is_a_typed_error_naming_the_field(
    make_router, request_, constraints, model, param
):
    """Malformed calls get ValidationFailed with the offending field, before any model call."""
    pool = ScriptedPool()
    router = make_router(pool)
    with pytest.raises(ValidationFailed) as info:
        await router.complete(request_, constraints, model)
    assert info.value.param == param
    with pytest.raises(ValidationFailed):
        await anext(router.stream(request_, constraints, model))
    assert pool.calls() == []


async def test_a_lone_surrogate_in_an_answer_becomes_a_replacement_character(make_router):
    """JSON may carry an escaped lone surrogate, which nothing can encode later (the store,
    the wire): the router hands on U+FFFD instead, streamed or not."""
    pool = ScriptedPool(default=[Reply(text="bad \ud800 text")])
    router = make_router(pool)
    done = await router.complete(ask(SIMPLE))
    streamed = [item async for item in router.stream(ask(SIMPLE))]
    for text in (done.text, "".join(c.delta for c in streamed[:-1]), streamed[-1].text):
        assert text == "bad \ufffd text" and text.encode("utf-8")


def test_an_error_quoting_a_lone_surrogate_can_be_sent():
    """An error message that quotes a provider's body is made encodable too."""
    err = ProviderUnavailable("upstream said: \udc80 oops")
    assert err.message == "upstream said: \ufffd oops"
    assert json.dumps(err.to_dict(), ensure_ascii=False).encode("utf-8")
