"""A replica's metrics shipper sends batches at its own pace, whatever the request rate."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from harpoon_ray.schemas import Completion
from harpoon_ray.serve.metrics import MetricsWindow
from harpoon_ray.serve.metrics_hub import HubLink, MetricsShipper

pytestmark = pytest.mark.serve


def completion() -> Completion:
    return Completion(
        text="ok",
        model="edge-small",
        provider="sim",
        tier="edge",
        input_tokens=10,
        output_tokens=5,
        cost_usd=0.001,
        flagship_model="flagship-big",
        flagship_cost_usd=0.01,
        saving_usd=0.009,
        ttft_s=0.01,
        latency_s=0.02,
        simulated=True,
    )


@pytest.fixture
def slow_hub(ray_instance: object) -> Any:
    """A hub that takes 50 ms to accept each batch and remembers their sizes by `seq`."""
    import ray

    # Defined here so Ray ships the class by value: workers cannot import test modules.
    class SlowHub:
        def __init__(self) -> None:
            self.batches: dict[int, int] = {}

        async def push(self, source: str, seq: int, rows: list[tuple], dropped: int) -> int:
            await asyncio.sleep(0.05)
            self.batches.setdefault(seq, len(rows))  # a batch sent again counts once
            return len(rows)

        def sizes(self) -> list[int]:
            return list(self.batches.values())

    hub = ray.remote(SlowHub).options(num_cpus=0).remote()
    ray.get(hub.sizes.remote())  # started: its worker's start-up is not the test's
    yield hub
    ray.kill(hub, no_restart=True)


async def test_a_flush_ships_what_was_pending_not_what_arrives_during_it(slow_hub: Any) -> None:
    """Records recorded while a batch is on its way wait for the next flush, so a steady
    stream of requests cannot keep one flush pushing tiny batches back to back."""
    shipper = MetricsShipper(HubLink(lambda: slow_hub), "Gateway#a", flush_s=60)
    window = MetricsWindow(sink=shipper)
    for _ in range(3):
        window.record(completion())

    async def steady_requests() -> None:
        while True:
            window.record(completion())
            await asyncio.sleep(0.005)

    requests = asyncio.create_task(steady_requests())
    try:
        async with asyncio.timeout(5):
            assert await shipper.flush() is True
    finally:
        requests.cancel()
    assert await slow_hub.sizes.remote() == [3]
    assert shipper.shipped == 3 and shipper.pending > 0
    await shipper.aclose()
    assert await slow_hub.sizes.remote() == [3, shipper.shipped - 3]


async def test_the_background_loop_pushes_about_once_per_period(slow_hub: Any) -> None:
    """Under a request every 5 ms the background loop sends one batch per flush period
    plus the hub's answer time, not one per few requests."""
    shipper = MetricsShipper(HubLink(lambda: slow_hub), "Gateway#a", flush_s=0.1)
    window = MetricsWindow(sink=shipper)
    started = time.monotonic()
    while time.monotonic() - started < 1.5:
        window.record(completion())
        await asyncio.sleep(0.005)
    await shipper.aclose()
    sizes = await slow_hub.sizes.remote()
    # Each period is 0.1 s of sleep plus 0.05 s for the hub: ~10 batches in 1.5 s.
    assert 5 <= len(sizes) <= 14
    assert sum(sizes) == len(window) == shipper.shipped
