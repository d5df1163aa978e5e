"""What one gateway replica holds: settings, catalog, routing, the agents client, feeds.

Routes receive this object instead of reaching for globals, so a replica's state is in
one place and the app factory can be handed any context.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from ..catalog import Catalog, load_catalog
from ..settings import Settings
from .backend import RouterBackend, local_backend, remote_backend
from .config import AppArgs
from .fanout import CovenantFanout
from .metrics import MetricsWindow
from .metrics_hub import replica_shipper
from .owners import CovenantOwners

if TYPE_CHECKING:
    from ray.serve.handle import DeploymentHandle


class GatewayContext:
    def __init__(
        self,
        args: AppArgs,
        settings: Settings,
        router_handle: DeploymentHandle | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.args = args
        self.settings = settings
        self.catalog = catalog or load_catalog(settings.catalog_path)
        self.started_at = time.time()
        # In a Serve replica, records also go (batched) to the app's metrics hub.
        self.metrics_shipper = replica_shipper(settings)
        self.metrics = MetricsWindow(sink=self.metrics_shipper)
        self._local = local_backend(self.catalog, settings, args.test_server_url, self.metrics)
        self._remote = remote_backend(router_handle) if router_handle is not None else None
        self._client: Any = None
        self._client_lock = asyncio.Lock()
        self.fanout = CovenantFanout(_LazySource(self), settings.ws_queue_events)
        self.owners = CovenantOwners(self._covenant_tenant)

    @property
    def router(self) -> RouterBackend:
        """The backend that serves completions: in-process or the ModelRouter deployment."""
        if self.args.v1_in_process or self._remote is None:
            return self._local
        return self._remote

    @property
    def local_router(self) -> RouterBackend:
        """Always in-process: analysis and decisions are pure and need no hop."""
        return self._local

    @property
    def remote_router(self) -> RouterBackend | None:
        return self._remote

    async def client(self) -> Any:
        """The agents layer's `HarpoonClient`, made on first use (it looks up actors)."""
        if self._client is None:
            async with self._client_lock:
                if self._client is None:
                    from ..agents.client import HarpoonClient

                    self._client = HarpoonClient(
                        settings=self.settings, provider_base_url=self.args.test_server_url
                    )
        return self._client

    async def _covenant_tenant(self, covenant_id: str) -> str:
        found = await (await self.client()).covenant(covenant_id)
        return getattr(found, "tenant_id", "local")

    async def aclose(self) -> None:
        await self.fanout.aclose()
        await self._local.aclose()
        if self.metrics_shipper is not None:
            await self.metrics_shipper.aclose()


class _LazySource:
    """The fan-out's event source, resolved to the agents client on first use."""

    def __init__(self, ctx: GatewayContext) -> None:
        self._ctx = ctx

    async def events(self, covenant_id: str, after: int = 0, limit: int = 1000) -> list:
        client = await self._ctx.client()
        return await client.events(covenant_id, after=after, limit=limit)

    async def follow_texts(self, covenant_id: str, after: int = 0, limit: int = 1000):
        client = await self._ctx.client()
        async for page in client.follow_texts(covenant_id, after=after, limit=limit):
            yield page
