"""Agents on Ray: one orchestration of 10,000 sub-agents, and 1,000 concurrent covenants.

(a) A parallel covenant of N sub-agents whose every model call takes ~1 s (a catalog
    override gives every model ttft 1 s and near-instant generation; simulated provider,
    speed 1). Reports the fan-out's wall time (first agent.spawned to last
    agent.completed) against the ideal 1 s, agents/s, events stored/s, and the peak
    resident memory of all Ray processes (psutil, sampled every 0.2 s).
(b) C covenants (pattern smart: one routed call each) from U users, all submitted at
    once. Reports whether all completed and p50/p99 of each covenant's latency (submit
    to terminal, seen by the client) over its simulated model time.

Loopback only; starts its own local Ray (stopped at the end), writes
benchmarks/results/agents.json and its table in benchmarks/README.md.
Run: `python benchmarks/bench_agents.py [--quick]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import ray
from ray_procs import CpuMeter, MemorySampler

from harpoon_ray.agents.client import HarpoonClient
from harpoon_ray.catalog import load_catalog
from harpoon_ray.schemas import EventType, QueryRequest
from harpoon_ray.settings import Settings

LIMITS = (
    "What decided (b): CPU per covenant, measured by process kind (psutil CPU times of "
    "this driver and every Ray process over the run: `cpu_ms_per_covenant`), and py-spy "
    "on the shards during the run. At this round's start a covenant cost 10.4 ms of CPU "
    "(driver 1.6, mediators 3.7, orchestrators 4.7): 1,000 at once queued ~5 s of work "
    "on 2 cores ahead of their 1 s calls. In order of effect: (1) actor calls. A Ray "
    "actor call costs ~0.5 ms of CPU on each side here (2,000 no-op calls carrying 2 KB: "
    "0.52 ms in the caller, 0.52 ms in the actor; 50 items a call: 0.02 ms an item), and "
    "a covenant made four (client → mediator submit, mediator → orchestrator submit, "
    "client → orchestrator wait, orchestrator → mediator notice). Concurrent calls to one "
    "shard now go as one (`agents/batching.py`; waits as a shared long poll that returns "
    "the ids that ended, new ids getting a poll of their own): ~7.5 → ~4 ms, p99 3.9x → "
    "2.5x. (2) Pickled pydantic covenants: cloudpickle's per-object Python hooks made "
    "each covenant sent cost ~1.8 ms in a loaded shard (py-spy: 12% of the "
    "orchestrators' CPU went to pickling the mediator notice alone); covenants now cross "
    "as JSON bytes (pydantic-core: 0.01 ms out, 0.02 ms in). (3) Commits waited on in "
    "turn, five → two (the orchestrator's commit of the covenant, then of its end): the "
    "mediator's commit runs beside the orchestrator's, its answer turn and the first "
    "tokens are not waited on, and its covenant row goes in once, as active. (2) and (3) "
    "together: 10.4 → 7.5 ms, p99 5.0x → 3.9x. (4) DuckDB: a statement costs 1-3 ms "
    "whatever its size and the conflict clauses are the dear part (20 covenants: INSERT "
    "OR REPLACE 3.1 ms, INSERT 1.4, UPDATE 1.7; 20 conversation turns: INSERT OR IGNORE "
    "2.5 ms, INSERT 0.8). Rows known to be new are inserted and known ones updated, "
    "falling back to the upserts when a replay meets a row (`agents/writes.py`), and a "
    "batch nobody waits for (no flush caller, no follower) lingers up to 100 ms into one "
    "commit: ~4 → ~3 ms, p99 ~2.0x. What is left (~2 ms in the orchestrators): DuckDB "
    "commits (a third, py-spy), the pattern's routing and budget checks, the simulated "
    "provider's stream. p50 and p99 sit close: every covenant waits behind the same burst "
    "of 1,000 submits (drafted, stored, delegated) before its 1 s call, then for the "
    "ends' commit. (a) is unchanged in design; its wall time swings with the machine: "
    "four runs of (a) alone while tuning gave 2.38-2.50 s (load 1.9-5.0), and one earlier "
    "full run gave 3.09 s (load 2.3, submit → first sub-agent 1.4 s) before a back-to-back "
    "2.62 s. Its submit → first sub-agent was 1.4-1.5 s in the first run of both full "
    "invocations and 0.54-0.70 s in every other run (alone or second; last round's two: "
    "0.67 and 1.17 s): not pinned down; "
    "the likeliest cause is the machine (the lock is taken as other test runs end and "
    "stop their Ray instances), as the batched submit adds one loop turn at most. Both "
    "runs and the `before` block are in agents.json."
)
HERE = Path(__file__).parent
RESULTS = HERE / "results" / "agents.json"
README = HERE / "README.md"
START, END = "<!-- bench_agents:start -->", "<!-- bench_agents:end -->"
MODEL_TIME_S = 1.0


def one_second_catalog(path: Path) -> Path:
    """Every catalog model answers in ~1 s: ttft 1 s, generation near instant."""
    lines = []
    for m in load_catalog().models:
        lines += ["[[models]]", f'id = "{m.id}"', "ttft_s = 1.0", "tokens_per_s = 1000000.0", ""]
    path.write_text("\n".join(lines))
    return path


async def fan_out(client: HarpoonClient, agents: int) -> dict:
    q = QueryRequest(
        query="Summarise the history of the bicycle.", pattern="parallel", agents=agents
    )
    t0 = time.time()
    cov = await client.submit("bench-fanout", q)
    done = await client.wait(cov.id, timeout_s=600)
    total_s = time.time() - t0
    events = await client.events(cov.id, limit=10_000_000)
    workers = {
        e.agent_id
        for e in events
        if e.type is EventType.AGENT_SPAWNED and e.payload.get("role") == "worker"
    }
    spawned = [e.ts for e in events if e.type is EventType.AGENT_SPAWNED and e.agent_id in workers]
    completed = [e for e in events if e.type is EventType.COMPLETED and e.agent_id in workers]
    wall = max(e.ts for e in completed) - min(spawned)
    return {
        "agents": agents,
        "status": done.status.value,
        "completed_agents": len(completed),
        "fanout_wall_s": round(wall, 3),
        "ratio_to_ideal": round(wall / MODEL_TIME_S, 2),
        "agents_per_s": round(len(completed) / wall, 1),
        "events": len(events),
        "events_per_s": round(len(events) / (max(e.ts for e in events) - events[0].ts), 1),
        "covenant_wall_s": round(total_s, 3),
        # where the rest of submit -> result goes: before the first sub-agent reports,
        # and from the last one to the result (the synthesis: one more ~1 s call)
        "before_fanout_s": round(min(spawned) - t0, 3),
        "after_fanout_s": round(
            next(e.ts for e in events if e.type is EventType.RESULT) - max(e.ts for e in completed),
            3,
        ),
    }


async def many_covenants(client: HarpoonClient, covenants: int, users: int) -> dict:
    async def one(i: int) -> tuple[float, str, str]:
        t0 = time.perf_counter()
        cov = await client.submit(
            f"bench-user-{i % users}", QueryRequest(query=f"Q{i}: define entropy.", pattern="smart")
        )
        done = await client.wait(cov.id, timeout_s=600)
        return time.perf_counter() - t0, cov.id, done.status.value

    async def model_time(covenant_id: str) -> float:
        events = await client.events(covenant_id, limit=1000)
        return sum(e.payload.get("latency_s", 0.0) for e in events if e.type is EventType.ACTION)

    print("[bench] covenants: start", file=sys.stderr, flush=True)  # for a profiler
    with CpuMeter() as cpu:
        t0 = time.perf_counter()
        ran = await asyncio.gather(*(one(i) for i in range(covenants)))
        wall = time.perf_counter() - t0
    # read after the clock stops: the benchmark's own reads must not load the shards
    # while the covenants it measures run
    models = await asyncio.gather(*(model_time(cid) for _, cid, _ in ran))
    got = [(lat, m, s) for (lat, _, s), m in zip(ran, models, strict=True)]
    # against the simulated model time itself (one ~1 s call each): the measured call
    # latency includes waiting for the loop and the log under load, and would flatter it
    ratios = sorted(lat / MODEL_TIME_S for lat, _, _ in got)
    lats = sorted(lat for lat, _, _ in got)

    def pct(xs: list[float], p: float) -> float:
        return xs[min(len(xs) - 1, int(p * len(xs)))]

    return {
        "covenants": covenants,
        "users": users,
        "completed": sum(1 for *_, s in got if s == "completed"),
        "without_model_time": sum(1 for _, m, _ in got if m <= 0),
        "wall_s": round(wall, 2),
        "latency_p50_s": round(pct(lats, 0.50), 3),
        "latency_p99_s": round(pct(lats, 0.99), 3),
        "model_time_s_mean": round(statistics.mean(m for _, m, _ in got), 3),
        "ratio_p50": round(pct(ratios, 0.50), 2),
        "ratio_p99": round(pct(ratios, 0.99), 2),
        "cpu_ms_per_covenant": {
            k: round(1000 * v / covenants, 2) for k, v in sorted(cpu.by_kind.items())
        },
        "cpu_ms_per_covenant_total": round(1000 * sum(cpu.by_kind.values()) / covenants, 2),
    }


async def run(quick: bool, workdir: Path, only: str | None = None) -> dict:
    settings = Settings(
        data_dir=workdir / "data",
        namespace="harpoon-bench",
        catalog_path=one_second_catalog(workdir / "catalog.toml"),
        simulated_speed=1.0,
        force_simulated=True,
        mediator_shards=2,
        orchestrator_shards=2,
    )
    client = HarpoonClient(settings)
    await client.ready()
    await fan_out(client, 64)  # warm-up: worker processes, imports
    agents = 1_000 if quick else 10_000
    covenants, users = (100, 20) if quick else (1_000, 100)
    out: dict = {}
    if only in (None, "a"):
        with MemorySampler() as mem_a:
            out["fan_out"] = await fan_out(client, agents)
        out["fan_out"]["peak_ray_rss_gib"] = round(mem_a.peak / 2**30, 2)
    if only in (None, "b"):
        with MemorySampler() as mem_b:
            out["covenants"] = await many_covenants(client, covenants, users)
        out["covenants"]["peak_ray_rss_gib"] = round(mem_b.peak / 2**30, 2)
    return out


def _cpu(b: dict) -> str:
    cpu = b.get("cpu_ms_per_covenant")
    if not cpu:
        return ""
    parts = " / ".join(str(cpu.get(k, 0)) for k in ("driver", "mediator", "orchestrator"))
    return f"{b['cpu_ms_per_covenant_total']} ms ({parts})"


def write_readme(res: dict) -> None:
    a, b = res["fan_out"], res["covenants"]
    quick = " (--quick)" if res["quick"] else ""
    intro = (
        f"{res['cpus']} cores, Python {res['python']}, {res['date']}{quick}. Simulated "
        f"provider with every model's call at ~{MODEL_TIME_S:g} s (catalog override), one "
        "local Ray started by the benchmark, 2 mediator + 2 orchestrator shards. Memory is "
        "the peak summed RSS of every Ray process (shared pages counted once per process, "
        "so an upper bound). Run: `python benchmarks/bench_agents.py [--quick]`."
    )
    load = (
        f"1-minute load average at the end of the run: {res.get('load_avg_1m', '?')} on "
        f"{res['cpus']} cores: the machine is shared with other test runs, so wall times "
        "swing from run to run."
    )
    before = res.get("before") or {}
    ba, bb = before.get("fan_out", {}), before.get("covenants", {})

    def row(label: str, now: str, was: str, target: str = "") -> str:
        return f"| {label} | {now} | {was} | {target} |"

    def v(block: dict, key: str, unit: str = "") -> str:
        return f"{block[key]}{unit}" if key in block else ""

    head = "| {} | value | before | target |\n| --- | ---: | ---: | ---: |"
    rows_a = [
        row(
            "sub-agents",
            f"{a['agents']} ({a['completed_agents']} completed, {a['status']})",
            v(ba, "agents"),
            "10,000",
        ),
        row(
            "fan-out wall time (first spawned → last completed)",
            v(a, "fanout_wall_s", " s"),
            v(ba, "fanout_wall_s", " s"),
            "≤ 3 s",
        ),
        row(
            f"ratio to the ideal {MODEL_TIME_S:g} s",
            v(a, "ratio_to_ideal", "x"),
            v(ba, "ratio_to_ideal", "x"),
        ),
        row("sub-agents / s", v(a, "agents_per_s"), v(ba, "agents_per_s")),
        row(
            "events stored (per s)",
            f"{a['events']} ({a['events_per_s']}/s)",
            v(ba, "events_per_s", "/s"),
        ),
        row(
            "whole covenant (submit → result, incl. synthesis)",
            v(a, "covenant_wall_s", " s"),
            v(ba, "covenant_wall_s", " s"),
        ),
        row(
            "of which: submit → first sub-agent reported",
            v(a, "before_fanout_s", " s"),
            v(ba, "before_fanout_s", " s"),
        ),
        row(
            "of which: last sub-agent → result (synthesis)",
            v(a, "after_fanout_s", " s"),
            v(ba, "after_fanout_s", " s"),
        ),
        row(
            "peak memory, all Ray processes",
            v(a, "peak_ray_rss_gib", " GiB"),
            v(ba, "peak_ray_rss_gib", " GiB"),
            "≤ 4 GiB",
        ),
    ]
    rows_b = [
        row("covenants / users", f"{b['covenants']} / {b['users']}", "", "1,000 / 100"),
        row("completed", v(b, "completed"), v(bb, "completed"), "all"),
        row(
            "latency p50 / p99",
            f"{b['latency_p50_s']} s / {b['latency_p99_s']} s",
            f"{v(bb, 'latency_p50_s', ' s')} / {v(bb, 'latency_p99_s', ' s')}",
        ),
        row(
            "latency / model time p50 / p99",
            f"{b['ratio_p50']}x / {b['ratio_p99']}x",
            f"{v(bb, 'ratio_p50', 'x')} / {v(bb, 'ratio_p99', 'x')}",
            "p99 ≤ 3x",
        ),
        row(
            "mean measured call latency (queueing included)",
            v(b, "model_time_s_mean", " s"),
            v(bb, "model_time_s_mean", " s"),
        ),
        row("wall time for all", v(b, "wall_s", " s"), v(bb, "wall_s", " s")),
        row(
            "CPU per covenant: driver / mediators / orchestrators / all",
            _cpu(b),
            _cpu(bb),
        ),
        row(
            "peak memory, all Ray processes",
            v(b, "peak_ray_rss_gib", " GiB"),
            v(bb, "peak_ray_rss_gib", " GiB"),
        ),
    ]
    second = res.get("second_run")
    again = ""
    if second:
        sa, sb = second["fan_out"], second["covenants"]
        again = (
            f"Second run, same build, back to back (load {second.get('load_avg_1m', '?')}): "
            f"fan-out {sa['fanout_wall_s']} s, submit → result {sa['covenant_wall_s']} s, "
            f"{sa['peak_ray_rss_gib']} GiB; covenants p50 / p99 {sb['ratio_p50']}x / "
            f"{sb['ratio_p99']}x, all {sb['completed']} completed."
        )
    nl = "\n"
    table = f"""{START}
## Agents on Ray (`bench_agents.py`)

{intro}

{head.format("(a) one orchestration")}
{nl.join(rows_a)}

{head.format("(b) concurrent covenants")}
{nl.join(rows_b)}

{load} {before.get("note", "")}

{again}

{LIMITS}
{END}"""
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + table + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + table + "\n"
    README.write_text(text)


def one_run(quick: bool, only: str | None = None) -> dict:
    """Both measurements on a fresh local Ray, and what the machine was doing."""
    cpus = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="harpoon-bench-") as tmp:
        from harpoon_ray.local_ray import init_local_ray  # loopback, as every Harpoon start

        init_local_ray(
            num_cpus=cpus, include_dashboard=False, log_to_driver=False, namespace="harpoon"
        )
        try:
            res = asyncio.run(run(quick, Path(tmp), only))
        finally:
            ray.shutdown()
    res.update(
        quick=quick,
        cpus=cpus,
        python=platform.python_version(),
        date=str(date.today()),
        load_avg_1m=round(os.getloadavg()[0], 1),
    )
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 agents; 100 covenants")
    parser.add_argument(
        "--before", type=Path, help="an earlier results JSON to show alongside (its `note`)"
    )
    parser.add_argument(
        "--twice", action="store_true", help="run it all twice (each its own Ray), report both"
    )
    parser.add_argument(
        "--only",
        choices=("a", "b"),
        help="run one measurement and print it; results and README are left alone",
    )
    args = parser.parse_args()
    before = json.loads(args.before.read_text()) if args.before else None
    runs = [one_run(args.quick, args.only) for _ in range(2 if args.twice else 1)]
    if args.only:
        print(json.dumps(runs, indent=2))
        return
    res = runs[0]
    if len(runs) > 1:
        res["second_run"] = runs[1]
    if before is not None:
        res["before"] = {k: before[k] for k in ("note", "fan_out", "covenants", "load_avg_1m")}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=2) + "\n")
    write_readme(res)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
