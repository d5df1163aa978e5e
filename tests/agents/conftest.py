"""Fixtures for the agents layer: a fresh store per test, and actor shards on the
session's Ray instance, isolated from other tests by their own namespace and data dir."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harpoon_ray.agents.client import HarpoonClient
from harpoon_ray.agents.eventlog import EventLog
from harpoon_ray.agents.store import Store

from .helpers import agent_settings, kill_shards


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """An open, migrated store on a fresh DuckDB file."""
    s = Store(tmp_path / "shard.duckdb")
    await s.open()
    yield s
    await s.close()


@pytest.fixture
async def eventlog(store: Store) -> AsyncIterator[EventLog]:
    """An event log over the `store` fixture, flushing every 5 ms."""
    log = EventLog(store, tail_events=8, flush_interval_s=0.005)
    yield log
    await log.close()


@pytest.fixture(scope="session")
async def client(ray_instance: Path, tmp_path_factory) -> AsyncIterator[HarpoonClient]:
    """A client over shards on the session's Ray, with the simulated provider."""
    settings = agent_settings(tmp_path_factory.mktemp("agents-sim"), "harpoon-test-sim")
    c = HarpoonClient(settings)
    await c.ready()
    yield c
    kill_shards(c)


@pytest.fixture(scope="session")
async def sdk_client(
    ray_instance: Path, test_server, tmp_path_factory
) -> AsyncIterator[HarpoonClient]:
    """A client whose shards reach every provider through the test server (real SDKs)."""
    settings = agent_settings(tmp_path_factory.mktemp("agents-sdk"), "harpoon-test-sdk")
    c = HarpoonClient(settings, provider_base_url=test_server.base_url)
    await c.ready()
    yield c
    kill_shards(c)


@pytest.fixture
def server(test_server):
    """The session's test server with no scripts and zeroed call counts, before and after."""
    test_server.reset()
    yield test_server
    test_server.reset()
