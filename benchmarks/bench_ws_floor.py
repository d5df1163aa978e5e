"""The machine's floor for a fan-out: raw bytes from one process to many loopback sockets.

    .venv/bin/python benchmarks/bench_ws_floor.py [--clients 1000] [--burst-kb 1250]

bench_ws.py's 1,000 x 1,000 run sends each client ~2.5 MB of events, in about two bursts
(a chunk of 500 agents reports at once: ~3,000 events, ~1.25 MB). This sends the same
bytes with nothing else in the way: one asyncio server process writes each burst to every
connection as one `transport.write` (no JSON, no WebSocket framing, no HAProxy, no Ray,
no covenant using the CPU), and one client process of bare asyncio protocols counts
bytes. Delay is from the burst's start (stamped by the server in its first 8 bytes) to
the last byte of it reaching each client. Whatever the gateway does, it cannot beat this.

Results: benchmarks/results/ws.json, key `floor`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import struct
import time
from pathlib import Path

from harpoon_ray.testing.ports import free_loopback_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "ws.json"
STAMP = struct.Struct("!d")


def serve(port: int, clients: int, bursts: int, burst_bytes: int, gap_s: float) -> None:
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
        for _ in range(bursts):
            payload = STAMP.pack(time.time()) + body
            for t in conns:
                t.write(payload)
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


async def run(clients: int, bursts: int, burst_bytes: int, gap_s: float) -> dict:
    port = free_loopback_port()
    ctx = mp.get_context("spawn")
    sender = ctx.Process(target=serve, args=(port, clients, bursts, burst_bytes, gap_s))
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
    ns = ap.parse_args()
    result = {
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        **asyncio.run(run(ns.clients, ns.bursts, ns.burst_kb * 1000, ns.gap_s)),
    }
    print(json.dumps(result, indent=1))
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data.setdefault("floor", {})[f"{ns.clients}x{ns.burst_kb}kb"] = result
    RESULTS.write_text(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
