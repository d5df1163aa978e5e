"""An unexpected exception becomes a generic 500 JSON body; the trace stays in the log."""

from __future__ import annotations

import logging

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from harpoon_ray.serve.errors import CatchAll


async def _boom(request):
    raise RuntimeError("secret internals: /etc/passwd")


async def test_unexpected_error_is_a_generic_500(caplog) -> None:
    """The client sees no message, type or trace of the failure; the server log does."""
    app = Starlette(routes=[Route("/boom", _boom)], middleware=[Middleware(CatchAll)])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="harpoon.serve"):
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.get("/boom")
    assert r.status_code == 500
    assert r.json()["error"]["type"] == "internal_error"
    assert "secret" not in r.text and "Traceback" not in r.text
    assert "secret internals" in caplog.text
