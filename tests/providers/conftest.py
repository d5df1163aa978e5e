"""Fixtures for provider tests: the catalog, tight timeouts, and a clean test server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from harpoon_ray.catalog import Catalog, load_catalog
from harpoon_ray.providers import ProviderPool
from harpoon_ray.settings import Settings

READ_TIMEOUT_S = 0.5


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture
def settings() -> Settings:
    """Short timeouts so hangs end fast; no keys from the environment are needed."""
    return Settings(
        read_timeout_s=READ_TIMEOUT_S,
        connect_timeout_s=1.0,
        pool_connections=16,
        simulated_speed=0.01,
        force_simulated=False,
    )


@pytest.fixture
def server(test_server):
    """The session's test server with no scripts or counts left by earlier tests."""
    test_server.reset()
    yield test_server
    test_server.reset()


@pytest.fixture
async def pool(catalog: Catalog, server, settings: Settings) -> AsyncIterator[ProviderPool]:
    """Every provider of the catalog pointed at the test server."""
    pool = ProviderPool.for_test_server(catalog, server.base_url, settings)
    yield pool
    await pool.aclose()
