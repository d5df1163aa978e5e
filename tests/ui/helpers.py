"""Helpers the UI tests share: gateway reads over loopback and page actions."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from typing import Any

# Samples, once per frame, of what the card and the tree show (installed before load).
RECORDER = """
window.__samples = [];
const sample = () => {
  const status = document.querySelector('#covenant-status');
  const snap = window.harpoon && window.harpoon.snapshot();
  const answer = document.querySelector('hp-chat article.assistant:last-of-type');
  window.__samples.push({
    status: status ? status.textContent : null,
    agents: snap ? snap.agents.length : 0,
    answer: answer ? answer.querySelector('.body').textContent : '',
    streaming: answer ? answer.dataset.streaming === 'true' : false,
  });
  requestAnimationFrame(sample);
};
requestAnimationFrame(sample);
"""


def get_json(url: str) -> Any:
    """GET a JSON document from the gateway (loopback only)."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


def post_json(url: str, body: dict[str, Any]) -> Any:
    """POST JSON to the gateway and decode the answer."""
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def wait_terminal(page: Any, timeout_s: float = 60) -> dict[str, Any]:
    """Wait until the page's current covenant ends and its stream closes; its snapshot."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "() => { const s = window.harpoon.snapshot();"
            " return s && ['completed', 'failed', 'cancelled'].includes(s.status)"
            " && window.harpoon.streams.get(s.id).state === 'closed'; }",
            timeout=timeout_s * 1000,
        )
    except PlaywrightTimeout:
        state = page.evaluate(
            "(() => { const s = window.harpoon.snapshot(); if (!s) return null;"
            " const st = window.harpoon.streams.get(s.id);"
            " return {status: s.status, lastSeq: s.lastSeq, agents: s.agents.length,"
            " history: s.history, stream: st && st.state, connects: st && st.connects}; })()"
        )
        raise AssertionError(f"covenant did not end within {timeout_s}s: {state}") from None
    return page.evaluate("window.harpoon.snapshot()")


def wait_running(page: Any, timeout_s: float = 30) -> str:
    """Wait until the page's covenant is active with an agent at work; the covenant's id."""
    handle = page.wait_for_function(
        "() => { const s = window.harpoon.snapshot();"
        " return s && s.status === 'active' && s.agents.some((a) => a.status === 'running')"
        " && s.id; }",
        timeout=timeout_s * 1000,
    )
    return handle.json_value()


def send_query(page: Any, text: str, pattern: str | None = None) -> None:
    """Type `text` in the composer and send it, with `pattern` chosen by the palette."""
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    if pattern is None:
        box.press("Enter")
        return
    page.keyboard.press("Control+k")
    page.get_by_role("combobox", name="Search commands").fill(f"pattern {pattern}")
    page.keyboard.press("Enter")


def all_events(app_url: str, covenant_id: str) -> list[dict[str, Any]]:
    """Every stored event of a covenant, read through the REST log endpoint."""
    out: list[dict[str, Any]] = []
    after = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        data = get_json(f"{app_url}/api/covenants/{covenant_id}/events?after={after}")
        batch = data["events"] if isinstance(data, dict) else data
        if not batch:
            return out
        out.extend(batch)
        after = batch[-1]["seq"]
    return out


def tree_row_id(agent_id: str) -> str:
    """The DOM id the tree gives an agent's row (tree-rows.js `domId`)."""
    return "tree-" + re.sub(r"[^\w-]", "_", f"n:{agent_id}")
