"""The router a shard or a chunk task calls models through, built from its `AgentConfig`.

Every process builds its own (providers hold connection pools bound to one event loop);
the catalog, being immutable data, is parsed once per process.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from pathlib import Path

from ..catalog import Catalog, load_catalog
from ..providers.registry import ProviderPool
from ..routing.router import Router
from .sharding import AgentConfig


@lru_cache(maxsize=4)
def _catalog(path: Path | None) -> Catalog:
    return load_catalog(path)


def build_router(config: AgentConfig) -> Router:
    """A router over the configured catalog: at `provider_base_url` when set."""
    settings = config.settings
    catalog = _catalog(settings.catalog_path)
    if config.provider_base_url:
        pool = ProviderPool.for_test_server(catalog, config.provider_base_url, settings)
    else:
        pool = ProviderPool(catalog, settings)
    return Router(catalog, pool, settings)


def preload(router: Router) -> None:
    """Import the providers' SDKs now, not at the first call (a pool may not offer it)."""
    load = getattr(router.pool, "preload", None)
    if load is not None:
        load()


async def preload_providers(router: Router) -> None:
    """`preload` in a thread: a shard's event loop never stalls on an import."""
    await asyncio.to_thread(preload, router)


async def close_router(router: Router) -> None:
    """Close the router's provider connections."""
    await router.pool.aclose()
