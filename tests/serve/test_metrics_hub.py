"""`/api/metrics` speaks for every replica: the app's metrics hub merges their batches."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from harpoon_ray.schemas import Completion
from harpoon_ray.serve.metrics import MetricsWindow
from harpoon_ray.serve.metrics_hub import (
    IDLE_HEARTBEAT_S,
    HubLink,
    MetricsShipper,
    hub_name,
    merged_summary,
)

pytestmark = pytest.mark.serve

NAMESPACE = "harpoon"
TWO_PREFIX = "/two-gateways"
TWO_APP = "harpoon-two-gateways"
ROUTED_PREFIX = "/routed"
ROUTED_APP = "harpoon-routed"
WAIT_S = 20.0


def completion(model: str = "edge-small", tier: str = "edge", cost: float = 0.001) -> Completion:
    return Completion(
        text="ok",
        model=model,
        provider="sim",
        tier=tier,
        input_tokens=10,
        output_tokens=5,
        cost_usd=cost,
        flagship_model="flagship-big",
        flagship_cost_usd=cost * 10,
        saving_usd=cost * 9,
        ttft_s=0.01,
        latency_s=0.02,
        simulated=True,
    )


class Collected(list):
    """The smallest sink: keeps what the window hands it."""

    def offer(self, record: Any) -> None:
        self.append(record)


def records(n: int) -> list[Any]:
    sink = Collected()
    window = MetricsWindow(sink=sink)
    for _ in range(n):
        window.record(completion())
    return sink


def kill_hub(app: str) -> None:
    import ray

    with contextlib.suppress(ValueError):  # never made
        ray.kill(ray.get_actor(hub_name(app), namespace=NAMESPACE), no_restart=True)


@pytest.fixture
def hub_app(ray_instance: object) -> Iterator[str]:
    """A fresh hub name for one test, killed after it."""
    app = f"test-{uuid.uuid4().hex[:8]}"
    yield app
    kill_hub(app)


def shipper(app: str, source: str, **kw: Any) -> MetricsShipper:
    return MetricsShipper(HubLink.named(hub_name(app), NAMESPACE), source, **kw)


async def wait_for(probe: Callable[[], Any], check: Callable[[Any], bool]) -> Any:
    """Poll `probe` until `check` holds, at most WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while True:
        value = await probe()
        if check(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)


async def test_hub_merges_batches_from_two_replicas(hub_app: str) -> None:
    """Two replicas' windows ship to one hub, whose totals and groups add both up."""
    a, b = shipper(hub_app, "Gateway#a"), shipper(hub_app, "Gateway#b")
    wa, wb = MetricsWindow(sink=a), MetricsWindow(sink=b)
    for _ in range(3):
        wa.record(completion("edge-small", "edge", 0.001))
    for _ in range(2):
        wb.record(completion("flagship-big", "flagship", 0.01))
    assert await a.flush() and await b.flush()
    merged = await a.hub.summary(None)
    assert merged["source"] == "hub" and merged["partial"] is False
    assert merged["totals"]["requests"] == 5
    assert merged["totals"]["input_tokens"] == 50
    assert merged["by_tier"]["edge"]["requests"] == 3
    assert merged["by_model"]["flagship-big"]["requests"] == 2
    assert merged["totals"]["cost_usd"] == pytest.approx(0.023)
    assert merged["totals"]["saving_usd"] == pytest.approx(0.207)
    assert set(merged["sources"]) == {"Gateway#a", "Gateway#b"}
    assert 0 <= merged["lag_s"] < 5
    await a.aclose()
    await b.aclose()


async def test_shipper_flushes_by_itself(hub_app: str) -> None:
    """Records reach the hub from the background loop, without anyone calling flush."""
    s = shipper(hub_app, "Gateway#a", flush_s=0.05)
    window = MetricsWindow(sink=s)
    for _ in range(4):
        window.record(completion())
    merged = await wait_for(lambda: s.hub.summary(None), lambda m: m["totals"]["requests"] == 4)
    assert merged["totals"]["requests"] == 4
    assert s.pending == 0 and s.shipped == 4
    await s.aclose()


async def test_an_idle_shipper_sends_a_heartbeat_a_second_not_every_flush(hub_app: str) -> None:
    """With nothing recorded the shipper still tells the hub it is alive, but once per
    IDLE_HEARTBEAT_S, not at every FLUSH_S tick."""
    s = shipper(hub_app, "Gateway#idle", flush_s=0.02)
    pushes = 0
    push = s.hub.push

    async def counted(*args: Any) -> int:
        nonlocal pushes
        pushes += 1
        return await push(*args)

    s.hub.push = counted  # type: ignore[method-assign]
    s.start()
    await asyncio.sleep(IDLE_HEARTBEAT_S * 1.5)
    assert pushes in (1, 2)  # of ~75 ticks
    merged = await s.hub.summary(None)
    assert merged["sources"]["Gateway#idle"]["records"] == 0
    await s.aclose()


async def test_full_buffer_drops_oldest_and_counts_them(hub_app: str) -> None:
    """Past its bound the buffer drops the oldest records, counts them and tells the hub."""
    s = shipper(hub_app, "Gateway#a", buffer_max=3, flush_s=60)
    window = MetricsWindow(sink=s)
    for cost in (1.0, 2.0, 3.0, 4.0, 5.0):
        window.record(completion(cost=cost))
    assert s.dropped == 2 and s.pending == 3
    assert await s.flush()
    merged = await s.hub.summary(None)
    assert merged["totals"]["cost_usd"] == pytest.approx(12.0)
    assert merged["sources"]["Gateway#a"]["dropped"] == 2
    await s.aclose()


async def test_a_batch_sent_again_counts_once(hub_app: str) -> None:
    """A batch retried with the same sequence number (its first answer timed out) is not
    counted twice."""
    link = HubLink.named(hub_name(hub_app), NAMESPACE)
    rows = [tuple(r) for r in records(3)]
    assert await link.push("Gateway#a", 1, rows, 0) == 3
    assert await link.push("Gateway#a", 1, rows, 0) == 0
    assert await link.push("Gateway#b", 1, rows, 0) == 3
    assert (await link.summary(None))["totals"]["requests"] == 6


async def test_dead_hub_keeps_records_and_falls_back_to_the_replica(hub_app: str) -> None:
    """With the hub dead, flushing fails softly, records wait, and the summary is the
    replica's own window flagged partial."""
    import ray

    from harpoon_ray.serve.metrics_hub import MetricsHub

    dead = ray.remote(MetricsHub).options(num_cpus=0).remote()
    ray.kill(dead, no_restart=True)
    s = MetricsShipper(HubLink(lambda: dead), "Gateway#a", flush_s=60)
    window = MetricsWindow(sink=s)
    window.record(completion())
    window.record(completion())
    assert await s.flush() is False
    assert s.pending == 2
    summary = await merged_summary(window, s, None)
    assert summary["partial"] is True and summary["source"] == "replica"
    assert summary["totals"]["requests"] == 2
    assert "error" in summary
    await s.aclose()


async def test_a_hub_no_replica_feeds_ends_itself_and_the_next_batch_remakes_it(
    hub_app: str,
) -> None:
    """Detached, the hub would outlive its app (`serve delete`): with no batch for its idle
    limit it ends itself for good (no restart), while a steady heartbeat keeps it; a
    replica that comes later makes a new one."""
    import ray

    from harpoon_ray.serve.metrics_hub import MetricsHub

    hub = (
        ray.remote(MetricsHub)
        .options(
            name=hub_name(hub_app),
            namespace=NAMESPACE,
            lifetime="detached",
            num_cpus=0,
            max_restarts=-1,
        )
        .remote(idle_exit_s=1.0)
    )
    for seq in range(1, 8):  # 1.4 s of heartbeats, each within the limit
        assert await hub.push.remote("Gateway#a", seq, [], 0) == 0
        await asyncio.sleep(0.2)
    assert (await hub.summary.remote(None))["sources"]["Gateway#a"]["records"] == 0
    await asyncio.sleep(2.5)
    with pytest.raises(ray.exceptions.RayActorError):
        await hub.summary.remote(None)
    with pytest.raises(ValueError):
        ray.get_actor(hub_name(hub_app), namespace=NAMESPACE)
    later = shipper(hub_app, "Gateway#b")
    MetricsWindow(sink=later).record(completion())
    assert await later.flush() is True
    assert (await later.hub.summary(None))["totals"]["requests"] == 1
    await later.aclose()


async def test_hung_hub_does_not_hold_the_endpoint(ray_instance: object) -> None:
    """A hub that never answers costs the endpoint its timeout, then the replica's window
    answers, and the unanswered batch is kept for the next try."""
    import ray

    # Defined here so Ray ships the class by value: workers cannot import test modules
    # (at module level its actor died at start and the test saw a dead hub, not a hung one).
    class HungHub:
        """A hub that takes batches but never answers."""

        async def push(self, *args: Any) -> int:
            await asyncio.sleep(60)
            return 0

        def ready(self) -> bool:
            return True

    hung = ray.remote(HungHub).options(num_cpus=0).remote()
    assert await hung.ready.remote()  # started: what follows meets a live, silent hub
    s = MetricsShipper(HubLink(lambda: hung), "Gateway#a", flush_s=60)
    try:
        window = MetricsWindow(sink=s)
        window.record(completion())
        started = time.monotonic()
        summary = await merged_summary(window, s, None, timeout_s=0.5)
        assert time.monotonic() - started < 3
        assert summary["partial"] is True and "0.5s" in summary["error"]
        assert summary["totals"]["requests"] == 1 and s.pending == 1
    finally:
        ray.kill(hung, no_restart=True)
        await s.aclose()


async def test_no_serve_replica_means_a_whole_local_window() -> None:
    """Outside Serve (the CLI, an app built in-process) the local window is the whole story."""
    window = MetricsWindow()
    window.record(completion())
    summary = await merged_summary(window, None, 3600)
    assert summary["source"] == "local" and summary["partial"] is False
    assert summary["totals"]["requests"] == 1


@pytest.fixture(scope="module")
def two_gateways(serve_app: str) -> Iterator[str]:
    """A Harpoon app with two Gateway replicas on the session's Serve; its base URL."""
    from ray import serve

    from harpoon_ray.serve import build_app

    serve.run(build_app({"gateway": {"num_replicas": 2}}), name=TWO_APP, route_prefix=TWO_PREFIX)
    try:
        yield serve_app + TWO_PREFIX
    finally:
        serve.delete(TWO_APP)
        kill_hub(TWO_APP)


def requests_total(http: httpx.Client, base: str) -> dict[str, Any]:
    r = http.get(base + "/api/metrics", params={"window_s": 3600})
    r.raise_for_status()
    return r.json()


async def test_metrics_count_calls_served_by_both_gateway_replicas(two_gateways: str) -> None:
    """Calls through /v1 and /api/chat, spread over two replicas, all show in /api/metrics."""
    body = {"model": "edge", "messages": [{"role": "user", "content": "Hi."}]}
    async with httpx.AsyncClient(base_url=two_gateways, timeout=60) as http:
        before = (await http.get("/api/metrics")).json()["totals"]["requests"]
        calls = [http.post("/v1/chat/completions", json=body) for _ in range(12)]
        calls += [http.post("/api/chat", json={"prompt": "Hi.", "model": "edge"}) for _ in range(8)]
        for r in await asyncio.gather(*calls):
            r.raise_for_status()

        async def probe() -> dict[str, Any]:
            return (await http.get("/api/metrics")).json()

        merged = await wait_for(probe, lambda m: m["totals"]["requests"] >= before + 20)
    assert merged["source"] == "hub"
    assert merged["totals"]["requests"] == before + 20
    assert len([s for s in merged["sources"] if s.startswith("Gateway#")]) == 2
    assert merged["by_tier"]["edge"]["requests"] >= 20
    assert merged["lag_s"] is not None and merged["as_of"] <= time.time() + 1


async def test_killed_hub_leaves_requests_and_the_endpoint_working(two_gateways: str) -> None:
    """With the hub killed, requests still succeed and /api/metrics still answers;
    replicas make a new hub and go on counting."""
    kill_hub(TWO_APP)
    async with httpx.AsyncClient(base_url=two_gateways, timeout=60) as http:
        for _ in range(5):
            r = await http.post("/api/chat", json={"prompt": "Hi.", "model": "edge"})
            assert r.status_code == 200
        first = await http.get("/api/metrics")
        assert first.status_code == 200
        assert first.json()["source"] in {"hub", "replica"}

        async def probe() -> dict[str, Any]:
            return (await http.get("/api/metrics")).json()

        merged = await wait_for(
            probe, lambda m: m["source"] == "hub" and m["totals"]["requests"] >= 5
        )
    assert merged["source"] == "hub" and merged["partial"] is False
    assert merged["totals"]["requests"] >= 5


@pytest.fixture(scope="module")
def routed_app(serve_app: str) -> Iterator[str]:
    """A Harpoon app whose /v1 goes through the ModelRouter deployment; its base URL."""
    from ray import serve

    from harpoon_ray.serve import build_app

    serve.run(build_app({"v1_in_process": False}), name=ROUTED_APP, route_prefix=ROUTED_PREFIX)
    try:
        yield serve_app + ROUTED_PREFIX
    finally:
        serve.delete(ROUTED_APP)
        kill_hub(ROUTED_APP)


async def test_model_router_replicas_ship_to_the_same_hub(routed_app: str) -> None:
    """Calls routed by the ModelRouter deployment count in the gateway's /api/metrics."""
    body = {"model": "edge", "messages": [{"role": "user", "content": "Hi."}]}
    async with httpx.AsyncClient(base_url=routed_app, timeout=60) as http:
        for _ in range(3):
            (await http.post("/v1/chat/completions", json=body)).raise_for_status()

        async def probe() -> dict[str, Any]:
            return (await http.get("/api/metrics")).json()

        merged = await wait_for(probe, lambda m: m["totals"]["requests"] >= 3)
    assert merged["source"] == "hub" and merged["totals"]["requests"] == 3
    assert [s for s in merged["sources"] if s.startswith("ModelRouter#")]
    assert merged["model_router"]["ok"] is True
