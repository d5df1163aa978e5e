"""WebSocket fan-out: many clients following one big covenant, then many idle sockets.

    .venv/bin/python benchmarks/bench_ws.py [--quick] [--ingress haproxy]

(a) N clients follow one covenant of M agents on the orchestrator socket from seq 0:
    does every client get every event in order; delay from the event's stored `ts` to
    its arrival (p50/p99, all events and only those stored after every client joined);
    the gateway's memory (replica, plus Serve's proxy actor when it is in the path).
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
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "ws.json"
FULL = {"clients": 1000, "agents": 1000, "idle": 10_000}
QUICK = {"clients": 100, "agents": 100, "idle": 1000}
FOLLOW_CAP_S = 240.0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


async def follow(
    url: str, ready: asyncio.Event, joined: list[float]
) -> list[tuple[int, float, float]]:
    got: list[tuple[int, float, float]] = []
    async with connect(url, max_queue=None, open_timeout=60, ping_interval=None) as ws:
        joined.append(time.time())
        ready.set()
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                now = time.time()
                frame = json.loads(raw)
                if "seq" in frame:
                    got.append((frame["seq"], frame["ts"], now))
                elif frame.get("type") in ("end", "error"):
                    break
    return got


async def fanout(base: str, ingress: str, clients: int, agents: int) -> dict:
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        r = await http.post(
            "/api/orchestrate/parallel",
            json={"query": "Survey the history of tea, one section per agent.", "agents": agents},
        )
        r.raise_for_status()
        cid = r.json()["covenant_id"]
        ws_url = base.replace("http://", "ws://") + f"/api/agents/orchestrator/{cid}/ws"
        joined: list[float] = []
        ready = asyncio.Event()
        tasks = [asyncio.create_task(follow(ws_url, ready, joined)) for _ in range(clients)]
        mem_peak = gateway_rss_mb(ingress)
        done, pending = await asyncio.wait(tasks, timeout=FOLLOW_CAP_S)
        for t in pending:
            t.cancel()
        all_joined = max(joined) if joined else time.time()
        log: list[int] = []
        while True:
            page = (
                await http.get(f"/api/covenants/{cid}/events", params={"after": len(log)})
            ).json()
            if not page["events"]:
                break
            log += [e["seq"] for e in page["events"]]
    results = [t.result() for t in done if not t.exception()]
    complete = sum(1 for g in results if [s for s, _, _ in g] == log)
    delays = sorted((now - ts) * 1000 for g in results for _, ts, now in g)
    live = sorted((now - ts) * 1000 for g in results for _, ts, now in g if ts > all_joined)
    return {
        "clients": clients,
        "agents": agents,
        "events_in_log": len(log),
        "clients_finished": len(results),
        "clients_with_every_event_in_order": complete,
        "timed_out_clients": len(pending),
        "delay_ms_all": {"p50": pct(delays, 50), "p99": pct(delays, 99)},
        "delay_ms_live": {"p50": pct(live, 50), "p99": pct(live, 99), "events": len(live)},
        "gateway_rss_mb_during": mem_peak,
        "gateway_rss_mb_after": gateway_rss_mb(ingress),
    }


async def idle(base: str, ingress: str, count: int) -> dict:
    url = base.replace("http://", "ws://") + "/api/agents/mediator/idle-bench/ws"
    before = gateway_rss_mb(ingress)
    sockets = []
    failed = 0
    for start in range(0, count, 200):
        opened = await asyncio.gather(
            *(
                connect(url, open_timeout=60, ping_interval=None)
                for _ in range(start, min(count, start + 200))
            ),
            return_exceptions=True,
        )
        sockets += [s for s in opened if not isinstance(s, BaseException)]
        failed += sum(1 for s in opened if isinstance(s, BaseException))
    await asyncio.sleep(2)
    held = gateway_rss_mb(ingress)
    await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
    await asyncio.sleep(5)
    after = gateway_rss_mb(ingress)
    per_conn_kb = (held["total"] - before["total"]) * 1024 / max(1, len(sockets))
    # A second round tells a leak (grows again) from memory the allocator keeps for reuse.
    again = []
    for _ in range(0, len(sockets), 200):
        again += await asyncio.gather(
            *(connect(url, open_timeout=60, ping_interval=None) for _ in range(200)),
            return_exceptions=True,
        )
    await asyncio.gather(
        *(s.close() for s in again if not isinstance(s, BaseException)), return_exceptions=True
    )
    await asyncio.sleep(5)
    second = gateway_rss_mb(ingress)
    return {
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


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))], 2)


def write(result: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(f"wrote {RESULTS}", flush=True)


def launch(port: int, env: dict[str, str], ingress: str, slots: int) -> subprocess.Popen:
    """Harpoon in its own process group and Ray instance, via the launcher."""
    cmd = [sys.executable, "-m", "harpoon_ray.serve.launcher", "--port", str(port)]
    # Every open socket holds one of the replica's `max_ongoing_requests` slots.
    args = {"gateway": {"max_ongoing_requests": slots, "max_queued_requests": slots}}
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
    ns = ap.parse_args()
    sizes = QUICK if ns.quick else FULL
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="hbw", dir="/tmp")
    env = {
        **os.environ,
        "RAY_TMPDIR": tmp,
        "HARPOON_DATA_DIR": f"{tmp}/data",
        "HARPOON_SIMULATED_SPEED": "0.2",
        "HARPOON_WS_HEARTBEAT_S": "30",
        # HAProxy admits 4,096 connections by default; read when Ray starts.
        "RAY_SERVE_HAPROXY_MAXCONN": str(2 * sizes["idle"]),
    }
    env.pop("RAY_ADDRESS", None)
    proc = launch(port, env, ns.ingress, sizes["idle"] + sizes["clients"] + 1000)
    base = f"http://127.0.0.1:{port}"
    result: dict = {
        "quick": ns.quick,
        "ingress": ns.ingress,
        "cpus": os.cpu_count(),
        "load_avg_at_start": os.getloadavg(),
    }
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            for _ in range(180):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(base + "/api/health")).status_code == 200:
                        break
                await asyncio.sleep(1)
        if not ns.skip_fanout:
            print("fan-out ...", flush=True)
            result["fanout"] = await fanout(base, ns.ingress, sizes["clients"], sizes["agents"])
            print(json.dumps(result["fanout"], indent=1), flush=True)
            write(result)  # each phase is kept even if a later one is cut short
        print("idle connections ...", flush=True)
        result["idle"] = await idle(base, ns.ingress, sizes["idle"])
        print(json.dumps(result["idle"], indent=1), flush=True)
        write(result)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    asyncio.run(main())
