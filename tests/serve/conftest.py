"""Fixtures for the Serve app's tests: HTTP clients on the session's app, a locked app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

API_KEY = "test-key-not-secret"
LOCKED_PREFIX = "/locked"


@pytest.fixture(scope="session")
def http(serve_app: str) -> Iterator[httpx.Client]:
    """A synchronous httpx client on the session's app."""
    with httpx.Client(base_url=serve_app, timeout=60) as client:
        yield client


@pytest.fixture
async def ahttp(serve_app: str) -> AsyncIterator[httpx.AsyncClient]:
    """An async httpx client on the session's app."""
    async with httpx.AsyncClient(base_url=serve_app, timeout=60) as client:
        yield client


@pytest.fixture(scope="session")
def api_key() -> str:
    """The bearer token the locked app expects."""
    return API_KEY


@pytest.fixture(scope="session")
def locked_app(serve_app: str) -> Iterator[str]:
    """A second Harpoon app on the same Serve instance with HARPOON_API_KEY set; its URL."""
    from ray import serve

    from harpoon_ray.serve import build_app

    app = build_app({"env": {"HARPOON_API_KEY": API_KEY}})
    serve.run(app, name="harpoon-locked", route_prefix=LOCKED_PREFIX)
    try:
        yield serve_app + LOCKED_PREFIX
    finally:
        serve.delete("harpoon-locked")


@pytest.fixture(scope="session")
def tuned_app(serve_app: str) -> Iterator[str]:
    """A Harpoon app with 0.2 s heartbeats and a 4-event socket queue, so a socket that
    cannot keep up with a burst is dropped by the server; its base URL."""
    from ray import serve

    from harpoon_ray.serve import build_app

    env = {"HARPOON_WS_HEARTBEAT_S": "0.2", "HARPOON_WS_QUEUE_EVENTS": "4"}
    serve.run(build_app({"env": env}), name="harpoon-tuned", route_prefix="/tuned")
    try:
        yield serve_app + "/tuned"
    finally:
        serve.delete("harpoon-tuned")
