"""Helpers for the agents tests: isolated deployments, scripted test-server models."""

from __future__ import annotations

from pathlib import Path

from harpoon_ray.agents.client import HarpoonClient
from harpoon_ray.settings import Settings


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


def kill_shards(c: HarpoonClient) -> None:
    """Stop a test deployment's detached shards for good (they outlive their driver)."""
    import ray

    for handle in c.shards.all():
        ray.kill(handle, no_restart=True)


def script_every_model(server, steps: list[dict]) -> None:
    """Queue the same steps for every catalog model the test server may be asked for."""
    from harpoon_ray.catalog import default_catalog

    for model in {m.provider_model for m in default_catalog().models}:
        server.script(model, steps)


async def wait_for(predicate, timeout_s: float = 30.0, every_s: float = 0.05):
    """Poll an async predicate until it returns something truthy; that value."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = await predicate()
        if got:
            return got
        await asyncio.sleep(every_s)
    raise AssertionError(f"condition not met within {timeout_s}s")


def agent_events(events, type_) -> list:
    return [e for e in events if e.type == type_ and e.agent_id]


def assert_log_whole(events) -> None:
    """Gap-free from 1, and no agent event of a kind written twice."""
    from collections import Counter

    from harpoon_ray.schemas import EventType

    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    once = (EventType.AGENT_SPAWNED, EventType.ACTION, EventType.OUTPUT, EventType.COMPLETED)
    kinds = Counter((e.agent_id, e.type) for e in events if e.agent_id and e.type in once)
    assert [k for k, n in kinds.items() if n > 1] == []
