"""The official `openai` SDK, pointed at Harpoon's /v1, works unchanged."""

from __future__ import annotations

import httpx
import openai
import pytest

pytestmark = pytest.mark.serve

PROMPT = [{"role": "user", "content": "Name three colours of the rainbow."}]


@pytest.fixture(scope="module")
def sdk(serve_app: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=serve_app + "/v1", api_key="unused", max_retries=0)


@pytest.fixture
def async_sdk(serve_app: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=serve_app + "/v1", api_key="unused", max_retries=0)


def test_sync_completion_with_auto_routing(sdk: openai.OpenAI) -> None:
    """`harpoon/auto` answers with text, usage and the model Harpoon chose."""
    raw = sdk.chat.completions.with_raw_response.create(model="harpoon/auto", messages=PROMPT)
    reply = raw.parse()
    assert reply.choices[0].message.content
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    extra = reply.model_extra["harpoon"]
    assert extra["model"] == reply.model == raw.headers["x-harpoon-model"]
    assert extra["simulated"] is True and raw.headers["x-harpoon-simulated"] == "true"
    assert float(raw.headers["x-harpoon-cost-usd"]) == pytest.approx(extra["cost_usd"], abs=1e-8)


def test_tier_name_picks_a_model_of_that_tier(sdk: openai.OpenAI) -> None:
    """`model="flagship"` is served by a flagship model."""
    reply = sdk.chat.completions.create(model="flagship", messages=PROMPT)
    assert reply.model_extra["harpoon"]["tier"] == "flagship"


def test_catalog_id_is_honoured(sdk: openai.OpenAI) -> None:
    """A catalog id is the model that answers."""
    models = [m.id for m in sdk.models.list() if "/" in m.id and m.id != "harpoon/auto"]
    reply = sdk.chat.completions.create(model=models[0], messages=PROMPT)
    assert reply.model == models[0]


async def test_async_completion(async_sdk: openai.AsyncOpenAI) -> None:
    """The async client gets the same kind of answer."""
    reply = await async_sdk.chat.completions.create(model="harpoon/auto", messages=PROMPT)
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.choices[0].message.content


def test_streaming_yields_text_then_usage(sdk: openai.OpenAI) -> None:
    """A stream's deltas join into the answer and its usage chunk closes it."""
    stream = sdk.chat.completions.create(
        model="harpoon/auto",
        messages=PROMPT,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finish) == 1
    assert finish[0].model_extra["harpoon"]["simulated"] is True


async def test_async_streaming(async_sdk: openai.AsyncOpenAI) -> None:
    """The async client streams too, and the first delta carries the assistant role."""
    stream = await async_sdk.chat.completions.create(model="primary", messages=PROMPT, stream=True)
    chunks = [c async for c in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks)
    assert chunks[-1].usage is not None  # usage rides on the finish chunk without asking


def test_models_lists_catalog_tiers_and_auto(sdk: openai.OpenAI) -> None:
    """/v1/models names harpoon/auto, each tier and every catalog model."""
    ids = {m.id for m in sdk.models.list()}
    assert {"harpoon/auto", "edge", "primary", "flagship", "openai/gpt-4o"} <= ids


def test_unknown_model_is_an_openai_not_found(sdk: openai.OpenAI) -> None:
    """An unknown model raises the SDK's NotFoundError with OpenAI's error body."""
    with pytest.raises(openai.NotFoundError) as info:
        sdk.chat.completions.create(model="nope/nothing", messages=PROMPT)
    assert info.value.body["param"] == "model"


def test_unknown_model_when_streaming_is_a_4xx_not_a_broken_stream(sdk: openai.OpenAI) -> None:
    """The model is checked before the stream starts, so the caller gets a status code."""
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="nope/nothing", messages=PROMPT, stream=True)


def test_empty_messages_is_a_bad_request(sdk: openai.OpenAI) -> None:
    """No messages is an OpenAI-shaped 422 naming `messages`."""
    with pytest.raises(openai.UnprocessableEntityError) as info:
        sdk.chat.completions.create(model="harpoon/auto", messages=[])
    assert info.value.body["param"] == "messages"


def test_unmeetable_constraints_are_refused(http: httpx.Client) -> None:
    """The `constraints` extension is honoured: an impossible quality bar is a 422."""
    r = http.post(
        "/v1/chat/completions",
        json={"messages": PROMPT, "constraints": {"min_quality": 1.0, "max_cost_usd": 1e-12}},
    )
    assert r.status_code == 422
    assert r.json()["error"]["type"] == "constraint_unsatisfiable"


def test_plain_http_gets_the_harpoon_headers(http: httpx.Client) -> None:
    """A non-streamed answer carries the x-harpoon-* headers matching its `harpoon` field."""
    r = http.post("/v1/chat/completions", json={"model": "edge", "messages": PROMPT})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    extra = r.json()["harpoon"]
    assert r.headers["x-harpoon-model"] == extra["model"] == r.json()["model"]
    assert r.headers["x-harpoon-tier"] == extra["tier"] == "edge"
    assert float(r.headers["x-harpoon-saving-usd"]) == pytest.approx(extra["saving_usd"], abs=1e-8)


def test_malformed_json_is_an_openai_400(http: httpx.Client) -> None:
    """A body that is not JSON is a 400 in OpenAI's error shape naming the body."""
    r = http.post(
        "/v1/chat/completions",
        content=b'{"messages": [',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "body" and "not valid JSON" in r.json()["error"]["message"]


def test_wrong_role_is_a_422_naming_the_nested_field(http: httpx.Client) -> None:
    """A message with an unknown role is a 422 whose param is the dotted path to it."""
    r = http.post("/v1/chat/completions", json={"messages": [{"role": "robot", "content": "beep"}]})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["param"] == "messages.0.role" and error["type"] == "invalid_request_error"


def test_body_over_the_limit_is_a_413(http: httpx.Client) -> None:
    """A completion request larger than HARPOON_MAX_BODY_BYTES is refused before parsing."""
    big = [{"role": "user", "content": "x" * 1_100_000}]
    r = http.post("/v1/chat/completions", json={"messages": big})
    assert r.status_code == 413 and r.json()["error"]["type"] == "request_too_large"


def test_locked_v1_needs_the_bearer_token(locked_app: str, api_key: str) -> None:
    """With HARPOON_API_KEY set, /v1 refuses a missing token (401) and serves the right one."""
    url = locked_app + "/v1/chat/completions"
    body = {"model": "edge", "messages": PROMPT}
    refused = httpx.post(url, json=body, timeout=30)
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert refused.json()["error"]["param"] == "authorization"
    sdk = openai.OpenAI(base_url=locked_app + "/v1", api_key=api_key, max_retries=0)
    assert sdk.chat.completions.create(model="edge", messages=PROMPT).choices[0].message.content


def test_locked_v1_stream_needs_the_bearer_token(locked_app: str) -> None:
    """A streamed request without the token is refused before any stream starts."""
    sdk = openai.OpenAI(base_url=locked_app + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        sdk.chat.completions.create(model="edge", messages=PROMPT, stream=True)
