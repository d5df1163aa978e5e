"""How the UI reads, measured rather than eyeballed: text contrast in both themes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .contrast import assert_readable
from .helpers import send_query, wait_running, wait_terminal

pytestmark = [pytest.mark.browser, pytest.mark.serve]


def show_a_finished_covenant(page: Any) -> None:
    """Run a small workers covenant to the end and open one agent's details."""
    send_query(page, "Explain how consistent hashing spreads keys", pattern="workers")
    snap = wait_terminal(page)
    agent = next(a for a in snap["agents"] if a["status"] == "completed")
    page.evaluate(f"window.harpoon.expand({json.dumps(agent['id'])})")
    page.get_by_role("treeitem", name=f"Details of {agent['title'] or agent['id']}").wait_for()


def assert_readable_throughout(page: Any, shot: Any, theme: str) -> None:
    """Empty page, a finished covenant with an agent open, then the palette over it."""
    assert_readable(page)
    show_a_finished_covenant(page)
    shot(page, f"{theme}-completed")
    assert_readable(page)
    page.keyboard.press("Control+k")
    page.keyboard.type("pattern")
    shot(page, f"{theme}-palette")
    assert_readable(page)
    page.keyboard.press("Escape")
    assert page.problems == []


def test_every_text_meets_aa_contrast_in_the_light_theme(page: Any, shot: Any) -> None:
    """Chat, metadata badges, card, tree, details and palette reach WCAG AA in light."""
    assert_readable_throughout(page, shot, "light")


def test_every_text_meets_aa_contrast_in_the_dark_theme(
    new_page: Any, app_url: str, shot: Any
) -> None:
    """The same states under the system's dark setting reach WCAG AA contrast too."""
    assert_readable_throughout(new_page(app_url, color_scheme="dark"), shot, "dark")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_running_and_cancelled_states_meet_aa_contrast(
    scheme: str, scripted: Any, new_page: Any, shot: Any
) -> None:
    """While agents run (active badge, live socket, Stop) and once stopped, text reaches AA."""
    scripted.script_every_model([{"hang": True}] * 4)
    page = new_page(scripted.base_url, color_scheme=scheme)
    send_query(page, "Compare three message queues for a payments service", pattern="parallel")
    wait_running(page)
    shot(page, f"{scheme}-running")
    assert_readable(page)
    page.get_by_role("button", name="Stop the running covenant").click()
    wait_terminal(page)
    shot(page, f"{scheme}-cancelled")
    assert_readable(page)
    assert page.problems == []


BARS_FULL = """() => [...document.querySelectorAll('hp-agent-tree .bar')].every((bar) => {
  const track = bar.getBoundingClientRect().width;
  return track > 0 && Math.abs(bar.firstElementChild.getBoundingClientRect().width - track) < 1;
})"""


def test_a_completed_covenant_draws_every_bar_full(page: Any, shot: Any) -> None:
    """After completion the overall bar and each agent's bar are drawn full, not mid-way."""
    show_a_finished_covenant(page)
    bars = page.locator("hp-agent-tree .bar")
    assert bars.count() >= 4  # overall, mediator, orchestrator, agents
    # Bars ease to a new width in 0.2 s; two seconds is ten times that.
    page.wait_for_function(BARS_FULL, timeout=2000)
    assert (
        page.get_by_role("progressbar", name="Overall progress").get_attribute("aria-valuenow")
        == "100"
    )
