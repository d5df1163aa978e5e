"""Health, OpenAPI, docs, the UI at `/` and the builder's argument checks."""

from __future__ import annotations

import httpx
import pytest

from harpoon_ray.errors import ConfigError
from harpoon_ray.serve import build_app

pytestmark = pytest.mark.serve


def test_health_reports_ray_and_every_part(http: httpx.Client) -> None:
    """Health answers 200 with Ray's namespace and a verdict for routing and agents."""
    r = http.get("/api/health")
    assert r.status_code == 200
    body = r.json()
    assert body["ray"] == {**body["ray"], "initialized": True, "namespace": "harpoon"}
    assert body["status"] in ("ok", "degraded")
    assert {"ok"} <= set(body["routing"]) and {"ok"} <= set(body["agents"])


def test_openapi_lists_the_api(http: httpx.Client) -> None:
    """The OpenAPI document names the REST, /v1 and agents routes."""
    paths = http.get("/openapi.json").json()["paths"]
    for path in ("/api/health", "/api/models", "/api/route", "/api/chat", "/api/batch"):
        assert path in paths


def test_docs_page_is_served(http: httpx.Client) -> None:
    """Swagger UI answers at /docs."""
    r = http.get("/docs")
    assert r.status_code == 200
    assert "swagger" in r.text.lower()


def test_ui_is_served_at_root(http: httpx.Client) -> None:
    """`/` serves the static UI's index page."""
    r = http.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "Harpoon" in r.text


def test_builder_rejects_unknown_args() -> None:
    """A misspelt key in serve_config.yaml's args fails with a ConfigError naming it."""
    with pytest.raises(ConfigError) as info:
        build_app({"gateway": {"num_replica": 2}})
    assert info.value.param == "gateway.num_replica"


def test_builder_rejects_bad_values() -> None:
    """A replica count below one is refused with the field named."""
    with pytest.raises(ConfigError) as info:
        build_app({"model_router": {"num_replicas": 0}})
    assert info.value.param == "model_router.num_replicas"
