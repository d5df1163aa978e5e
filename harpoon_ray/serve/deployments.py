"""The two Serve deployments: the Gateway ingress and the ModelRouter.

Both read `Settings` from the replica's environment (HARPOON_*), so one config file
drives the driver, the replicas and the actors alike.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle

from ..catalog import load_catalog
from ..schemas import Completion, Constraints, ModelRequest, StreamChunk
from ..settings import Settings
from .backend import LocalBackend
from .config import AppArgs
from .context import GatewayContext
from .metrics import MetricsWindow
from .metrics_hub import replica_shipper
from .ws_options import apply_ws_options

log = logging.getLogger("harpoon.serve")


@serve.deployment(name="ModelRouter")
class ModelRouter:
    """Routing, retries, fallback, breakers and cost, as a deployment scaled by replicas."""

    def __init__(self, args: dict[str, Any]) -> None:
        parsed = AppArgs.parse(args)
        settings = Settings()
        self.metrics_shipper = replica_shipper(settings)
        self.metrics_window = MetricsWindow(sink=self.metrics_shipper)
        self.backend = LocalBackend(
            load_catalog(settings.catalog_path),
            settings,
            parsed.test_server_url,
            self.metrics_window,
        )
        self.backend.warm()

    async def complete(
        self, request: ModelRequest, constraints: Constraints | None, model: str | None
    ) -> Completion:
        return await self.backend.complete(request, constraints, model)

    async def stream(
        self, request: ModelRequest, constraints: Constraints | None, model: str | None
    ) -> AsyncIterator[StreamChunk | Completion]:
        async for item in self.backend.stream(request, constraints, model):
            yield item

    async def state(self) -> dict[str, Any]:
        return await self.backend.state()

    async def metrics(self, window_s: float | None) -> dict[str, Any]:
        return self.metrics_window.summary(window_s)

    async def __del__(self) -> None:
        await self.backend.aclose()
        if self.metrics_shipper is not None:
            await self.metrics_shipper.aclose()


@serve.deployment(name="Gateway")
@serve.ingress()
class Gateway:
    """The ingress: REST, /v1, WebSockets and the UI, built per replica from its context."""

    def __init__(self, router: DeploymentHandle, args: dict[str, Any]) -> None:
        settings = Settings()
        apply_ws_options(settings.ws_compression)  # before Serve starts this replica's server
        self.ctx = GatewayContext(AppArgs.parse(args), settings, router_handle=router)
        # Built now rather than on the first request, so it is among the startup objects
        # Serve freezes out of the GC's scans (RAY_SERVE_FREEZE_GC_ON_STARTUP).
        self.ctx.local_router.warm()

    def __serve_build_asgi_app__(self) -> Any:
        from .factory import create_app

        return create_app(self.ctx)
