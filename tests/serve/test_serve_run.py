"""`serve run serve_config.yaml`, Ray's own way to start the app, works as shipped."""

from __future__ import annotations

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
import pytest
import yaml
from websockets.asyncio.client import connect

from harpoon_ray.serve.launcher import haproxy_tuning, ingress_env
from tests.conftest import free_loopback_port

pytestmark = pytest.mark.serve

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 150


def test_serve_run_with_the_shipped_config_answers_health() -> None:
    """The repository's serve_config.yaml, run by the `serve` CLI in its own Ray instance
    (own temp dir, own port) with the HAProxy ingress its comments prescribe, serves
    /api/health, /v1/models and a covenant's events over a WebSocket that negotiated
    deflate (prepared frames through HAProxy), in the log's order; Ctrl-C stops it."""
    config = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    port = free_loopback_port()
    config["http_options"]["port"] = port
    work = Path(tempfile.mkdtemp(prefix="hsr", dir="/tmp"))  # short: Ray's socket paths
    (work / "serve_config.yaml").write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "RAY_TMPDIR": str(work),  # its own ray_current_cluster: nobody attaches to it
        "HARPOON_DATA_DIR": str(work / "data"),
        "HARPOON_SIMULATED_SPEED": "0.01",
        **ingress_env("haproxy"),
        **haproxy_tuning(),
    }
    env.pop("RAY_ADDRESS", None)
    serve_cli = Path(sys.executable).with_name("serve")
    proc = subprocess.Popen(
        [str(serve_cli), "run", "--address", "local", str(work / "serve_config.yaml")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        health = _wait_for(f"http://127.0.0.1:{port}/api/health", proc)
        assert health["ray"]["initialized"] is True
        assert health["routing"]["ok"] is True
        models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=30).json()
        assert any(m["id"] == "harpoon/auto" for m in models["data"])
        extensions, seqs, log = asyncio.run(_follow_a_covenant(port))
        assert extensions == ["permessage-deflate"]
        assert seqs == log and len(log) > 20
    finally:
        _stop(proc)
    assert proc.returncode is not None


async def _follow_a_covenant(port: int) -> tuple[list[str], list[int], list[int]]:
    """Start a small covenant, follow it from seq 0 with a browser-like client; the seqs
    received, and the log's."""
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        r = await http.post("/api/orchestrate/parallel", json={"query": "Tea.", "agents": 6})
        cid = r.json()["covenant_id"]
        url = f"ws://127.0.0.1:{port}/api/agents/orchestrator/{cid}/ws?after=0"
        seqs: list[int] = []
        async with connect(url, compression="deflate", open_timeout=30, max_size=None) as ws:
            extensions = [e.name for e in ws.protocol.extensions]
            async with asyncio.timeout(60):
                async for raw in ws:
                    frame = json.loads(raw)
                    events = frame if isinstance(frame, list) else [frame]
                    seqs += [e["seq"] for e in events if "seq" in e]
                    if frame.__class__ is dict and frame.get("type") == "end":
                        break
        events = (await http.get(f"/api/covenants/{cid}/events")).json()["events"]
        return extensions, seqs, [e["seq"] for e in events]


def _wait_for(url: str, proc: subprocess.Popen) -> dict:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"serve run exited early with {proc.returncode}"
        try:
            r = httpx.get(url, timeout=5)
            if r.status_code == 200:
                return r.json()
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"{url} did not answer within {START_TIMEOUT_S}s")


def _stop(proc: subprocess.Popen) -> None:
    """Ctrl-C first (serve run then shuts Serve and its Ray down), then its group by PID."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # any Ray process it left in its group
