"""Fixtures for the agents layer: a fresh store per test, and actor shards on the
session's Ray instance, isolated from other tests by their own namespace and data dir."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harpoon_ray.agents.client import HarpoonClient
from harpoon_ray.agents.eventlog import EventLog
from harpoon_ray.agents.store import Store
from harpoon_ray.settings import Settings


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


def agent_settings(data_dir: Path, namespace: str, **kw) -> Settings:
    """Settings for one isolated deployment of shards: its own namespace and files."""
    base = {
        "data_dir": data_dir,
        "namespace": namespace,
        "mediator_shards": 2,
        "orchestrator_shards": 2,
        "simulated_speed": 0.01,
        "max_retries": 1,
        "backoff_base_s": 0.01,
    }
    return Settings(**{**base, **kw})


@pytest.fixture(scope="session")
async def client(ray_instance: Path, tmp_path_factory) -> AsyncIterator[HarpoonClient]:
    """A client over shards on the session's Ray, with the simulated provider."""
    settings = agent_settings(tmp_path_factory.mktemp("agents-sim"), "harpoon-test-sim")
    c = HarpoonClient(settings)
    await c.ready()
    yield c
    kill_shards(c)


def kill_shards(c: HarpoonClient) -> None:
    """Stop a test deployment's detached shards for good (they outlive their driver)."""
    import ray

    for handle in c.shards.all():
        ray.kill(handle, no_restart=True)
