"""Router speed: complexity analysis time per prompt, and routing decisions per second.

    python benchmarks/bench_router.py [--quick]

Pure CPU, one process, no network. Prompts are the labelled set of the routing tests
plus generated long ones, so the figures cover chat-sized and document-sized prompts.
Each analysis is timed on its own (perf_counter_ns); "warm" is the steady state of a
running router (the lexicon's word cache filled), "cold" clears that cache before every
call. A decision is `analyse` + `select` against the shipped catalog, as `Router.decide`
does per request. `Router.complete` is timed twice: over instant scripted providers (the
router alone) and over the real `ProviderPool` with every model simulated at ~zero latency
(router + simulated provider, as a sub-agent's call runs), one call at a time and 10,000
at once on one loop. `--baseline` stores that last measurement as the "before" figures the
README compares against. Results go to benchmarks/results/router.json and to this
script's section of benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import sys
import time
import tomllib
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harpoon_ray.catalog import load_catalog  # noqa: E402
from harpoon_ray.providers.registry import ProviderPool  # noqa: E402
from harpoon_ray.routing import Router, analyse, lexicon, select  # noqa: E402
from harpoon_ray.schemas import Constraints, Message, ModelRequest  # noqa: E402
from harpoon_ray.settings import Settings  # noqa: E402
from harpoon_ray.testing.scripted import ScriptedPool  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "router.json"
README = ROOT / "benchmarks" / "README.md"
START, END = "<!-- bench_router:start -->", "<!-- bench_router:end -->"
HEADING = "## Router (`bench_router.py`)"


def load_prompts() -> dict[str, list[str]]:
    """Prompts by size class: the labelled set (chat-sized) and generated long ones."""
    data = tomllib.loads((ROOT / "tests" / "routing" / "prompts.toml").read_text())
    chat = [p["text"] for p in data["prompts"]]
    long = [" ".join(chat[i : i + 12]) for i in range(0, len(chat), 12)]  # ~150-400 words
    document = ["\n\n".join(chat) * 3]  # past the analyser's scan window
    return {"chat": chat, "long": long, "document": document}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def time_analysis(prompts: list[str], rounds: int, cold: bool) -> dict[str, float]:
    """Wall time and this thread's CPU time per call: on a shared machine the wall p99
    includes time other processes held the CPU, the CPU figures do not."""
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(rounds):
        for text in prompts:
            if cold:
                lexicon.classify.cache_clear()
            c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
            analyse(text)
            wall.append((time.perf_counter_ns() - t0) / 1_000)
            cpu.append((time.thread_time_ns() - c0) / 1_000)
    return {
        "n": len(wall),
        "p50_us": round(percentile(wall, 0.50), 1),
        "p99_us": round(percentile(wall, 0.99), 1),
        "mean_us": round(statistics.fmean(wall), 1),
        "cpu_p50_us": round(percentile(cpu, 0.50), 1),
        "cpu_p99_us": round(percentile(cpu, 0.99), 1),
        "chars_mean": round(statistics.fmean(len(p) for p in prompts)),
    }


def decisions_per_s(prompts: list[str], seconds: float, constraints: Constraints) -> dict:
    catalog = load_catalog()
    requests = [ModelRequest(messages=[Message(role="user", content=p)]) for p in prompts]
    done, deadline = 0, time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        for req in requests:
            select(analyse(req.last_user_text), catalog, constraints, req)
        done += len(requests)
    elapsed = time.perf_counter() - start
    return {"decisions": done, "seconds": round(elapsed, 2), "per_s": round(done / elapsed)}


def completes_per_s(prompts: list[str], seconds: float, concurrency: int) -> dict:
    """Router.complete over instant scripted providers: the router's own cost per call
    (decision, breaker, attempt record, pricing) with no provider time in it."""
    catalog = load_catalog()
    router = Router(catalog, ScriptedPool(), Settings())
    requests = [ModelRequest(messages=[Message(role="user", content=p)]) for p in prompts]

    async def worker(deadline: float) -> int:
        done = 0
        while time.perf_counter() < deadline:
            await router.complete(requests[done % len(requests)])
            done += 1
        return done

    async def run() -> int:
        deadline = time.perf_counter() + seconds
        return sum(await asyncio.gather(*(worker(deadline) for _ in range(concurrency))))

    start = time.perf_counter()
    done = asyncio.run(run())
    elapsed = time.perf_counter() - start
    return {"calls": done, "seconds": round(elapsed, 2), "per_s": round(done / elapsed)}


def simulated_completes(prompts: list[str], calls: int, concurrency: int) -> dict:
    """`calls` sub-agent-shaped requests (a shared system message, a distinct user
    message each) through `Router.complete` over the simulated provider at ~zero latency,
    in waves of `concurrency` on one loop. CPU is this process's, garbage collection
    included: at 10,000 in flight the collector's passes over live tasks are real cost."""
    settings = Settings(simulated_speed=0.0001, force_simulated=True)
    catalog = load_catalog()
    router = Router(catalog, ProviderPool(catalog, settings), settings)
    system = Message(role="system", content="You are a worker sub-agent of a Harpoon task.")
    requests = [
        ModelRequest(
            messages=[
                system,
                Message(role="user", content=f"{prompts[i % len(prompts)]} (part {i + 1})"),
            ],
            purpose="work",
            max_tokens=256,
        )
        for i in range(calls)
    ]

    async def run() -> None:
        for start in range(0, calls, concurrency):
            await asyncio.gather(
                *(router.complete(r) for r in requests[start : start + concurrency])
            )

    gc.collect()
    c0, t0 = time.process_time(), time.perf_counter()
    asyncio.run(run())
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "calls": calls,
        "concurrency": concurrency,
        "seconds": round(wall, 3),
        "per_s": round(calls / wall),
        "cpu_us_per_call": round(cpu / calls * 1e6, 1),
    }


def write_readme(result: dict) -> None:
    a, d = result["analysis"], result["decisions"]
    rows = [
        f"| {name} ({v['chars_mean']} chars avg) | {v['p50_us']} | {v['p99_us']} "
        f"| {v['cpu_p50_us']} | {v['cpu_p99_us']} | {v['n']} |"
        for name, v in a.items()
    ]
    section = "\n".join(
        [
            START,
            HEADING,
            "",
            f"Complexity analysis and routing decisions, one process, no network, "
            f"{result['cpus']} cores, Python {result['python']}, {result['date']}. "
            f"Run: `python benchmarks/bench_router.py{' --quick' if result['quick'] else ''}`. "
            "Warm = a running router (word cache filled); cold = cache cleared before each "
            "call; long documents are scanned up to the analyser's window (3,000 chars). "
            "Wall p99 on a shared machine includes other processes' turns on the CPU; the "
            "CPU columns (this thread's CPU time) do not. Per-second rows are wall clock: "
            f"the 1-minute load average was {result['load_avg_1m']} during this run.",
            "",
            "| analysis | wall p50 µs | wall p99 µs | CPU p50 µs | CPU p99 µs | samples |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            *rows,
            "",
            "| decisions (analyse + select, chat prompts) | per second |",
            "| --- | ---: |",
            *(f"| {name} | {v['per_s']:,} |" for name, v in d.items()),
            "",
            "| `Router.complete` over instant scripted providers | calls per second |",
            "| --- | ---: |",
            *(f"| {name} | {v['per_s']:,} |" for name, v in result["complete"].items()),
            "",
            *simulated_rows(result),
            END,
        ]
    )
    README.write_text(replace_section(README.read_text() if README.exists() else "", section))


def simulated_rows(result: dict) -> list[str]:
    """`Router.complete` over the simulated provider, next to the stored baseline."""
    before = result.get("complete_simulated_before") or {}
    after = result["complete_simulated"]
    rows = [
        "| `Router.complete` over the simulated provider (~0 latency) "
        "| calls/s before | calls/s now | CPU µs/call before | CPU µs/call now |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, v in after.items():
        b = before.get(name, {})
        was_per_s = f"{b['per_s']:,}" if b else "n/a"
        was_cpu = b.get("cpu_us_per_call", "n/a")
        rows.append(
            f"| {name} | {was_per_s} | {v['per_s']:,} | {was_cpu} | {v['cpu_us_per_call']} |"
        )
    if before:
        rows += [
            "",
            f"Before: {result.get('baseline_note', 'the stored baseline')}. Calls/s is wall "
            "clock on a shared machine; CPU µs per call is the figure to compare.",
        ]
    return rows


def replace_section(text: str, section: str) -> str:
    """Put `section` where this script's previous one was (dropping any extra copy, marker
    or not, in case an edit lost one), or at the end; other sections stay as they are."""
    at: int | None = None
    while HEADING in text:
        start = text.index(HEADING)
        marker = text.rfind(START, 0, start)
        if marker != -1 and not text[marker + len(START) : start].strip():
            start = marker
        after = text.index(HEADING, start) + len(HEADING)
        end_marker = text.find(END, after)
        next_heading = text.find("\n## ", after)
        if end_marker != -1 and (next_heading == -1 or end_marker < next_heading):
            end = end_marker + len(END)
        else:
            end = len(text) if next_heading == -1 else next_heading
        head, tail = text[:start].rstrip("\n"), text[end:].lstrip("\n")
        text = head + "\n\n" + tail
        at = len(head) if at is None else at
    if at is None:
        return (text.rstrip("\n") or "# Benchmarks") + "\n\n" + section + "\n"
    head, tail = text[:at], text[at:].strip("\n")
    return head + "\n\n" + section + "\n" + ("\n" + tail + "\n" if tail else "")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, ~7 s in all")
    parser.add_argument(
        "--baseline",
        metavar="NOTE",
        help="store this run's simulated Router.complete figures as the 'before' baseline",
    )
    args = parser.parse_args(argv)
    rounds, seconds = (20, 1.0) if args.quick else (200, 3.0)
    prompts = load_prompts()

    analysis = {
        "chat, warm": time_analysis(prompts["chat"], rounds, cold=False),
        "chat, cold": time_analysis(prompts["chat"], max(2, rounds // 10), cold=True),
        "long, warm": time_analysis(prompts["long"], rounds, cold=False),
        "document, warm": time_analysis(prompts["document"], rounds * 2, cold=False),
    }
    decisions = {
        "no constraints": decisions_per_s(prompts["chat"], seconds, Constraints()),
        "cost + latency + quality limits": decisions_per_s(
            prompts["chat"],
            seconds,
            Constraints(max_cost_usd=0.002, max_latency_s=10, min_quality=0.4),
        ),
    }
    complete = {f"concurrency {n}": completes_per_s(prompts["chat"], seconds, n) for n in (1, 64)}
    calls = 2_000 if args.quick else 10_000
    simulated = {
        f"{calls:,} calls, 1 at a time": simulated_completes(prompts["chat"], calls, 1),
        f"{calls:,} calls, all at once": simulated_completes(prompts["chat"], calls, calls),
    }
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    before = previous.get("complete_simulated_before")
    note = previous.get("baseline_note")
    if args.baseline:
        before, note = simulated, args.baseline
    result = {
        "date": date.today().isoformat(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 1),
        "quick": args.quick,
        "analysis": analysis,
        "decisions": decisions,
        "complete": complete,
        "complete_simulated": simulated,
        "complete_simulated_before": before,
        "baseline_note": note,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    write_readme(result)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
