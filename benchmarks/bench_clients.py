"""Which HTTP client for the providers: Harpoon's wire client (the default) and each SDK +
transport pair, in calls/s and client CPU per call.

Runs the project's test server in its own process on a loopback port, then drives it
through each SDK + transport pair with a fixed number of calls at a fixed concurrency,
plain and streaming, and measures wall time and this process's CPU time (so the server's
work is not counted). Results go to `benchmarks/results/clients.json` and a table under
"Provider HTTP clients" in `benchmarks/README.md`.

    python benchmarks/bench_clients.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import groq as groq_sdk
import httpx
import openai as openai_sdk

from harpoon_ray.errors import ProviderError
from harpoon_ray.ports import free_loopback_port
from harpoon_ray.providers import groq as groq_provider
from harpoon_ray.providers import openai as openai_provider
from harpoon_ray.providers.transport import groq_has_aiohttp
from harpoon_ray.providers.wire import WireProvider
from harpoon_ray.schemas import Message, ModelRequest, ModelSpec, Tier
from harpoon_ray.settings import Settings

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "clients.json"
README = HERE / "README.md"
HEADING = "## Provider HTTP clients (`bench_clients.py`)"
SPEC = ModelSpec(
    id="bench/model",
    provider="bench",
    provider_model="bench-model",
    tier=Tier.EDGE,
    context_window=8192,
    input_price_per_m=0,
    output_price_per_m=0,
    ttft_s=0,
    tokens_per_s=1,
    quality=0.5,
    prices_read="2025-08-01",
)
NOTE = (
    "Client CPU per call is the stable figure and the one that decides: it caps how many "
    "calls one gateway replica can drive. Calls/s is wall clock on 2 cores shared with "
    "the test server and whatever else runs, so it swings between runs. Chosen: the wire "
    "client (`HARPOON_UPSTREAM_CLIENT=wire`, `harpoon_ray/providers/wire.py`); with "
    "`HARPOON_UPSTREAM_CLIENT=sdk`, aiohttp under both SDKs "
    "(`harpoon_ray/providers/transport.py`)."
)
REQUEST = ModelRequest(messages=[Message(role="user", content="Benchmark the transport layer")])


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_loopback_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harpoon_ray.testing.server", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/v1/models", timeout=1)
            return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    os.kill(proc.pid, signal.SIGTERM)
    raise RuntimeError("the test server did not start")


def variants(base: str, settings: Settings) -> dict[str, Any]:
    """Name -> a zero-argument factory of a provider over one SDK + transport pair."""
    out = {
        "wire (aiohttp, orjson)": lambda: WireProvider(
            "openai", base + "/v1/chat/completions", "k", settings
        ),
        "openai SDK + httpx2": lambda: openai_provider.OpenAIProvider(
            "openai", openai_provider.sdk_client("k", base + "/v1", settings, "httpx"), openai_sdk
        ),
        "openai SDK + aiohttp": lambda: openai_provider.OpenAIProvider(
            "openai", openai_provider.sdk_client("k", base + "/v1", settings, "aiohttp"), openai_sdk
        ),
        "groq SDK + httpx": lambda: groq_provider.GroqProvider(
            "groq", groq_provider.sdk_client("k", base, settings, "httpx"), groq_sdk
        ),
    }
    if groq_has_aiohttp():
        out["groq SDK + aiohttp"] = lambda: groq_provider.GroqProvider(
            "groq", groq_provider.sdk_client("k", base, settings, "aiohttp"), groq_sdk
        )
    return out


async def drive(provider: Any, calls: int, concurrency: int, stream: bool) -> dict[str, float]:
    gate = asyncio.Semaphore(concurrency)
    errors: list[str] = []

    async def one() -> None:
        async with gate:
            try:
                if stream:
                    async for _ in provider.stream(REQUEST, SPEC):
                        pass
                else:
                    await provider.complete(REQUEST, SPEC)
            except ProviderError as exc:  # counted, not fatal: a run reports its failures
                errors.append(exc.error_type)

    await asyncio.gather(*(one() for _ in range(min(20, calls))))  # warm the pool
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(calls)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "calls": calls,
        "concurrency": concurrency,
        "calls_per_s": round(calls / wall, 1),
        "client_cpu_ms_per_call": round(cpu / calls * 1000, 3),
        "wall_s": round(wall, 3),
        "errors": len(errors),
    }


async def run(base: str, calls: int, concurrency: int) -> list[dict[str, Any]]:
    settings = Settings(pool_connections=concurrency * 2)
    rows = []
    for name, make in variants(base, settings).items():
        for stream in (False, True):
            provider = make()
            try:
                result = await drive(provider, calls, concurrency, stream)
            finally:
                await provider.aclose()
            rows.append({"client": name, "mode": "stream" if stream else "complete", **result})
            print(f"{name:24} {rows[-1]['mode']:9} {result}", flush=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| client | mode | calls/s | client CPU ms/call | errors |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r['client']} | {r['mode']} | {r['calls_per_s']} "
        f"| {r['client_cpu_ms_per_call']} | {r['errors']} |"
        for r in rows
    ]
    return "\n".join(lines)


def write_readme(rows: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    """Replace this benchmark's section of the README (other sections are left alone)."""
    section = (
        f"{HEADING}\n\n"
        f"Through each SDK + transport against the test server on loopback (server in its "
        f"own process; CPU is the client process only). {meta['calls']} calls at "
        f"concurrency {meta['concurrency']} per row, {meta['machine']}, {meta['date']}. "
        f"Run: `python benchmarks/bench_clients.py{' --quick' if meta['quick'] else ''}`.\n\n"
        f"{table(rows)}\n\n"
        f"{NOTE}\n"
    )
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    if HEADING in text:
        start = text.index(HEADING)
        # The section ends at the next heading or at another benchmark's marker comment.
        ends = [
            i for i in (text.find(m, start + len(HEADING)) for m in ("\n## ", "\n<!-- ")) if i != -1
        ]
        nxt = min(ends, default=-1)
        text = text[:start] + section + ("\n" + text[nxt + 1 :] if nxt != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    README.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls, for CI")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    calls = 300 if args.quick else 2000
    proc, base = start_server()
    try:
        rows = asyncio.run(run(base, calls, args.concurrency))
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    meta = {
        "calls": calls,
        "concurrency": args.concurrency,
        "quick": args.quick,
        "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    write_readme(rows, meta)
    print(f"wrote {RESULTS} and {README}")


if __name__ == "__main__":
    main()
