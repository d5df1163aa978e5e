"""The HTTP clients under the SDKs: one per provider, with explicit timeouts and pool size.

Chosen transport: aiohttp, for both SDKs. `benchmarks/bench_clients.py` drives the
loopback test server through each SDK + transport pair (2 cores, 2,000 calls at
concurrency 32; full table in `benchmarks/README.md`). Client CPU per call, plain / stream:
openai SDK over httpx2 2.5 / 4.6 ms, over aiohttp 1.9 / 3.5 ms; groq SDK over httpx
5.1 / 4.7 ms, over aiohttp 1.7 / 2.6 ms. CPU per call is what caps a gateway replica, so
aiohttp wins. The `openai` SDK ships its aiohttp transport (`DefaultAioHttpClient`); the
`groq` SDK's needs the `httpx-aiohttp` package, so Groq falls back to plain httpx when that
is not installed. Both transports stay selectable (`transport=`) for the benchmark.
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
