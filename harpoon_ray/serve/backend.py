"""Two ways for the gateway to reach the routing layer, behind one small interface.

- in-process: the `Router` library inside the gateway replica (no Ray hop);
- remote: a `DeploymentHandle` to the ModelRouter deployment (one Ray call per request,
  scales routing apart from the ingress).

Which one serves `/v1` and `/api/chat` is `AppArgs.v1_in_process`; the gateway benchmark
decides it (docs/ARCHITECTURE.md, "serve").
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

from ..catalog import Catalog
from ..errors import HarpoonError
from ..schemas import (
    Completion,
    ComplexityAnalysis,
    Constraints,
    ModelRequest,
    RoutingDecision,
    StreamChunk,
)
from ..settings import Settings

log = logging.getLogger("harpoon.serve")

if TYPE_CHECKING:
    from ray.serve.handle import DeploymentHandle

    from .metrics import MetricsWindow


class RouterBackend(Protocol):
    async def complete(
        self, request: ModelRequest, constraints: Constraints | None, model: str | None
    ) -> Completion: ...

    def stream(
        self, request: ModelRequest, constraints: Constraints | None, model: str | None
    ) -> AsyncIterator[StreamChunk | Completion]: ...

    async def state(self) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...


def build_router(catalog: Catalog, settings: Settings, test_server_url: str | None) -> Any:
    """The routing layer's `Router` over a provider pool (or the test server's)."""
    from ..providers.registry import ProviderPool
    from ..routing.router import Router

    if test_server_url:
        pool = ProviderPool.for_test_server(catalog, test_server_url, settings)
    else:
        pool = ProviderPool(catalog, settings)
    return Router(catalog, pool, settings)


class LocalBackend:
    """The Router in this process, made on first use."""

    def __init__(
        self,
        catalog: Catalog,
        settings: Settings,
        test_server_url: str | None,
        metrics: MetricsWindow | None = None,
    ) -> None:
        self._catalog = catalog
        self._settings = settings
        self._url = test_server_url
        self._router: Any = None
        self.metrics = metrics

    @property
    def router(self) -> Any:
        if self._router is None:
            self._router = build_router(self._catalog, self._settings, self._url)
        return self._router

    def warm(self) -> None:
        """Build the router and its provider pool now instead of on the first request."""
        pool = getattr(self.router, "pool", None)
        for spec in self._catalog.models if pool is not None else ():
            try:
                pool.for_model(spec)
            except HarpoonError as exc:  # a bad provider config answers per request, as before
                log.warning("provider for %s not built at startup: %s", spec.id, exc.message)

    def analyse(self, text: str) -> ComplexityAnalysis:
        return self.router.analyse(text)

    def decide(
        self, request: ModelRequest, constraints: Constraints | None, model: str | None
    ) -> RoutingDecision:
        return self.router.decide(request, constraints, model)

    async def complete(
        self, request: ModelRequest, constraints: Constraints | None, model: str | None
    ) -> Completion:
        completion = await self.router.complete(request, constraints, model)
        if self.metrics is not None:
            self.metrics.record(completion)
        return completion

    async def stream(
        self, request: ModelRequest, constraints: Constraints | None, model: str | None
    ) -> AsyncIterator[StreamChunk | Completion]:
        async for item in self.router.stream(request, constraints, model):
            if isinstance(item, Completion) and self.metrics is not None:
                self.metrics.record(item)
            yield item

    async def state(self) -> dict[str, Any]:
        return self.router.state()

    def pool_status(self) -> dict[str, Any]:
        return self.router.pool.status() if hasattr(self.router, "pool") else {}

    async def aclose(self) -> None:
        if self._router is not None and hasattr(self._router, "pool"):
            await self._router.pool.aclose()


class RemoteBackend:
    """The ModelRouter deployment, through a handle; streams as a handle generator."""

    def __init__(self, handle: DeploymentHandle) -> None:
        self._handle = handle
        self._streaming = handle.options(stream=True)

    async def complete(
        self, request: ModelRequest, constraints: Constraints | None, model: str | None
    ) -> Completion:
        return await self._handle.complete.remote(request, constraints, model)

    async def stream(
        self, request: ModelRequest, constraints: Constraints | None, model: str | None
    ) -> AsyncIterator[StreamChunk | Completion]:
        async for item in self._streaming.stream.remote(request, constraints, model):
            yield item

    async def state(self) -> dict[str, Any]:
        return await self._handle.state.remote()

    async def metrics(self, window_s: float | None) -> dict[str, Any]:
        return await self._handle.metrics.remote(window_s)

    async def aclose(self) -> None:
        return None


def local_backend(
    catalog: Catalog, settings: Settings, test_server_url: str | None, metrics: Any = None
) -> LocalBackend:
    return LocalBackend(catalog, settings, test_server_url, metrics)


def remote_backend(handle: DeploymentHandle) -> RemoteBackend:
    return RemoteBackend(handle)
