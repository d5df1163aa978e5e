"""The UI where timing matters, against the scripted gateway (tests/ui/scripted_gateway.py):
model calls that never answer until the covenant is stopped, and an answer that streams
at a reader's pace, so nothing here depends on the machine being quick or slow."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import RECORDER, get_json, send_query, wait_running, wait_terminal

pytestmark = [pytest.mark.browser, pytest.mark.serve]

# Every model call hangs until its client goes away: the covenant runs until stopped.
HANG = [{"hang": True}] * 8
# About 240 tokens in 80 stream chunks 20 ms apart: 1.6 s from first token to last.
ANSWER = " ".join(
    f"Sentence {i} of the scripted answer tells how lenses gathered more light." for i in range(20)
)
SLOW_STREAM = [{"text": ANSWER, "chunk_delay_s": 0.02}]


def assert_cancelled_everywhere(page: Any, base_url: str, covenant_id: str) -> None:
    """Card, tree, composer and server all say the covenant was cancelled, nothing runs."""
    snap = page.evaluate("window.harpoon.snapshot()")
    assert snap["id"] == covenant_id
    assert snap["status"] == "cancelled"
    assert page.locator("#covenant-status").inner_text() == "cancelled"
    history = page.get_by_role("list", name="Status history").get_by_role("listitem")
    assert history.all_inner_texts()[-1] == "cancelled"
    assert snap["agents"], "the covenant was stopped before any agent started"
    assert {a["status"] for a in snap["agents"]} == {"cancelled"}
    tree = page.get_by_role("tree")
    assert tree.locator("[role=treeitem][data-status=running]").count() == 0
    assert tree.locator("[role=treeitem][data-status=cancelled]").count() >= 1
    assert page.get_by_role("button", name="Send").is_visible()
    assert not page.get_by_role("button", name="Stop the running covenant").is_visible()
    server = get_json(f"{base_url}/api/covenants/{covenant_id}")
    assert server["covenant"]["status"] == "cancelled"
    stored = {a["agent_id"]: a["status"] for a in server["agents"]}
    assert stored and "running" not in stored.values() and "pending" not in stored.values()
    assert set(stored) == {a["id"] for a in snap["agents"]}


def test_the_stop_button_cancels_the_running_covenant(
    scripted: Any, new_page: Any, shot: Any
) -> None:
    """Stop, pressed while agents wait on model calls, cancels: card, tree and server agree."""
    scripted.script_every_model(HANG)
    page = new_page(scripted.base_url)
    send_query(page, "Compare three message queues for a payments service", pattern="parallel")
    cid = wait_running(page)
    shot(page, "running")
    page.get_by_role("button", name="Stop the running covenant").click()
    wait_terminal(page)
    shot(page, "cancelled")
    assert_cancelled_everywhere(page, scripted.base_url, cid)
    assert "Cancelled." in page.locator("hp-chat article.assistant .body").inner_text()
    assert page.problems == []


def test_the_palette_cancels_the_running_covenant_by_keyboard(scripted: Any, new_page: Any) -> None:
    """Ctrl+K, "cancel", Enter stops a running covenant as the Stop button does."""
    scripted.script_every_model(HANG)
    page = new_page(scripted.base_url)
    send_query(page, "Outline a migration from cron jobs to a queue", pattern="parallel")
    cid = wait_running(page)
    page.keyboard.press("Control+k")
    page.keyboard.type("cancel the running")
    option = page.get_by_role("option").first
    assert "Cancel the running covenant" in option.inner_text()
    page.keyboard.press("Enter")
    wait_terminal(page)
    assert_cancelled_everywhere(page, scripted.base_url, cid)
    assert page.problems == []


def test_tokens_show_before_the_answer_completes(scripted: Any, new_page: Any) -> None:
    """The answer grows on screen token by token while it streams, before it completes."""
    scripted.script_every_model(SLOW_STREAM)
    page = new_page(scripted.base_url)
    page.add_init_script(RECORDER)
    page.reload()
    page.wait_for_function("window.harpoon !== undefined")
    send_query(page, "Write a short note on the history of the telescope", pattern="smart")
    snap = wait_terminal(page)
    assert snap["status"] == "completed"
    final = snap["result"]
    assert final == ANSWER
    samples = page.evaluate("window.__samples")
    partial = [s["answer"] for s in samples if s["streaming"] and 0 < len(s["answer"]) < len(final)]
    assert partial, "no part of the answer was painted before it completed"
    assert all(final.startswith(text) for text in partial)
    assert len(set(partial)) >= 3, "the answer appeared in fewer than three steps"
    lengths = [len(text) for text in partial]
    assert lengths == sorted(lengths), "the painted answer only grows"
    assert page.problems == []
