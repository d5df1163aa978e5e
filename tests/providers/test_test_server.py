"""The OpenAI-compatible test server, spoken to over plain HTTP the way any client would."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from harpoon_ray.errors import ConfigError
from harpoon_ray.testing import serve_in_thread

BODY = {"model": "m-1", "messages": [{"role": "user", "content": "Tell me about tides"}]}


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.base_url, timeout=5) as client:
        yield client


def sse_events(text: str) -> list[str]:
    return [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]


def test_completion_has_openai_shape_and_usage(http):
    """A plain completion is a `chat.completion` echoing the prompt, with token usage."""
    body = http.post("/v1/chat/completions", json=BODY).json()
    assert body["object"] == "chat.completion"
    assert "tides" in body["choices"][0]["message"]["content"]
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_stream_sends_chunks_then_usage_then_done(http):
    """A stream with include_usage ends with a finish chunk, a usage chunk and [DONE]."""
    body = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
    events = sse_events(http.post("/v1/chat/completions", json=body).text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1])
    plain = http.post("/v1/chat/completions", json=BODY).json()
    assert text == plain["choices"][0]["message"]["content"]


def test_stream_without_include_usage_has_no_usage_chunk(http):
    """Without stream_options the chunks carry no usage key, as OpenAI's do."""
    events = sse_events(http.post("/v1/chat/completions", json={**BODY, "stream": True}).text)
    chunks = [json.loads(e) for e in events[:-1]]
    assert all("usage" not in c for c in chunks)


def test_queued_steps_are_consumed_in_order_then_default(server, http):
    """Each request for a model takes the next queued step; then answers are normal."""
    server.script("m-1", [{"status": 503}, {"status": 429, "retry_after": 7}])
    first = http.post("/v1/chat/completions", json=BODY)
    second = http.post("/v1/chat/completions", json=BODY)
    third = http.post("/v1/chat/completions", json=BODY)
    assert (first.status_code, second.status_code, third.status_code) == (503, 429, 200)
    assert second.headers["retry-after"] == "7"
    assert server.calls() == {"m-1": 3}


def test_script_over_http_and_reset(http):
    """POST /_script queues steps, GET /_calls counts, DELETE /_script forgets both."""
    assert http.post("/_script", json={"model": "m-1", "steps": [{"status": 500}]}).is_success
    assert http.post("/v1/chat/completions", json=BODY).status_code == 500
    assert http.get("/_calls").json() == {"m-1": 1}
    http.post("/_script", json={"model": "m-1", "steps": [{"status": 500}]})
    http.delete("/_script")
    assert http.get("/_calls").json() == {}
    assert http.post("/v1/chat/completions", json=BODY).status_code == 200


def test_header_script_wins_over_the_queue(server, http):
    """An x-harpoon-script header decides the request and leaves the queue untouched."""
    server.script("m-1", [{"status": 500}])
    headers = {"x-harpoon-script": json.dumps({"text": "fixed answer"})}
    body = http.post("/v1/chat/completions", json=BODY, headers=headers).json()
    assert body["choices"][0]["message"]["content"] == "fixed answer"
    assert http.post("/v1/chat/completions", json=BODY).status_code == 500


def test_bad_script_step_is_refused_with_its_field(http):
    """A step with an unknown field or status gets a 400 naming the step."""
    reply = http.post("/_script", json={"model": "m", "steps": [{"status": 418}]})
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "steps[0]"


def test_invalid_request_json_gets_openai_error(http):
    """A body that is not JSON gets a 400 in OpenAI's error shape."""
    reply = http.post("/v1/chat/completions", content=b"{not json")
    assert reply.status_code == 400
    assert reply.json()["error"]["type"] == "invalid_request_error"


def test_missing_messages_is_a_400_naming_the_field(http):
    """A request without messages is refused and says which field is wrong."""
    reply = http.post("/v1/chat/completions", json={"model": "m"})
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "messages"


def test_malformed_step_sends_invalid_json(http):
    """The malformed step answers 200 with a body that does not parse."""
    headers = {"x-harpoon-script": json.dumps({"malformed": True})}
    reply = http.post("/v1/chat/completions", json=BODY, headers=headers)
    assert reply.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        reply.json()


def test_cut_step_drops_the_connection_mid_stream(http):
    """cut_after drops the connection after N chunks, without [DONE]."""
    headers = {"x-harpoon-script": json.dumps({"cut_after": 1})}
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/v1/chat/completions", json={**BODY, "stream": True}, headers=headers)


@pytest.mark.parametrize(
    "prefix",
    ["/v1", "/openai/v1", "/client/v4/accounts/acct/ai/v1", "/v1/acct/gw/workers-ai/v1"],
)
def test_every_sdk_prefix_serves_models_and_completions(http, prefix):
    """The OpenAI, Groq, Workers AI and AI Gateway paths all answer."""
    models = http.get(f"{prefix}/models").json()
    assert models["object"] == "list" and models["data"]
    assert http.post(f"{prefix}/chat/completions", json=BODY).status_code == 200


def test_refuses_to_bind_beyond_loopback():
    """The server binds to loopback only; any other address is a ConfigError."""
    with pytest.raises(ConfigError, match="loopback"), serve_in_thread(host="0.0.0.0"):
        pass


def test_stops_cleanly_and_frees_its_port():
    """Leaving the block stops the server: its port refuses connections afterwards."""
    with serve_in_thread() as running:
        port = int(running.base_url.rsplit(":", 1)[1])
        assert httpx.get(running.openai_base_url + "/models").status_code == 200
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_module_entry_point_serves_on_the_given_port():
    """`python -m harpoon_ray.testing.server --port N` serves until it is stopped."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harpoon_ray.testing.server", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                reply = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=BODY)
                break
            except httpx.ConnectError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert reply.status_code == 200
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
