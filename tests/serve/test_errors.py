"""Bad input gets a typed 4xx JSON error naming the problem, never a 500 or a trace."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.serve


def _error(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    return body["error"]


def test_unknown_route_is_a_json_404(http: httpx.Client) -> None:
    """A path no route serves answers 404 in the error shape, pointing at the docs."""
    r = http.get("/api/no-such-thing")
    assert r.status_code == 404
    err = _error(r)
    assert err["type"] == "not_found_error"
    assert "/docs" in err["message"]


def test_malformed_json_is_a_400(http: httpx.Client) -> None:
    """A body that is not JSON is the caller's mistake: 400 naming the body."""
    r = http.post(
        "/api/route", content=b'{"prompt": "hi"', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    err = _error(r)
    assert err["param"] == "body"
    assert "not valid JSON" in err["message"]


def test_wrong_type_is_a_422_naming_the_field(http: httpx.Client) -> None:
    """A field of the wrong type gets 422 with the dotted path of that field."""
    r = http.post("/api/chat", json={"prompt": "hi", "max_tokens": "lots"})
    assert r.status_code == 422
    err = _error(r)
    assert err["param"] == "max_tokens"
    assert err["type"] == "invalid_request_error"


def test_nested_field_error_names_the_nested_path(http: httpx.Client) -> None:
    """An error inside a list of objects names its index and key."""
    r = http.post("/api/chat", json={"messages": [{"role": "robot", "content": "hi"}]})
    assert r.status_code == 422
    assert _error(r)["param"] == "messages.0.role"


def test_body_over_the_limit_is_a_413(http: httpx.Client) -> None:
    """A declared body larger than HARPOON_MAX_BODY_BYTES is refused before parsing."""
    big = b'{"prompt": "' + b"x" * 1_100_000 + b'"}'
    r = http.post("/api/chat", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert _error(r)["type"] == "request_too_large"


def test_chunked_body_over_the_limit_is_a_413(http: httpx.Client) -> None:
    """A chunked upload with no Content-Length is cut off once it passes the limit."""

    def chunks():
        yield b'{"prompt": "'
        for _ in range(20):
            yield b"y" * 100_000
        yield b'"}'

    r = http.post("/api/chat", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_wrong_method_is_a_json_405(http: httpx.Client) -> None:
    """A known path with the wrong method answers 405 in the same error shape."""
    r = http.delete("/api/health")
    assert r.status_code == 405
    assert _error(r)["code"] == 405


def test_server_keeps_serving_after_bad_input(http: httpx.Client) -> None:
    """After a burst of malformed requests the app still answers health checks."""
    for _ in range(20):
        http.post("/api/chat", content=b"\xff\xfe", headers={"content-type": "application/json"})
    assert http.get("/api/health").status_code == 200
