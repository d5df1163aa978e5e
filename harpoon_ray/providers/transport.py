"""The HTTP clients under the SDKs: one per provider, with explicit timeouts and pool size.

Chosen transport: aiohttp, for both SDKs. `benchmarks/bench_clients.py` drives the
loopback test server through each SDK + transport pair (2 cores, 2,000 calls at
concurrency 32; full table in `benchmarks/README.md`). Client CPU per call, plain / stream:
openai SDK over httpx2 2.5 / 4.6 ms, over aiohttp 1.9 / 3.5 ms; groq SDK over httpx
5.1 / 4.7 ms, over aiohttp 1.7 / 2.6 ms. CPU per call is what caps a gateway replica, so
aiohttp wins. The `openai` SDK ships its aiohttp transport (`DefaultAioHttpClient`); the
`groq` SDK's needs the `httpx-aiohttp` package, so Groq falls back to plain httpx when that
is not installed. Both transports stay selectable (`transport=`) for the benchmark.

The wire client (`wire.py`, the default) skips the SDKs and talks aiohttp directly, over
one `aiohttp.ClientSession` per event loop shared by every wire provider of the process
(`SessionLease`): one connection pool, one DNS cache, one keep-alive set to each host.
"""

from __future__ import annotations

import asyncio
import importlib.util
import weakref
from typing import Any, Literal

import aiohttp

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


class _Shared:
    """A session and how many leases use it."""

    __slots__ = ("session", "users")

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.users = 0


# Per event loop (a session is bound to the loop that made it), then per pool size.
_SESSIONS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, _Shared]] = (
    weakref.WeakKeyDictionary()
)


class SessionLease:
    """A wire provider's claim on the process's shared aiohttp session.

    `await get()` returns the session for the running loop, made on first use (a session
    can only be made inside a loop); `await release()` gives the claim back, and the last
    one out closes the session and its connections.
    """

    def __init__(self, settings: Settings) -> None:
        self._limit = settings.pool_connections
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shared: _Shared | None = None

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The session last handed out, if any."""
        return self._shared.session if self._shared is not None else None

    def get(self) -> aiohttp.ClientSession:
        """The session (call from a coroutine: it is bound to the running loop)."""
        shared = self._shared
        loop = asyncio.get_running_loop()
        if shared is not None and self._loop is loop and not shared.session.closed:
            return shared.session
        if shared is not None and self._loop is loop:  # closed under us: claim anew
            self._drop()
        per_loop = _SESSIONS.setdefault(loop, {})
        shared = per_loop.get(self._limit)
        if shared is None or shared.session.closed:
            connector = aiohttp.TCPConnector(limit=self._limit, ttl_dns_cache=300)
            shared = per_loop[self._limit] = _Shared(aiohttp.ClientSession(connector=connector))
        shared.users += 1
        self._loop, self._shared = loop, shared
        return shared.session

    def _drop(self) -> aiohttp.ClientSession | None:
        shared, self._shared, self._loop = self._shared, None, None
        if shared is None:
            return None
        shared.users -= 1
        return shared.session if shared.users <= 0 else None

    async def release(self) -> None:
        """Give the claim back; close the session when nobody else holds it."""
        loop = self._loop
        session = self._drop()
        if session is None or session.closed:
            return
        per_loop = _SESSIONS.get(loop, {}) if loop is not None else {}
        found = per_loop.get(self._limit)
        if found is not None and found.session is session:
            del per_loop[self._limit]
        if loop is asyncio.get_running_loop():
            await session.close()
