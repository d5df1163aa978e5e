"""Fixtures for routing tests: the shipped catalog, quick settings, a stepped clock."""

from __future__ import annotations

import asyncio
import random

import pytest

from harpoon_ray.catalog import Catalog, load_catalog
from harpoon_ray.routing import Router
from harpoon_ray.schemas import Message, ModelRequest
from harpoon_ray.settings import Settings


class SteppedClock:
    """A monotonic clock that only moves when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordedSleep:
    """Stands in for asyncio.sleep: records each wait, yields to the loop, moves the clock."""

    def __init__(self, clock: SteppedClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)
        await asyncio.sleep(0)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture
def settings() -> Settings:
    return Settings(
        max_retries=2,
        backoff_base_s=0.1,
        backoff_max_s=1.0,
        breaker_failures=3,
        breaker_cooldown_s=10.0,
        read_timeout_s=5.0,
    )


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture
def sleep(clock: SteppedClock) -> RecordedSleep:
    return RecordedSleep(clock)


@pytest.fixture
def make_router(catalog, settings, clock, sleep):
    """Build a Router over a pool with the stepped clock, recorded sleeps and a fixed seed."""

    def build(pool, **overrides) -> Router:
        return Router(
            catalog,
            pool,
            overrides.pop("settings", settings),
            clock=clock,
            rng=random.Random(7),
            sleep=sleep,
        )

    return build


def ask(text: str, **fields) -> ModelRequest:
    """A one-message request."""
    return ModelRequest(messages=[Message(role="user", content=text)], **fields)


SIMPLE = "What is the capital of France?"
MEDIUM = "Write a Python function that merges two sorted lists, and explain its complexity."
HARD = (
    "Design a fault-tolerant architecture for a distributed payment ledger. Compare two "
    "consensus protocols, justify the trade-offs, and analyse the failure modes."
)
