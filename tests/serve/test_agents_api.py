"""Covenant and agents REST routes over the real actors, through the gateway."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.serve

QUERY = "Compare three sorting algorithms for nearly sorted data."


def test_orchestrate_answers_202_with_stream_urls(http: httpx.Client) -> None:
    """Starting a covenant answers at once with its id and where to follow it."""
    r = http.post("/api/orchestrate/parallel", json={"query": QUERY, "agents": 3})
    assert r.status_code == 202
    body = r.json()
    cid = body["covenant_id"]
    assert body["covenant"]["pattern"] == "parallel"
    assert body["ws_url"].startswith("ws://") and body["ws_url"].endswith(f"{cid}/ws?after=0")
    assert http.get(body["events_url"]).status_code == 200


def test_orchestrate_wait_returns_the_finished_covenant(http: httpx.Client) -> None:
    """With ?wait=true the answer is the ended covenant with its agents."""
    r = http.post("/api/orchestrate/smart", params={"wait": "true"}, json={"query": QUERY})
    assert r.status_code == 200
    body = r.json()
    assert body["covenant"]["status"] == "completed"
    assert body["covenant"]["result"]
    assert body["agents"]


def test_unknown_pattern_is_a_422_naming_it(http: httpx.Client) -> None:
    """A pattern Harpoon does not have is refused with `pattern` named."""
    r = http.post("/api/orchestrate/telepathy", json={"query": QUERY})
    assert r.status_code == 422
    assert r.json()["error"]["param"] == "pattern"


def test_blank_query_is_refused(http: httpx.Client) -> None:
    """An empty query never reaches the actors."""
    r = http.post("/api/orchestrate/parallel", json={"query": ""})
    assert r.status_code == 422
    assert r.json()["error"]["param"] == "query"


def test_covenant_events_page_from_after(http: httpx.Client) -> None:
    """The events route returns the log after a seq, gap-free and in order."""
    cid = http.post(
        "/api/orchestrate/smart", params={"wait": "true"}, json={"query": QUERY}
    ).json()["covenant"]["id"]
    all_events = http.get(f"/api/covenants/{cid}/events").json()["events"]
    seqs = [e["seq"] for e in all_events]
    assert seqs == list(range(1, len(seqs) + 1))
    tail = http.get(f"/api/covenants/{cid}/events", params={"after": 2}).json()
    assert [e["seq"] for e in tail["events"]] == seqs[2:]
    assert tail["next_after"] == seqs[-1]


def test_unknown_covenant_is_a_404(http: httpx.Client) -> None:
    """Asking for a covenant that does not exist is a 404 naming `covenant_id`."""
    for path in ("/api/covenants/cov_doesnotexist00", "/api/covenants/cov_doesnotexist00/events"):
        r = http.get(path)
        assert r.status_code == 404, path
        assert r.json()["error"]["param"] == "covenant_id"


def test_covenants_list_newest_first(http: httpx.Client) -> None:
    """A user's covenants are listed newest first."""
    ids = [
        http.post(
            "/api/orchestrate/smart", json={"query": f"{QUERY} #{i}", "user_id": "lister"}
        ).json()["covenant_id"]
        for i in range(2)
    ]
    listed = http.get("/api/covenants", params={"user_id": "lister"}).json()["covenants"]
    assert [c["id"] for c in listed[:2]] == ids[::-1]


def test_mediator_command_query_then_cancel(http: httpx.Client) -> None:
    """The mediator takes a query command, then a cancel for the covenant it made."""
    r = http.post(
        "/api/agents/mediator/alice/command",
        json={"command": "query", "query": QUERY, "pattern": "parallel", "agents": 50},
    )
    assert r.status_code == 202
    cid = r.json()["covenant_id"]
    r = http.post(
        "/api/agents/mediator/alice/command", json={"command": "cancel", "covenant_id": cid}
    )
    assert r.status_code == 200
    assert r.json()["status"] in ("cancelled", "completed")


def test_mediator_history_keeps_the_conversation(http: httpx.Client) -> None:
    """After a query, the user's history holds it."""
    http.post(
        "/api/orchestrate/smart", params={"wait": "true"}, json={"query": "Hi", "user_id": "bob"}
    )
    r = http.post("/api/agents/mediator/bob/command", json={"command": "history"})
    assert r.status_code == 200
    assert any("Hi" in str(m) for m in r.json()["messages"])


def test_orchestrate_naming_no_user_is_a_one_off(http: httpx.Client) -> None:
    """Two callers that name no user share nothing: the second's prompts hold no trace of
    the first's query, and neither joins a conversation."""
    secret = "Summarise our unreleased Q3 acquisition plan"
    http.post("/api/orchestrate/smart", params={"wait": "true"}, json={"query": secret})
    r = http.post("/api/orchestrate/smart", params={"wait": "true"}, json={"query": QUERY})
    cov = r.json()["covenant"]
    assert cov["user_id"] == "anonymous" and cov["conversation"] is False
    assert cov["history"] == [] and "follow-up" not in cov["intent"]
    history = http.post("/api/agents/mediator/anonymous/command", json={"command": "history"})
    assert secret not in str(history.json()["messages"])


def test_naming_the_old_default_user_is_a_one_off_too(http: httpx.Client) -> None:
    """A client still sending `"user_id": "anonymous"` (the old default) gets a one-off,
    not the turns every anonymous caller left before."""
    body = {"query": QUERY, "user_id": "anonymous"}
    cov = http.post("/api/orchestrate/smart", params={"wait": "true"}, json=body).json()
    assert cov["covenant"]["conversation"] is False and cov["covenant"]["history"] == []


def test_orchestrate_naming_a_user_continues_their_conversation(http: httpx.Client) -> None:
    """A named user's second query is drafted with the first one and its answer."""
    first = "Name three sorting algorithms"
    body = {"query": first, "user_id": "carol"}
    http.post("/api/orchestrate/smart", params={"wait": "true"}, json=body)
    body = {"query": "Which of them is stable?", "user_id": "carol"}
    cov = http.post("/api/orchestrate/smart", params={"wait": "true"}, json=body).json()
    turns = cov["covenant"]["history"]
    assert cov["covenant"]["conversation"] is True
    assert [t["role"] for t in turns[-2:]] == ["user", "assistant"]
    assert turns[-2]["content"] == first


def test_mediator_unknown_command_is_a_422(http: httpx.Client) -> None:
    """A command the mediator does not know is refused, naming `command`."""
    r = http.post("/api/agents/mediator/alice/command", json={"command": "dance"})
    assert r.status_code == 422
    assert "command" in (r.json()["error"]["param"] or "")


def test_agents_status_shows_shards_and_feeds(http: httpx.Client) -> None:
    """Agents status lists the shards and this gateway's live feeds."""
    body = http.get("/api/agents/status").json()
    assert body["orchestrators"] and body["mediators"]
    assert {"feeds", "subscribers"} <= set(body["gateway"])


def test_metrics_split_finished_covenants_by_pattern(http: httpx.Client) -> None:
    """A finished covenant shows up in /api/metrics under its pattern, with its cost."""
    http.post("/api/orchestrate/smart", params={"wait": "true"}, json={"query": QUERY})
    covenants = http.get("/api/metrics").json()["covenants"]
    assert covenants["ok"] is True
    smart = covenants["by_pattern"]["smart"]
    assert smart["requests"] >= 1 and smart["cost_usd"] > 0
