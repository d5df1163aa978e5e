"""Gateway overhead: /v1/chat/completions through Harpoon against the same request sent
straight to the test server (zero latency), at 1, 10, 100 and 1,000 concurrent clients.

    .venv/bin/python benchmarks/bench_gateway.py [--quick] [--modes proxy,haproxy]
                                                 [--litellm /tmp/litellm-venv/bin/litellm]
                                                 [--loadgen wrk|aiohttp] [--replicas N]

Every server runs in its own process on a loopback port and is stopped by its PID:
the test server, Harpoon (`python -m harpoon_ray.serve.launcher`, its own Ray, one run
per ingress mode) and LiteLLM's proxy when its venv exists. The load generator is `wrk`
(`apt-get install wrk`; one thread, a Lua script for the POST) when it is installed, else
one aiohttp process: on 2 cores the generator shares the CPU with what it measures, and
aiohttp spent ~0.3 ms of CPU per request where wrk spends a few µs. Every target of a run
gets the same generator. Each level also records, per process of the servers under test,
CPU and time spent runnable but waiting for a core (`processes`, from /proc schedstat).
Results: benchmarks/results/gateway.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil

from harpoon_ray.ports import free_loopback_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "gateway.json"
PY = sys.executable
BODY = {
    "messages": [{"role": "user", "content": "Say hello in five words."}],
    "max_tokens": 16,
}
LEVELS = (1, 10, 100, 1000)
FULL = {1: 500, 10: 4000, 100: 6000, 1000: 6000}
QUICK = {1: 200, 10: 1000, 100: 2000, 1000: 3000}
LEVEL_CAP_S = 60.0
SETTLE_S = 10.0
WRK_SECONDS = {"quick": 5, "full": 12}
LITELLM_KEY = "sk-bench-loopback-only"
LOADGEN: dict = {"name": "aiohttp", "seconds": 0, "levels": LEVELS}


def free_port() -> int:
    """A loopback port for a server about to start (below the ephemeral range)."""
    return free_loopback_port()


def start(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("RAY_ADDRESS", None)
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    """SIGINT (clean shutdown), then SIGKILL to the process group it leads."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=60)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


async def wait_ready(url: str, body: dict, proc: subprocess.Popen, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args[:3]} exited with {proc.returncode}")
            try:
                auth = {"authorization": f"Bearer {LITELLM_KEY}"}
                async with s.post(url, json=body, headers=auth) as r:
                    if r.status == 200:
                        await r.read()
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(1)
    raise TimeoutError(f"{url} not ready after {timeout_s}s")


async def load(url: str, body: dict, clients: int, total: int) -> dict:
    """`clients` workers share `total` requests; stops early after LEVEL_CAP_S."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    left = total
    stop_at = time.monotonic() + LEVEL_CAP_S
    payload = json.dumps(body).encode()
    # LiteLLM's proxy refuses to start without a master key; the others ignore it.
    headers = {"content-type": "application/json", "authorization": f"Bearer {LITELLM_KEY}"}
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal left
        while left > 0 and time.monotonic() < stop_at:
            left -= 1
            t0 = time.perf_counter()
            try:
                async with session.post(url, data=payload, headers=headers) as r:
                    await r.read()
                    ok = r.status == 200
                    kind = str(r.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                ok, kind = False, type(exc).__name__
            if ok:
                latencies.append(time.perf_counter() - t0)
            else:
                errors[kind] = errors.get(kind, 0) + 1

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "clients": clients,
        "requests": len(latencies) + sum(errors.values()),
        "ok": len(latencies),
        "errors": errors,
        "elapsed_s": round(elapsed, 3),
        "rps": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(pct(latencies, 50) * 1000, 3),
        "p99_ms": round(pct(latencies, 99) * 1000, 3),
    }


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [[%s]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT %%d %%d %%d %%d %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.connect, e.read, e.write, e.status,
    e.timeout))
end
"""


async def load_wrk(url: str, body: dict, clients: int, seconds: float) -> dict:
    """`clients` keep-alive connections for `seconds`, driven by one wrk thread."""
    script = Path(tempfile.mkdtemp(prefix="hbw", dir="/tmp")) / "post.lua"
    script.write_text(WRK_SCRIPT % (json.dumps(body), LITELLM_KEY))
    cmd = [
        "wrk",
        "-t1",
        f"-c{clients}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "-s",
        str(script),
    ]
    proc = await asyncio.create_subprocess_exec(
        *cmd, url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    out, _ = await proc.communicate()
    line = next((ln for ln in out.decode().splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result for {url}: {out.decode()[-300:]}")
    n, duration_us, p50, p99, *errs = (int(x) for x in line.split()[1:])
    errors = {
        k: v
        for k, v in zip(("connect", "read", "write", "status", "timeout"), errs, strict=True)
        if v
    }
    ok = n - errors.get("status", 0)
    elapsed = duration_us / 1e6
    return {
        "clients": clients,
        "requests": n,
        "ok": ok,
        "errors": errors,
        "elapsed_s": round(elapsed, 3),
        "rps": round(ok / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(p50 / 1000, 3),
        "p99_ms": round(p99 / 1000, 3),
    }


class ProcessTimes:
    """CPU and run-queue wait per process of the servers under test, from each thread's
    /proc/<pid>/task/<tid>/schedstat: on 2 cores a request's tail is mostly time spent
    runnable but waiting for a core, and this says who ran and who waited (the metrics
    shipper's back-to-back pushes showed up as the hub's timeslices and the replica's wait)."""

    def __init__(self, *roots: int) -> None:
        self.roots = roots

    def snapshot(self) -> dict[int, tuple[str, int, int, int]]:
        out: dict[int, tuple[str, int, int, int]] = {}
        procs = []
        for pid in self.roots:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(pid)
                procs += [root, *root.children(recursive=True)]
        for p in procs:
            try:
                cmd = p.cmdline()
                name = Path(cmd[0]).name if cmd else p.name()
                if name.startswith("python"):  # the module or script, not the interpreter
                    words = [w for w in cmd[1:] if not w.startswith("-")]
                    name = Path(words[0]).name if words else name
                run = wait = slices = 0
                for tid in os.listdir(f"/proc/{p.pid}/task"):
                    with open(f"/proc/{p.pid}/task/{tid}/schedstat") as f:
                        r, w, n = (int(x) for x in f.read().split())
                    run, wait, slices = run + r, wait + w, slices + n
            except (psutil.Error, OSError, ValueError):
                continue
            out[p.pid] = (name[:48], run, wait, slices)
        return out

    @staticmethod
    def delta(before: dict, after: dict, top: int = 10) -> list[dict]:
        rows = []
        for pid, (name, run, wait, slices) in after.items():
            _, r0, w0, n0 = before.get(pid, (name, 0, 0, 0))
            rows.append(
                {
                    "process": name,
                    "pid": pid,
                    "cpu_ms": round((run - r0) / 1e6),
                    "runqueue_wait_ms": round((wait - w0) / 1e6),
                    "timeslices": slices - n0,
                }
            )
        rows.sort(key=lambda r: r["cpu_ms"], reverse=True)
        return rows[:top]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))]


async def sweep(
    name: str, url: str, body: dict, sizes: dict[int, int], procs: ProcessTimes | None = None
) -> list[dict]:
    rows = []
    for clients in LOADGEN["levels"]:
        await load(url, body, min(clients, 10), 50)  # warm connections and caches
        before = procs.snapshot() if procs else {}
        if LOADGEN["name"] == "wrk":
            row = await load_wrk(url, body, clients, LOADGEN["seconds"])
        else:
            row = await load(url, body, clients, sizes.get(clients, 1000))
        if procs:
            row["processes"] = ProcessTimes.delta(before, procs.snapshot())
        row["target"] = name
        rows.append(row)
        print(
            f"  {name:<16} {clients:>5} clients: {row['rps']:>8} req/s  p50 {row['p50_ms']:>8} ms"
            f"  p99 {row['p99_ms']:>8} ms  errors {row['errors']}",
            flush=True,
        )
    return rows


def with_overhead(rows: list[dict], direct: list[dict]) -> list[dict]:
    base = {r["clients"]: r for r in direct}
    for r in rows:
        b = base[r["clients"]]
        r["added_p50_ms"] = round(r["p50_ms"] - b["p50_ms"], 3)
        r["added_p99_ms"] = round(r["p99_ms"] - b["p99_ms"], 3)
    return rows


async def bench_harpoon(
    mode: str, upstream: str, sizes: dict[int, int], args: dict, upstream_pid: int
) -> list[dict]:
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="hbg", dir="/tmp")
    env = {"RAY_TMPDIR": tmp, "HARPOON_DATA_DIR": f"{tmp}/data"}
    app_args = {"test_server_url": upstream, **args}
    proc = start(
        [
            PY,
            "-m",
            "harpoon_ray.serve.launcher",
            "--port",
            str(port),
            "--ingress",
            mode,
            "--args",
            json.dumps(app_args),
        ],
        env,
    )
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    body = {**BODY, "model": "harpoon/auto"}
    try:
        await wait_ready(url, body, proc)
        # The first answer may come while Serve still starts other replicas and HAProxy
        # reloads its config to add them (a reload mid-run stalled requests ~400 ms).
        await asyncio.sleep(SETTLE_S)
        await load(url, body, 10, 1000)
        procs = ProcessTimes(proc.pid, upstream_pid)
        return await sweep(f"harpoon-{mode}", url, body, sizes, procs)
    finally:
        stop(proc)


async def bench_litellm(binary: str, upstream: str, sizes: dict[int, int]) -> list[dict] | str:
    if not os.path.exists(binary):  # noqa: ASYNC240 (once, before any load)
        return f"not run: {binary} not found (LiteLLM did not install from PyPI here)"
    port = free_port()
    cfg = Path(tempfile.mkdtemp(prefix="hll", dir="/tmp")) / "litellm.yaml"
    cfg.write_text(
        json.dumps(
            {
                "model_list": [
                    {
                        "model_name": "bench",
                        "litellm_params": {
                            "model": "openai/gpt-4o",
                            "api_base": upstream + "/v1",
                            "api_key": "test",
                        },
                    }
                ],
                "litellm_settings": {"drop_params": True},
            }
        )
    )
    proc = start(
        [binary, "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port)],
        {"LITELLM_LOG": "ERROR", "LITELLM_MASTER_KEY": LITELLM_KEY},
    )
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    body = {**BODY, "model": "bench"}
    try:
        await wait_ready(url, body, proc)
        return await sweep("litellm", url, body, sizes)
    except (RuntimeError, TimeoutError) as exc:
        return f"not run: {exc}"
    finally:
        stop(proc)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--modes", default="proxy,haproxy")
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--remote-router", action="store_true", help="/v1 via the ModelRouter")
    ap.add_argument("--litellm", default="/tmp/litellm-venv/bin/litellm")
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--loadgen", choices=("wrk", "aiohttp"), default=None)
    ap.add_argument("--levels", default=",".join(map(str, LEVELS)), help="e.g. 1 or 1,10")
    ap.add_argument("--seconds", type=float, default=None, help="wrk seconds per level")
    ns = ap.parse_args()
    sizes = QUICK if ns.quick else FULL
    LOADGEN["name"] = ns.loadgen or ("wrk" if shutil.which("wrk") else "aiohttp")
    LOADGEN["seconds"] = ns.seconds or WRK_SECONDS["quick" if ns.quick else "full"]
    LOADGEN["levels"] = tuple(int(n) for n in ns.levels.split(",") if n)
    up_port = free_port()
    upstream_proc = start([PY, "-m", "harpoon_ray.testing.server", "--port", str(up_port)])
    upstream = f"http://127.0.0.1:{up_port}"
    args = {"gateway": {"num_replicas": ns.replicas}, "v1_in_process": not ns.remote_router}
    result: dict = {
        "quick": ns.quick,
        "cpus": os.cpu_count(),
        "load_avg_at_start": os.getloadavg(),
        "app_args": args,
        "loadgen": dict(LOADGEN),
        "env": {k: v for k, v in os.environ.items() if k.startswith(("RAY_SERVE_", "HARPOON_"))},
        "runs": {},
    }
    try:
        await wait_ready(upstream + "/v1/chat/completions", {**BODY, "model": "m"}, upstream_proc)
        print("direct to the test server", flush=True)
        direct = await sweep(
            "direct",
            upstream + "/v1/chat/completions",
            {**BODY, "model": "m"},
            sizes,
            ProcessTimes(upstream_proc.pid),
        )
        result["runs"]["direct"] = direct
        for mode in [m for m in ns.modes.split(",") if m]:
            print(f"harpoon, ingress {mode}", flush=True)
            rows = await bench_harpoon(mode, upstream, sizes, args, upstream_proc.pid)
            result["runs"][f"harpoon-{mode}"] = with_overhead(rows, direct)
        print("litellm proxy", flush=True)
        lite = await bench_litellm(ns.litellm, upstream, sizes)
        result["runs"]["litellm"] = with_overhead(lite, direct) if isinstance(lite, list) else lite
    finally:
        stop(upstream_proc)
    write(Path(ns.out), result)


def write(out: Path, result: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    asyncio.run(main())
