"""Fixtures for the agents layer: a fresh store per test, and actor shards on the
session's Ray instance, isolated from other tests by their own namespace and data dir."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harpoon_ray.agents.eventlog import EventLog
from harpoon_ray.agents.store import Store


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
