"""Web UI benchmark: paint and interactivity of `/`, static asset size, and the longest
frame while a 10,000-agent orchestration streams into the tree.

Starts its own local Ray and the Serve app on a free loopback port (or uses `--url`),
drives Debian's Chromium headless, writes `benchmarks/results/ui.json` and rewrites its
own section of `benchmarks/README.md`, keeping the last full run as `previous` (quick runs
go to `ui_quick.json` and leave both alone). Bounded: a fixed number of page loads and one
orchestration under a deadline; everything it starts it stops.

    python benchmarks/bench_ui.py [--quick] [--agents N] [--url http://127.0.0.1:8000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import urllib.request
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from harpoon_ray.ports import free_loopback_port
from harpoon_ray.testing.browser import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[1]
UI_DIR = ROOT / "ui"
RESULTS = ROOT / "benchmarks" / "results" / "ui.json"
QUICK_RESULTS = RESULTS.with_name("ui_quick.json")
README = ROOT / "benchmarks" / "README.md"
START, END = "<!-- bench_ui:start -->", "<!-- bench_ui:end -->"
TARGET_FCP_MS, TARGET_TTI_MS = 300, 600
LONG_FRAME_MS = 50

# Time to interactive: the app's ready mark, or the end of the last long task, if later.
LOAD_PROBE = """
new Promise((resolve) => {
  const done = () => {
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    const ready = performance.getEntriesByName('harpoon:ready')[0];
    const longEnd = (window.__longTasks || []).reduce((m, t) => Math.max(m, t), 0);
    resolve({ fcp: fcp ? fcp.startTime : null, ready: ready ? ready.startTime : null,
              tti: Math.max(ready ? ready.startTime : 0, longEnd),
              dcl: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd });
  };
  setTimeout(done, 400);
})
"""
LONGTASKS = """
window.__longTasks = [];
window.__longTaskMs = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    window.__longTasks.push(e.startTime + e.duration);
    window.__longTaskMs.push(e.duration);
  }
}).observe({ type: 'longtask', buffered: true });
"""
# Frame times while the covenant streams in, with the tree scrolled now and then.
FRAME_PROBE = """
(timeoutMs) => new Promise((resolve) => {
  const frames = [];
  let last = performance.now();
  const start = last;
  const vp = document.querySelector('hp-agent-tree .viewport');
  let scrolls = 0;
  const tick = (now) => {
    frames.push(now - last);
    last = now;
    if (frames.length % 10 === 0 && vp) {
      vp.scrollTop = (vp.scrollTop + 700) % Math.max(1, vp.scrollHeight);
      scrolls++;
    }
    const st = window.harpoon.state;
    const cv = st.covenants.get(st.currentId); // not snapshot(): that copies every agent
    const done = cv && ['completed', 'failed', 'cancelled'].includes(cv.status);
    if (done || now - start > timeoutMs) {
      const rows = document.querySelectorAll('hp-agent-tree .row, hp-agent-tree .detail');
      resolve({ frames, seconds: (now - start) / 1000, status: cv && cv.status,
                agents: cv ? cv.counts.total : 0, events: cv ? cv.lastSeq : 0, scrolls,
                domRows: rows.length, longestTaskMs: Math.max(0, ...window.__longTaskMs) });
    } else requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})
"""


def free_port() -> int:
    """A loopback port for a server about to start (below the ephemeral range)."""
    return free_loopback_port()


@contextmanager
def running_app(url: str | None):
    """Yield the app's base URL: the given one, or a Serve app started (and stopped) here."""
    if url:
        yield url.rstrip("/")
        return
    os.environ.setdefault("HARPOON_SIMULATED_SPEED", "0.01")
    import ray
    from ray import serve

    from harpoon_ray.local_ray import init_local_ray  # a fresh Ray, its ports on loopback
    from harpoon_ray.serve import build_app

    env = {k: v for k, v in os.environ.items() if k.startswith("HARPOON_")}
    init_local_ray(
        num_cpus=4,
        include_dashboard=False,
        namespace="harpoon",
        log_to_driver=False,
        runtime_env={"env_vars": env},
    )
    port = free_port()
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build_app({}), name="harpoon", route_prefix="/")
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()


def git_commit() -> str:
    """The commit measured, with `+` when the UI has uncommitted changes."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "ui"], cwd=ROOT).returncode
    return head + ("+" if dirty else "")


def asset_sizes() -> dict[str, Any]:
    files = [p for p in UI_DIR.rglob("*") if p.is_file()]
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files)}


def load_once(browser: Any, url: str) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.add_init_script(LONGTASKS)
    page.goto(url, wait_until="load")
    sample = page.evaluate(LOAD_PROBE)
    context.close()
    return sample


def measure_loads(browser: Any, url: str, runs: int) -> dict[str, Any]:
    """`runs` cold loads (fresh contexts) after one that is not counted: the first request
    after the app starts also pays its replica's and proxy's first-use costs, which no
    visitor of a running gateway meets. It is recorded apart, as `first_load`."""
    first = load_once(browser, url)
    samples = [load_once(browser, url) for _ in range(runs)]
    fcp = [s["fcp"] for s in samples if s["fcp"] is not None]
    tti = [s["tti"] for s in samples]
    return {
        "runs": runs,
        "fcp_ms_median": round(statistics.median(fcp), 1) if fcp else None,
        "fcp_ms_max": round(max(fcp), 1) if fcp else None,
        "tti_ms_median": round(statistics.median(tti), 1),
        "tti_ms_max": round(max(tti), 1),
        "fcp_ms": [round(f, 1) for f in fcp],
        "tti_ms": [round(t, 1) for t in tti],
        "first_load": {"fcp_ms": first["fcp"], "tti_ms": round(first["tti"], 1)},
    }


def start_covenant(url: str, agents: int) -> str:
    body = json.dumps(
        {
            "query": "Survey the trade-offs of columnar storage formats",
            "agents": agents,
            "user_id": "bench-ui",
        }
    ).encode()
    req = urllib.request.Request(
        f"{url}/api/orchestrate/parallel", data=body, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.load(resp)["covenant_id"]


def follow_page(browser: Any, url: str, cid: str, deadline_s: float) -> dict[str, Any]:
    """Open `/#covenant=cid` and time every frame until the covenant ends."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.add_init_script(LONGTASKS)
    page.goto(f"{url}/#covenant={cid}", wait_until="load")
    page.wait_for_function("window.harpoon !== undefined")
    out = page.evaluate(FRAME_PROBE, deadline_s * 1000)
    context.close()
    frames = sorted(out.pop("frames")[1:]) or [0.0]
    longest_task = out.pop("longestTaskMs")
    return {
        **out,
        "frames": len(frames),
        "frame_ms_p50": round(statistics.median(frames), 1),
        "frame_ms_p95": round(frames[max(0, int(len(frames) * 0.95) - 1)], 1),
        "frame_ms_max": round(frames[-1], 1),
        "frames_over_50ms": sum(1 for f in frames if f > LONG_FRAME_MS),
        "longest_task_ms": round(longest_task, 1),
    }


def measure_stream(browser: Any, url: str, agents: int, deadline_s: float) -> dict[str, Any]:
    """Live: the page follows while Ray runs the agents on the same 2 cores. Replay: a
    fresh page catches up on the finished log as fast as the socket delivers it."""
    cid = start_covenant(url, agents)
    live = follow_page(browser, url, cid, deadline_s)
    replay = follow_page(browser, url, cid, deadline_s)
    return {"agents_requested": agents, "covenant_id": cid, "live": live, "replay": replay}


def table_rows(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(measure, value, target) rows; the measure names match between runs."""
    load, stream, assets = result["load"], result["stream"], result["assets"]
    rows = [
        (
            "first contentful paint of `/` (median / max)",
            f"{load['fcp_ms_median']} / {load['fcp_ms_max']} ms",
            f"< {TARGET_FCP_MS} ms",
        ),
        (
            "time to interactive of `/` (median / max)",
            f"{load['tti_ms_median']} / {load['tti_ms_max']} ms",
            f"< {TARGET_TTI_MS} ms",
        ),
        (
            "static assets",
            f"{assets['bytes'] / 1024:.1f} KiB in {assets['files']} files",
            "no build",
        ),
    ]
    for mode in ("live", "replay"):
        s = stream[mode]
        rows += [
            (
                f"{mode}, {stream['agents_requested']:,} agents: longest frame / longest task",
                f"{s['frame_ms_max']} / {s['longest_task_ms']} ms",
                "",
            ),
            (
                f"{mode}: frame p50 / p95",
                f"{s['frame_ms_p50']} / {s['frame_ms_p95']} ms",
                "16.7 ms",
            ),
            (
                f"{mode}: frames over {LONG_FRAME_MS} ms",
                f"{s['frames_over_50ms']} of {s['frames']}",
                "",
            ),
            (
                f"{mode}: agents / events shown, status",
                f"{s['agents']:,} / {s['events']:,}, {s['status']} in {s['seconds']:.1f} s",
                "",
            ),
            (f"{mode}: tree rows in the DOM at the end", str(s["domRows"]), "visible only"),
        ]
    return rows


def write_readme(result: dict[str, Any]) -> None:
    previous = result.get("previous")
    before = {name: value for name, value, _ in table_rows(previous)} if previous else {}
    rows = table_rows(result)
    table = "\n".join(
        f"| {name} | {value} | {before.get(name, '')} | {target} |" for name, value, target in rows
    )
    prev_load = (previous or {}).get("load_avg_1m")
    prev_note = (
        f" Previous: the full run of {previous['date']} at commit {previous.get('commit', '?')}"
        f" (1-minute load {prev_load['start'] if prev_load else 'not recorded'})."
        if previous
        else ""
    )
    section = (
        f"{START}\n## Web UI (`bench_ui.py`)\n\n"
        f"Headless Debian Chromium against {result.get('ingress', 'the Serve app')} on "
        f"loopback (simulated provider), "
        f"{result['cores']} cores, {result['date']}, 1-minute load average "
        f"{result['load_avg_1m']['start']} at the start, {result['load_avg_1m']['end']} at "
        f"the end. "
        f"{result['load']['runs']} cold page loads in fresh contexts (after one not counted: "
        f"the app's first request after start-up, kept in ui.json as `first_load`); then one "
        f"`parallel` covenant "
        f"followed by a page while its tree is scrolled every 10 frames: *live* while Ray runs "
        f"the agents on the same cores (frame gaps include CPU taken by Ray; the longest task "
        f"is the page's own work), then *replay*: a fresh page catching up on the finished "
        f"log. Run: "
        f"`python benchmarks/bench_ui.py [--quick]`.{prev_note}\n\n"
        f"| measure | value | previous | target |\n| --- | ---: | ---: | ---: |\n"
        f"{table}\n{END}"
    )
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    README.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 agents, 3 page loads")
    parser.add_argument("--agents", type=int, default=None)
    parser.add_argument("--loads", type=int, default=None)
    parser.add_argument("--url", default=None, help="use an app already running here")
    parser.add_argument(
        "--ingress",
        default=None,
        help='what --url is, for the record (e.g. "`harpoon run` (HAProxy ingress)")',
    )
    parser.add_argument("--deadline-s", type=float, default=240.0)
    args = parser.parse_args()
    agents = args.agents or (1000 if args.quick else 10_000)
    loads = args.loads or (3 if args.quick else 11)
    from playwright.sync_api import sync_playwright

    load_start = round(os.getloadavg()[0], 2)

    with running_app(args.url) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            load = measure_loads(browser, url, loads)
            print("load", load, flush=True)
            stream = measure_stream(browser, url, agents, args.deadline_s)
            print("stream", stream, flush=True)
        finally:
            browser.close()
    result = {
        "date": date.today().isoformat(),
        "cores": os.cpu_count(),
        "quick": args.quick,
        "python": platform.python_version(),
        "commit": git_commit(),
        "ingress": args.ingress
        or ("the app at " + args.url if args.url else "bench_ui's own app (Serve's proxy)"),
        "load_avg_1m": {"start": load_start, "end": round(os.getloadavg()[0], 2)},
        "assets": asset_sizes(),
        "load": load,
        "stream": stream,
        "targets": {"fcp_ms": TARGET_FCP_MS, "tti_ms": TARGET_TTI_MS},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if args.quick:
        QUICK_RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    else:
        if RESULTS.exists():
            last = json.loads(RESULTS.read_text())
            last.pop("previous", None)
            result["previous"] = last
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        write_readme(result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
