"""The web UI against the running app: real Ray, the Serve gateway, the simulated
provider, driven in headless Chromium. Each test is one "Must show" behaviour."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import expect

from harpoon_ray.catalog import default_catalog
from harpoon_ray.testing.cutting_proxy import cutting_proxy

from .helpers import RECORDER, all_events, get_json, send_query, tree_row_id, wait_terminal

pytestmark = [pytest.mark.browser, pytest.mark.serve]

XSS = "<img src=x onerror=alert(1)>"

PLAN_TITLES = ["Storage engines", "Query speed", "Running costs"]
PLAN = json.dumps(
    {
        "steps": [
            {"id": f"s{i}", "title": t, "instruction": f"Compare the databases on {t.lower()}."}
            for i, t in enumerate(PLAN_TITLES, 1)
        ]
    }
)


def paced_workers(latency_s: float = 0.3) -> list[dict[str, Any]]:
    """Test-server steps for a workers covenant that takes its time: every call waits
    `latency_s`, and the first call of each model (the planner's is a first) gets a plan,
    so the planner, three workers and the synthesis arrive in visible waves."""
    return [{"text": PLAN, "latency_s": latency_s}] + [{"latency_s": latency_s}] * 12


def test_ctrl_k_opens_the_palette_and_runs_a_command_by_keyboard_alone(
    page: Any, shot: Any
) -> None:
    """Ctrl+K opens a labelled dialog; typing, arrows and Enter run "Show models"; Esc closes."""
    shot(page, "empty")
    page.keyboard.press("Control+k")
    palette = page.get_by_role("dialog", name="Command palette")
    assert palette.is_visible()
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Search commands"
    page.keyboard.type("show mod")
    options = page.get_by_role("option")
    assert options.first.get_attribute("aria-selected") == "true"
    assert "Show models" in options.first.inner_text()
    shot(page, "palette")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    models = page.get_by_role("dialog", name="Models")
    expected = default_catalog().models[0].id
    models.get_by_text(expected, exact=True).wait_for()
    assert not palette.is_visible()
    shot(page, "models")
    page.keyboard.press("Escape")
    assert not models.is_visible()


def test_palette_toggles_the_theme_by_keyboard(page: Any) -> None:
    """The "toggle theme" command flips light to dark and the page's colours follow."""
    light_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.keyboard.press("Control+k")
    page.keyboard.type("toggle theme")
    page.keyboard.press("Enter")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != light_bg


def test_dark_system_setting_gives_the_dark_theme(new_page: Any, app_url: str, shot: Any) -> None:
    """With the system in dark mode and no choice made, the page is dark."""
    dark = new_page(app_url, color_scheme="dark")
    rgb = dark.evaluate("getComputedStyle(document.body).backgroundColor")
    channels = [int(c) for c in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
    assert max(channels) < 80, rgb
    shot(dark, "dark-empty")


def test_a_query_moves_the_card_through_its_states_while_the_tree_fills(
    scripted: Any, new_page: Any, shot: Any
) -> None:
    """draft → active → completed on the card, agents appearing in the tree while active."""
    scripted.script_every_model(paced_workers())
    page = new_page(scripted.base_url)
    page.add_init_script(RECORDER)
    page.reload()
    page.wait_for_function("window.harpoon !== undefined")
    send_query(page, "Compare three databases for analytics workloads", pattern="workers")
    page.get_by_role("tree").get_by_role("treeitem").nth(2).wait_for()
    snap = wait_terminal(page)
    shot(page, "completed")
    assert snap["status"] == "completed"
    timeline = page.get_by_role("list", name="Status history").get_by_role("listitem")
    assert timeline.all_inner_texts() == ["draft", "active", "completed"]
    server = get_json(f"{scripted.base_url}/api/covenants/{snap['id']}")
    server_agents = server.get("agents") or []
    assert len(snap["agents"]) == len(server_agents) == len(PLAN_TITLES) + 2
    samples = page.evaluate("window.__samples")
    counts = [s["agents"] for s in samples]
    assert counts == sorted(counts), "the tree only grows"
    growing = {s["agents"] for s in samples if s["status"] == "active"}
    assert {1, len(PLAN_TITLES) + 1} <= growing, sorted(growing)


def test_expanding_an_agent_shows_its_thoughts_actions_and_output(
    page: Any, app_url: str, shot: Any
) -> None:
    """Keyboard into the tree, ArrowRight on an agent: its thoughts, model calls and output."""
    send_query(page, "Explain how consistent hashing spreads keys", pattern="parallel")
    snap = wait_terminal(page)
    agent = next(a for a in snap["agents"] if a["status"] == "completed")
    tree = page.get_by_role("tree")
    tree.focus()
    row = tree.locator(f"[data-key='n:{agent['id']}']")
    for _ in range(len(snap["agents"]) * 2 + 3):
        if tree.get_attribute("aria-activedescendant") == tree_row_id(agent["id"]):
            break
        page.keyboard.press("ArrowDown")
    assert row.get_attribute("aria-expanded") == "false"
    page.keyboard.press("ArrowRight")
    assert row.get_attribute("aria-expanded") == "true"
    detail = tree.get_by_role("treeitem", name=f"Details of {agent['title'] or agent['id']}")
    detail.wait_for()
    shot(page, "agent-detail")
    server = get_json(f"{app_url}/api/covenants/{snap['id']}")
    stored = next(a for a in server["agents"] if a["agent_id"] == agent["id"])
    text = detail.inner_text()
    for thought in stored["thoughts"]:
        assert thought in text
    assert stored["model"] in text
    assert "tokens" in text
    assert stored["output"][:60] in text
    page.keyboard.press("ArrowLeft")
    assert row.get_attribute("aria-expanded") == "false"


def test_the_sidebar_resizes_by_drag_and_keeps_its_width_after_reload(page: Any, shot: Any) -> None:
    """Dragging the handle left widens the sidebar; the width survives a reload; 800 px max."""
    sidebar = page.locator("hp-sidebar")
    handle = page.get_by_role("separator", name="Resize sidebar")
    before = sidebar.bounding_box()["width"]
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + 200
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 60, y, steps=4)
    page.mouse.move(x - 150, y, steps=4)
    page.mouse.up()
    widened = sidebar.bounding_box()["width"]
    assert widened == pytest.approx(before + 150, abs=2)
    page.reload()
    page.wait_for_function("window.harpoon !== undefined")
    assert sidebar.bounding_box()["width"] == pytest.approx(widened, abs=2)
    shot(page, "wide-sidebar")
    box = handle.bounding_box()
    page.mouse.move(box["x"] + 4, y)
    page.mouse.down()
    page.mouse.move(5, y, steps=5)
    page.mouse.up()
    assert sidebar.bounding_box()["width"] == pytest.approx(800, abs=2)


def test_a_websocket_closed_by_the_server_mid_run_ends_with_the_same_tree(
    scripted: Any, new_page: Any, shot: Any
) -> None:
    """A client whose socket is closed mid-run resumes after its last seq: same tree, same log."""
    scripted.script_every_model(paced_workers())
    app_url = scripted.base_url
    # Two frames in, the planner is still thinking: the cut is mid-run however the server
    # groups events into frames (a client cut after the end would not reconnect).
    with cutting_proxy(app_url, cut_after_frames=2) as proxy:
        dropped = new_page(proxy.base_url)
        send_query(dropped, "Design a rollout plan for a payments service", pattern="workers")
        cid = dropped.wait_for_function(
            "(window.harpoon.state.currentId || '').startsWith('cov_')"
            " && window.harpoon.state.currentId"
        ).json_value()
        steady = new_page(f"{app_url}/#covenant={cid}")
        a = wait_terminal(dropped)
        b = wait_terminal(steady)
        reconnects = dropped.evaluate(f"window.harpoon.streams.get('{cid}').connects")
        shot(dropped, "after-resume")
    assert proxy.cuts == 1
    assert reconnects >= 2
    log = all_events(app_url, cid)
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    assert a["lastSeq"] == b["lastSeq"] == len(log)
    assert a["applied"] == len(log) and a["gaps"] == 0
    # Only the sender saw the draft (before the covenant existed); the rest is identical.
    assert a.pop("history") == ["draft", *b.pop("history")]
    assert a == b
    assert list(dropped.problems) == list(steady.problems) == []


def test_a_prompt_with_html_shows_as_text_and_runs_nothing(page: Any, shot: Any) -> None:
    """`<img src=x onerror=alert(1)>` appears literally in chat and card; no img, no alert."""
    send_query(page, f"Summarise this markup {XSS}", pattern="smart")
    wait_terminal(page)
    user = page.locator("hp-chat article.user .body")
    assert user.inner_text() == f"Summarise this markup {XSS}"
    assert XSS in page.locator("hp-covenant-card .intent").inner_text()
    assert page.locator("img").count() == 0
    assert page.evaluate("document.querySelectorAll('[onerror]').length") == 0
    shot(page, "xss-as-text")
    # the `page` fixture fails the test if any dialog (alert) opened or any script error ran


def test_shift_enter_adds_a_line_and_enter_sends(page: Any) -> None:
    """Shift+Enter keeps writing on a new line; Enter sends both lines as one message."""
    box = page.get_by_role("textbox", name="Message")
    box.type("first line")
    box.press("Shift+Enter")
    box.type("second line")
    assert box.input_value() == "first line\nsecond line"
    assert page.locator("hp-chat article.user").count() == 0
    box.press("Enter")
    assert page.locator("hp-chat article.user .body").inner_text() == "first line\nsecond line"
    assert box.input_value() == ""
    wait_terminal(page)


def test_the_constraints_form_refuses_a_bad_value_and_names_the_field(page: Any) -> None:
    """A min quality of 2 is refused with a message naming it; 0.5 is saved and shown."""
    page.keyboard.press("Control+k")
    page.keyboard.type("set constraints")
    page.keyboard.press("Enter")
    form = page.get_by_role("dialog", name="Constraints")
    form.get_by_label("Min quality").fill("2")
    form.get_by_role("button", name="Save").click()
    assert "Min quality" in form.get_by_role("alert").inner_text()
    form.get_by_label("Min quality").fill("0.5")
    form.get_by_label("Max cost (USD)").fill("0.02")
    page.keyboard.press("Enter")
    assert not form.is_visible()
    # The root repaints on the next animation frame: wait for it, never read before it.
    hint = page.locator("hp-composer .settings")
    expect(hint).to_contain_text("min quality 0.5")
    expect(hint).to_contain_text("max cost $0.02")
    stored = page.evaluate("JSON.parse(localStorage.getItem('harpoon.constraints'))")
    assert stored == {"max_cost_usd": 0.02, "min_quality": 0.5}
