"""The machine's floor for a fan-out: raw bytes from one process to many loopback sockets.

    .venv/bin/python benchmarks/bench_ws_floor.py [--clients 1000] [--burst-kb 1250]

bench_ws.py's 1,000 x 1,000 run sends each client ~2.5 MB of events, in about two bursts
(a chunk of 500 agents reports at once: ~3,000 events, ~1.25 MB). This sends the same
bytes with nothing else in the way: one asyncio server process writes each burst to every
connection as one `transport.write` (no JSON, no WebSocket framing, no HAProxy, no Ray,
no covenant using the CPU), and one client process of bare asyncio protocols counts
bytes. Delay is from the burst's start (stamped by the server in its first 8 bytes) to
the last byte of it reaching each client. Whatever the gateway does, it cannot beat this.

`--via-haproxy` puts the HAProxy binary Ray's HAProxy ingress runs (what `make run` and
bench_ws use) between them, in TCP mode with splicing and as many threads as cores, which
is what an upgraded WebSocket is to HAProxy: a tunnel. `--frames N` writes each burst as N
writes, as the gateway writes a burst as several pages.

Results: benchmarks/results/ws.json, key `floor`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harpoon_ray.ports import free_loopback_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "ws.json"
STAMP = struct.Struct("!d")


def serve(
    port: int, clients: int, bursts: int, burst_bytes: int, gap_s: float, frames: int
) -> None:
    """The sender: wait for every client, then write each burst to all of them."""

    async def main() -> None:
        conns: list[asyncio.Transport] = []
        ready = asyncio.Event()

        class Sink(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                conns.append(transport)  # type: ignore[arg-type]
                if len(conns) == clients:
                    ready.set()

        server = await asyncio.get_running_loop().create_server(
            Sink, "127.0.0.1", port, backlog=clients
        )
        await asyncio.wait_for(ready.wait(), 120)
        await asyncio.sleep(0.5)
        body = bytes(burst_bytes - STAMP.size)
        step = -(-burst_bytes // frames)
        for _ in range(bursts):
            payload = STAMP.pack(time.time()) + body
            for at in range(0, burst_bytes, step):
                piece = payload[at : at + step]
                for t in conns:
                    t.write(piece)
                await asyncio.sleep(0)  # the next page comes on a later turn
            # let the clients read it all before the next burst, as a covenant's gap would
            for _ in range(60_000):  # bounded: at most a minute
                if not any(t.get_write_buffer_size() for t in conns):
                    break
                await asyncio.sleep(0.001)
            await asyncio.sleep(gap_s)
        await asyncio.sleep(1)
        for t in conns:
            t.close()
        server.close()

    asyncio.run(main())


class Counter(asyncio.Protocol):
    """One client: bytes in, and the arrival time of each burst's last byte."""

    def __init__(self, burst_bytes: int, delays: list[float], done: asyncio.Future) -> None:
        self.burst_bytes = burst_bytes
        self.delays = delays
        self.done = done
        self.got = 0
        self.head = b""
        self.started = 0.0

    def data_received(self, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            at = self.got % self.burst_bytes
            if at < STAMP.size:
                take = min(STAMP.size - at, len(data) - pos)
                self.head += data[pos : pos + take]
                if len(self.head) == STAMP.size:
                    (self.started,) = STAMP.unpack(self.head)
                    self.head = b""
            else:
                take = min(self.burst_bytes - at, len(data) - pos)
            self.got += take
            pos += take
            if self.got % self.burst_bytes == 0:
                self.delays.append((time.time() - self.started) * 1000)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


@contextmanager
def haproxy(listen: int, upstream: int, clients: int) -> Iterator[None]:
    """HAProxy as Ray's HAProxy ingress runs it, tunnelling `listen` to `upstream`."""
    from ray.serve._private.haproxy import _resolve_haproxy_binary

    config = f"""
global
    maxconn {clients + 100}
    nbthread {max(1, min(4, os.cpu_count() or 1))}
defaults
    mode tcp
    option splice-request
    option splice-response
    timeout connect 5s
    timeout client 300s
    timeout server 300s
frontend floor
    bind 127.0.0.1:{listen}
    default_backend sender
backend sender
    server one 127.0.0.1:{upstream}
"""
    with tempfile.TemporaryDirectory(prefix="floor-haproxy-") as tmp:
        path = Path(tmp) / "haproxy.cfg"
        path.write_text(config)
        proc = subprocess.Popen([_resolve_haproxy_binary(), "-f", str(path)])
        try:
            time.sleep(0.5)
            if proc.poll() is not None:
                raise RuntimeError(f"HAProxy exited with {proc.returncode}")
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


async def run(
    clients: int, bursts: int, burst_bytes: int, gap_s: float, frames: int, via_haproxy: bool
) -> dict:
    if via_haproxy:
        upstream = free_loopback_port()
        with haproxy(listen := free_loopback_port(), upstream, clients):
            result = await _run(listen, upstream, clients, bursts, burst_bytes, gap_s, frames)
    else:
        port = free_loopback_port()
        result = await _run(port, port, clients, bursts, burst_bytes, gap_s, frames)
    return {"via_haproxy": via_haproxy, "frames_per_burst": frames, **result}


async def _run(
    port: int,
    upstream: int,
    clients: int,
    bursts: int,
    burst_bytes: int,
    gap_s: float,
    frames: int,
) -> dict:
    ctx = mp.get_context("spawn")
    sender = ctx.Process(target=serve, args=(upstream, clients, bursts, burst_bytes, gap_s, frames))
    sender.start()
    loop = asyncio.get_running_loop()
    delays: list[float] = []
    waits = []
    try:
        for i in range(clients):
            done = loop.create_future()
            for attempt in range(100):  # the sender may still be starting
                try:
                    await loop.create_connection(
                        lambda d=done: Counter(burst_bytes, delays, d), "127.0.0.1", port
                    )
                    break
                except OSError:
                    if i or attempt == 99:
                        raise
                    await asyncio.sleep(0.1)
            waits.append(done)
        await asyncio.wait_for(asyncio.gather(*waits), 300)
    finally:
        sender.join(30)
        if sender.is_alive():
            sender.kill()
    delays.sort()
    return {
        "clients": clients,
        "bursts": bursts,
        "burst_kb": burst_bytes // 1000,
        "bytes_per_client_mb": round(bursts * burst_bytes / 1e6, 2),
        "delay_ms_last_byte": {"p50": _pct(delays, 50), "p99": _pct(delays, 99)},
    }


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))], 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--bursts", type=int, default=2)
    ap.add_argument("--burst-kb", type=int, default=1250)
    ap.add_argument("--gap-s", type=float, default=0.1)
    ap.add_argument("--frames", type=int, default=1, help="writes per burst")
    ap.add_argument("--via-haproxy", action="store_true")
    ns = ap.parse_args()
    result = {
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        **asyncio.run(
            run(
                ns.clients,
                ns.bursts,
                ns.burst_kb * 1000,
                ns.gap_s,
                max(1, ns.frames),
                ns.via_haproxy,
            )
        ),
    }
    print(json.dumps(result, indent=1))
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    key = f"{ns.clients}x{ns.burst_kb}kb"
    key += f"_{ns.frames}frames" if ns.frames > 1 else ""
    key += "_via_haproxy" if ns.via_haproxy else ""
    data.setdefault("floor", {})[key] = result
    RESULTS.write_text(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
