"""The whole Ray instance restarts on the same data dir: covenants resume from the files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harpoon_ray.schemas import Event, EventType

from .helpers import agent_events, assert_log_whole, script_every_model

pytestmark = pytest.mark.ray

DRIVER = Path(__file__).with_name("restart_driver.py")


def _run(*args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    proc = subprocess.run(
        [sys.executable, str(DRIVER), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=DRIVER.parent,
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT ") :])


def test_a_covenant_resumes_after_the_whole_ray_instance_restarts(server, tmp_path):
    """A covenant cut off by a Ray shutdown completes under a new Ray, reusing finished agents."""
    # The slow agents must still be running when the first driver stops Ray: 3 s was
    # once not enough on a loaded machine (nothing was left to resume).
    script_every_model(server, [{"latency_s": 0.0}] * 4 + [{"latency_s": 8.0}] * 60)
    first = _run("start", str(tmp_path), server.base_url)
    cid = first["covenant_id"]
    before = [Event.model_validate(e) for e in first["events"]]
    second = _run("resume", str(tmp_path), server.base_url, cid)
    assert [cid] in second["resumed"]
    assert second["covenant"]["status"] == "completed", second["covenant"]["error"]
    after = [Event.model_validate(e) for e in second["events"]]
    assert_log_whole(after)
    assert [e.seq for e in after[: len(before)]] == [e.seq for e in before]
    done_before = {e.agent_id for e in agent_events(before, EventType.COMPLETED)}
    in_flight = {e.agent_id for e in agent_events(before, EventType.AGENT_SPAWNED)} - done_before
    acted = {e.agent_id for e in agent_events(after, EventType.ACTION)}
    assert sum(server.calls().values()) == len(acted) + len(in_flight)
