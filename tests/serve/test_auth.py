"""With HARPOON_API_KEY set, every API route needs the matching bearer token."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.serve


def test_open_app_needs_no_token(http: httpx.Client) -> None:
    """Without HARPOON_API_KEY the loopback app answers without any token."""
    assert http.get("/api/models").status_code == 200


def test_missing_token_is_a_401(locked_app: str) -> None:
    """No Authorization header on the locked app gets 401 JSON saying what to send."""
    r = httpx.get(locked_app + "/api/models", timeout=30)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    err = r.json()["error"]
    assert err["type"] == "authentication_error"
    assert err["param"] == "authorization"


def test_wrong_token_is_a_401(locked_app: str) -> None:
    """A bearer token that does not match is refused."""
    r = httpx.get(locked_app + "/api/models", headers={"authorization": "Bearer nope"})
    assert r.status_code == 401
    assert "does not match" in r.json()["error"]["message"]


def test_matching_token_is_let_through(locked_app: str, api_key: str) -> None:
    """The right token opens every route."""
    headers = {"authorization": f"Bearer {api_key}"}
    r = httpx.get(locked_app + "/api/models", headers=headers, timeout=30)
    assert r.status_code == 200
    assert r.json()["models"]
