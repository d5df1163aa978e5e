"""The HTTP clients under the SDKs: one per provider, with explicit timeouts and pool size.

Choice of transport, measured by `benchmarks/bench_clients.py` on this machine (2 cores,
loopback test server; table in `benchmarks/README.md`): the `openai` SDK over its aiohttp
transport (`openai.DefaultAioHttpClient`) spends less CPU per call than over its default
httpx2 client, so `aiohttp` is the default for every provider built on the `openai` SDK.
The `groq` SDK's aiohttp transport needs the separate `httpx-aiohttp` package; it is used
when that is installed and plain httpx otherwise. `HARPOON_HTTP_TRANSPORT`-style
switching is deliberately absent: the benchmark passes `transport=` explicitly.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Literal

from ..settings import Settings

Transport = Literal["aiohttp", "httpx"]
DEFAULT_TRANSPORT: Transport = "aiohttp"


def groq_has_aiohttp() -> bool:
    return importlib.util.find_spec("httpx_aiohttp") is not None


def _timeout_and_limits(httpx_module: Any, settings: Settings) -> dict[str, Any]:
    return {
        "timeout": httpx_module.Timeout(
            settings.read_timeout_s, connect=settings.connect_timeout_s
        ),
        "limits": httpx_module.Limits(
            max_connections=settings.pool_connections,
            max_keepalive_connections=settings.pool_connections,
        ),
    }


def openai_http_client(settings: Settings, transport: Transport = DEFAULT_TRANSPORT) -> Any:
    """An `httpx2.AsyncClient` for the `openai` SDK, over aiohttp or httpx2."""
    import httpx2
    import openai

    options = _timeout_and_limits(httpx2, settings)
    if transport == "aiohttp":
        return openai.DefaultAioHttpClient(**options)
    return openai.DefaultAsyncHttpxClient(**options)


def groq_http_client(settings: Settings, transport: Transport = DEFAULT_TRANSPORT) -> Any:
    """An `httpx.AsyncClient` for the `groq` SDK (aiohttp only with `httpx-aiohttp`)."""
    import groq
    import httpx

    options = _timeout_and_limits(httpx, settings)
    if transport == "aiohttp" and groq_has_aiohttp():
        return groq.DefaultAioHttpClient(**options)
    return groq.DefaultAsyncHttpxClient(**options)


def sdk_timeout(httpx_module: Any, settings: Settings) -> Any:
    """The SDK client's default per-request timeout (a request's `timeout_s` overrides)."""
    return httpx_module.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s)
