"""One merged metrics window per app, fed in batches by every replica.

Each Gateway and ModelRouter replica records into its own `MetricsWindow` (O(1) on the
request path) and a `MetricsShipper` sends what it recorded to the app's named
`MetricsHub` actor every FLUSH_S, one Ray call per batch, from a background task: no
request waits on the hub or fails because of it. `GET /api/metrics` asks the hub; if the
hub does not answer, the replica's own window answers, flagged `partial: true`.

The hub is detached and named per app (`harpoon-metrics:<app>`, in the settings'
namespace), so replicas coming and going do not take the merged history with them. Being
detached, nothing would end it once its app is gone (`serve delete`, a test app): it ends
itself after IDLE_EXIT_S without a batch or a read. Live replicas send one at least every
IDLE_HEARTBEAT_S, and a replica that finds it gone makes it again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ..errors import HarpoonError
from ..settings import Settings
from .metrics import MAX_RECORDS, MetricsWindow, Record

log = logging.getLogger("harpoon.serve")

FLUSH_S = 0.1  # small batches: a 0.5 s one held the replica loop ~1.5 ms (one-client p99)
# An idle replica still says it is alive (the hub's `age_s`), but not every FLUSH_S: ten
# empty Ray calls a second per replica kept the hub and idle replicas at ~4 % of a core.
IDLE_HEARTBEAT_S = 1.0
BATCH_MAX = 5_000
BUFFER_MAX = 50_000
# A push runs in the background, and the first one may wait for the hub's worker process
# to start; a summary is on a request, so it is held shorter.
PUSH_TIMEOUT_S = 15.0
SUMMARY_TIMEOUT_S = 5.0
LOOKUP_TIMEOUT_S = 5.0
RESOLVE_RETRY_S = 5.0
STALE_S = 30.0
# Neither a batch nor a read for this long: every replica of the app is gone (a redeploy
# takes seconds).
IDLE_EXIT_S = 600.0


class MetricsHubUnavailable(HarpoonError):
    """The hub could not be found or did not answer; callers fall back, never fail."""

    http_status = 503
    error_type = "metrics_hub_unavailable"


def hub_name(app_name: str) -> str:
    return f"harpoon-metrics:{app_name}"


class MetricsHub:
    """The merged window, as a Ray actor: replicas push batches, the endpoint reads."""

    def __init__(self, max_records: int = MAX_RECORDS, idle_exit_s: float = IDLE_EXIT_S) -> None:
        self._window = MetricsWindow(max_records)
        self._sources: dict[str, dict[str, Any]] = {}
        self._idle_exit_s = idle_exit_s
        self._last_heard = time.monotonic()
        self._watch: asyncio.Task | None = None

    async def push(self, source: str, seq: int, rows: list[tuple], dropped: int = 0) -> int:
        """Rows in `Record` order; `seq` numbers the source's batches, so a batch sent
        again after a timeout is not counted twice; `dropped`: the source's buffer losses."""
        self._heard_from_the_app()
        seen = self._sources.setdefault(source, {"records": 0, "seq": 0})
        if seq <= seen["seq"]:
            return 0
        self._window.extend(rows)
        seen["seq"] = seq
        seen["records"] += len(rows)
        seen["dropped"] = dropped
        seen["last_push"] = time.time()
        return len(rows)

    def _heard_from_the_app(self) -> None:
        self._last_heard = time.monotonic()
        if self._watch is None:  # a hub only ever read (made by a summary) ends as well
            self._watch = asyncio.get_running_loop().create_task(self._exit_when_idle())

    async def _exit_when_idle(self) -> None:
        import ray

        while True:
            idle = time.monotonic() - self._last_heard
            if idle >= self._idle_exit_s:
                log.info("metrics hub: no word for %.0f s, its app is gone; exiting", idle)
                # Not a crash: the kill keeps Ray from restarting it (max_restarts=-1).
                ray.kill(ray.get_runtime_context().current_actor, no_restart=True)
                return
            await asyncio.sleep(self._idle_exit_s - idle)

    async def summary(self, window_s: float | None = None) -> dict[str, Any]:
        self._heard_from_the_app()
        now = time.time()
        sources = {
            name: {
                "records": s["records"],
                "dropped": s["dropped"],
                "age_s": round(now - s["last_push"], 3),
            }
            for name, s in sorted(self._sources.items())
        }
        live = [s["age_s"] for s in sources.values() if s["age_s"] < STALE_S]
        return {
            **self._window.summary(window_s),
            "source": "hub",
            "partial": False,
            "as_of": now,
            "lag_s": max(live, default=0.0),
            "sources": sources,
        }


def _create_hub(name: str, namespace: str) -> Any:
    import ray

    actor = ray.remote(MetricsHub).options(
        name=name,
        namespace=namespace,
        lifetime="detached",
        get_if_exists=True,
        num_cpus=0,
        max_restarts=-1,
    )
    return actor.remote()


class HubLink:
    """The app's hub, found (or made) on first use and forgotten when a call fails, so
    the next try finds or remakes it; lookups are retried at most every RESOLVE_RETRY_S."""

    def __init__(self, resolve: Callable[[], Any]) -> None:
        self._resolve = resolve
        self._handle: Any = None
        self._next_try = 0.0

    @classmethod
    def named(cls, name: str, namespace: str) -> HubLink:
        return cls(lambda: _create_hub(name, namespace))

    async def _hub(self) -> Any:
        if self._handle is None:
            if time.monotonic() < self._next_try:
                raise MetricsHubUnavailable("metrics hub lookup failed recently")
            try:
                # The lookup is a blocking GCS call: keep it off the event loop.
                async with asyncio.timeout(LOOKUP_TIMEOUT_S):
                    self._handle = await asyncio.to_thread(self._resolve)
            except Exception as exc:
                self._next_try = time.monotonic() + RESOLVE_RETRY_S
                raise MetricsHubUnavailable(f"metrics hub not found: {exc!r}") from exc
        return self._handle

    async def _call(self, timeout_s: float, method: str, *args: Any) -> Any:
        hub = await self._hub()
        try:
            async with asyncio.timeout(timeout_s):
                return await getattr(hub, method).remote(*args)
        except Exception as exc:
            self._handle = None
            raise MetricsHubUnavailable(f"metrics hub did not answer: {exc!r}") from exc

    async def push(self, source: str, seq: int, rows: list[tuple], dropped: int) -> int:
        return await self._call(PUSH_TIMEOUT_S, "push", source, seq, rows, dropped)

    async def summary(self, window_s: float | None) -> dict[str, Any]:
        return await self._call(SUMMARY_TIMEOUT_S, "summary", window_s)


class MetricsShipper:
    """A window's sink: buffers records (bounded, oldest dropped and counted) and ships
    them to the hub from a background task started on the first record."""

    def __init__(
        self,
        hub: HubLink,
        source: str,
        *,
        buffer_max: int = BUFFER_MAX,
        batch_max: int = BATCH_MAX,
        flush_s: float = FLUSH_S,
    ) -> None:
        self.hub = hub
        self.source = source
        self.dropped = 0
        self.shipped = 0
        self._pending: deque[Record] = deque()
        self._buffer_max = buffer_max
        self._batch_max = batch_max
        self._flush_s = flush_s
        self._unsent: tuple[int, list[tuple]] | None = None
        self._seq = 0
        self._task: asyncio.Task | None = None
        self._closed = False
        self._lock: asyncio.Lock | None = None
        self._pushed_at = float("-inf")  # event-loop time of the last batch the hub took

    @property
    def pending(self) -> int:
        return len(self._pending) + (len(self._unsent[1]) if self._unsent else 0)

    def offer(self, record: Record) -> None:
        if len(self._pending) >= self._buffer_max:
            self._pending.popleft()
            self.dropped += 1
        self._pending.append(record)
        if self._task is None and not self._closed:
            self.start()

    def start(self) -> None:
        """Start the flush loop on the running event loop (no loop: the next record tries)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._task = loop.create_task(self._run(), name=f"metrics-shipper:{self.source}")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closed:
            await asyncio.sleep(self._flush_s)
            if self.pending or loop.time() - self._pushed_at >= IDLE_HEARTBEAT_S:
                await self.flush()

    async def flush(self) -> bool:
        """Ship what was pending when the flush began (a heartbeat when nothing was);
        False if the hub did not take it: the batch is kept as it was and sent again,
        same `seq`, next time.

        Records offered while a batch is on its way wait for the next flush. Chasing
        them instead kept a busy replica pushing back to back: under a steady client
        each push came back to a few new records, so one flush became hundreds of
        few-record Ray calls a second (one client at ~1,000 req/s: +0.2 ms of replica
        CPU per request and a hub busy 15 % of a core; benchmarks/README.md, "Gateway")."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            owed = len(self._pending)
            while True:
                if self._unsent is None:
                    count = min(owed, len(self._pending), self._batch_max)
                    owed -= count
                    self._seq += 1
                    self._unsent = (
                        self._seq,
                        [tuple(self._pending.popleft()) for _ in range(count)],
                    )
                seq, rows = self._unsent
                try:
                    await self.hub.push(self.source, seq, rows, self.dropped)
                except MetricsHubUnavailable as exc:
                    log.debug("metrics batch of %d not shipped: %s", len(rows), exc.message)
                    return False
                self._unsent = None
                self._pushed_at = asyncio.get_running_loop().time()
                self.shipped += len(rows)
                if owed <= 0 or not self._pending:
                    return True

    async def aclose(self) -> None:
        """Stop the loop and try one last flush, so a retiring replica's tail is kept."""
        self._closed = True
        if self._task is not None:
            # The flag ends the loop even if a cancel is swallowed on its way through a
            # finishing Ray call, so closing never waits on it for long.
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=1.0)
            self._task = None
        if self.pending:
            await self.flush()


def replica_shipper(settings: Settings) -> MetricsShipper | None:
    """A shipper to this app's hub when running as a Serve replica; None elsewhere (the
    CLI, `LocalBackend` alone, an app built without Serve), where the window is whole."""
    try:
        import ray
        from ray import serve

        if not ray.is_initialized():
            return None
        replica = serve.get_replica_context()
    except Exception:
        return None
    link = HubLink.named(hub_name(replica.app_name), settings.namespace)
    return MetricsShipper(link, f"{replica.deployment}#{replica.replica_tag}")


async def merged_summary(
    window: MetricsWindow,
    shipper: MetricsShipper | None,
    window_s: float | None,
    timeout_s: float = SUMMARY_TIMEOUT_S,
) -> dict[str, Any]:
    """The deployment's metrics: the hub's merged window, after this replica's pending
    records reach it; the local window (`partial`) if the hub does not answer."""
    if shipper is None:
        return {
            **window.summary(window_s),
            "source": "local",
            "partial": False,
            "as_of": time.time(),
            "lag_s": 0.0,
        }
    error = None
    try:
        # A hung hub must not hold the endpoint for a whole background push's timeout.
        async with asyncio.timeout(timeout_s):
            flushed = await shipper.flush()
    except TimeoutError:
        flushed, error = False, f"metrics hub took no batch within {timeout_s}s"
    if flushed:
        try:
            return await shipper.hub.summary(window_s)
        except MetricsHubUnavailable as exc:
            error = exc.message
    return {
        **window.summary(window_s),
        "source": "replica",
        "partial": True,
        "as_of": time.time(),
        "lag_s": None,
        "error": error or "metrics hub unavailable",
        "replica": {"source": shipper.source, "pending": shipper.pending},
    }
