"""/api/route, /api/chat, /api/batch, /api/models and /api/metrics over real HTTP."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.serve


def test_route_returns_analysis_and_decision(http: httpx.Client) -> None:
    """Route analyses the prompt and names the model it would pick, calling nothing."""
    r = http.post("/api/route", json={"prompt": "Prove that there are infinitely many primes."})
    assert r.status_code == 200
    body = r.json()
    assert 0 <= body["analysis"]["score"] <= 1
    assert body["decision"]["model"]
    assert body["decision"]["tier"] == body["analysis"]["tier"] or body["decision"]["tier"]


def test_route_needs_prompt_or_messages(http: httpx.Client) -> None:
    """Neither prompt nor messages is a 422 saying to give exactly one."""
    r = http.post("/api/route", json={"model": "edge"})
    assert r.status_code == 422
    assert "exactly one" in r.json()["error"]["message"]


def test_chat_returns_a_priced_completion(http: httpx.Client) -> None:
    """Chat answers with text, tokens, cost and the saving against the flagship model."""
    r = http.post("/api/chat", json={"prompt": "Say hello.", "model": "edge"})
    assert r.status_code == 200
    c = r.json()
    assert c["text"] and c["tier"] == "edge" and c["simulated"] is True
    assert c["cost_usd"] <= c["flagship_cost_usd"]
    assert c["saving_usd"] == pytest.approx(c["flagship_cost_usd"] - c["cost_usd"], abs=1e-9)


def test_chat_unknown_model_is_a_404(http: httpx.Client) -> None:
    """An unknown model is named in a 404."""
    r = http.post("/api/chat", json={"prompt": "hi", "model": "acme/zzz"})
    assert r.status_code == 404
    assert r.json()["error"]["param"] == "model"


def test_batch_answers_every_prompt_in_order(http: httpx.Client) -> None:
    """A batch returns one item per prompt, in order, with totals."""
    prompts = [f"Count to {i}." for i in range(1, 6)]
    r = http.post("/api/batch", json={"prompts": prompts, "model": "edge"})
    assert r.status_code == 200
    body = r.json()
    assert [i["index"] for i in body["items"]] == list(range(5))
    assert body["succeeded"] == 5 and body["failed"] == 0
    assert body["cost_usd"] == pytest.approx(
        sum(i["completion"]["cost_usd"] for i in body["items"])
    )


def test_batch_reports_per_item_failures(http: httpx.Client) -> None:
    """An item that cannot be served fails alone; the others succeed (partial failure)."""
    r = http.post("/api/batch", json={"prompts": ["fine", "", "also fine"], "model": "edge"})
    assert r.status_code == 200
    items = r.json()["items"]
    assert [i["ok"] for i in items] == [True, False, True]
    assert items[1]["error"]["type"] == "invalid_request_error"


def test_batch_rejects_an_empty_list(http: httpx.Client) -> None:
    """No prompts is a 422 naming `prompts`."""
    r = http.post("/api/batch", json={"prompts": []})
    assert r.status_code == 422
    assert r.json()["error"]["param"] == "prompts"


def test_models_carry_live_breaker_state(http: httpx.Client) -> None:
    """Each catalog model comes with its breaker state and whether it is simulated."""
    models = http.get("/api/models").json()["models"]
    assert models and all(m["state"]["state"] == "closed" for m in models)
    assert all(m["simulated"] is True for m in models)


def test_metrics_count_what_was_served(http: httpx.Client) -> None:
    """Metrics grow with each completion and split cost by model and tier."""
    before = http.get("/api/metrics").json()["totals"]["requests"]
    http.post("/api/chat", json={"prompt": "One more.", "model": "edge"}).raise_for_status()
    after = http.get("/api/metrics", params={"window_s": 3600}).json()
    assert after["totals"]["requests"] == before + 1
    assert "edge" in after["by_tier"]
    assert after["totals"]["latency_s"]["p50"] is not None
    assert after["totals"]["saving_usd"] >= 0


def test_metrics_window_must_be_positive(http: httpx.Client) -> None:
    """A non-positive window is a 422 naming `window_s`."""
    r = http.get("/api/metrics", params={"window_s": -5})
    assert r.status_code == 422
    assert r.json()["error"]["param"] == "window_s"
