"""The UI against a gateway that wants an API key (HARPOON_API_KEY): it asks once, in its
own dialog, keeps the key for the tab, sends it on every call and socket; and against the
session's keyless app it never asks at all."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import KEYED_API_KEY
from .contrast import assert_readable
from .helpers import send_query, wait_terminal

pytestmark = [pytest.mark.browser, pytest.mark.serve]


def key_dialog(page: Any) -> Any:
    return page.get_by_role("dialog", name="API key required")


def authorized_get(url: str, key: str | None) -> tuple[int, Any]:
    """GET `url` with `key` as bearer token (or none); status and decoded body."""
    headers = {"authorization": f"Bearer {key}"} if key else {}
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def answer_with_key(page: Any) -> dict[str, Any]:
    """Type the right key in the open dialog; the covenant the retried query started."""
    dialog = key_dialog(page)
    dialog.get_by_label("API key").fill(KEYED_API_KEY)
    page.keyboard.press("Enter")
    dialog.wait_for(state="hidden")
    return wait_terminal(page)


def test_the_keyed_gateway_refuses_calls_without_the_key(keyed: Any) -> None:
    """The gateway the UI faces here answers 401 without its key and 200 with it."""
    status, body = authorized_get(f"{keyed.base_url}/api/models", None)
    assert status == 401 and body["error"]["type"] == "authentication_error"
    status, _ = authorized_get(f"{keyed.base_url}/api/models", KEYED_API_KEY)
    assert status == 200


def test_a_refused_query_asks_for_the_key_in_a_focused_dialog(keyed: Any, new_page: Any) -> None:
    """A query refused for want of a key opens the labelled key dialog, focus in its field."""
    page = new_page(keyed.base_url)
    assert not key_dialog(page).is_visible()
    send_query(page, "Name two uses of a lens", pattern="smart")
    dialog = key_dialog(page)
    dialog.wait_for(state="visible")
    field = dialog.get_by_label("API key")
    assert field.evaluate("(el) => el === document.activeElement")
    assert field.get_attribute("type") == "password"
    assert dialog.get_by_role("alert").inner_text() == ""  # no key was sent: nothing was wrong
    assert page.problems == []


def test_the_dialog_keeps_focus_inside_and_esc_cancels(keyed: Any, new_page: Any) -> None:
    """Tab cycles within the dialog; Esc closes it and the query fails as unauthorized."""
    page = new_page(keyed.base_url)
    send_query(page, "Name two uses of a lens", pattern="smart")
    dialog = key_dialog(page)
    dialog.wait_for(state="visible")
    for _ in range(5):
        page.keyboard.press("Tab")
        assert dialog.evaluate("(d) => d.contains(document.activeElement)")
    page.keyboard.press("Shift+Tab")
    assert dialog.evaluate("(d) => d.contains(document.activeElement)")
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    # The reply repaints on the next frame: expect() waits for it.
    expect(page.locator("hp-chat article.assistant").last).to_contain_text("HARPOON_API_KEY")
    assert page.evaluate("sessionStorage.getItem('harpoon.apiKey')") is None
    assert page.problems == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_key_dialog_meets_aa_contrast_and_holds_off_the_palette(
    scheme: str, keyed: Any, new_page: Any, shot: Any
) -> None:
    """The dialog, with a refusal shown, reads at WCAG AA; Ctrl+K does not open over it."""
    page = new_page(keyed.base_url, color_scheme=scheme)
    send_query(page, "Name two uses of a lens", pattern="smart")
    dialog = key_dialog(page)
    dialog.get_by_label("API key").fill("not-the-key")
    page.keyboard.press("Enter")
    dialog.get_by_role("alert").filter(has_text="does not match").wait_for()
    page.keyboard.press("Control+k")
    assert not page.get_by_role("combobox", name="Search commands").is_visible()
    shot(page, f"{scheme}-key-dialog")
    assert_readable(page)
    assert page.problems == []


def test_a_wrong_key_shows_the_servers_message(keyed: Any, new_page: Any) -> None:
    """A wrong key reopens the dialog with the gateway's own reason, not a guess."""
    page = new_page(keyed.base_url)
    send_query(page, "Name two uses of a lens", pattern="smart")
    dialog = key_dialog(page)
    dialog.get_by_label("API key").fill("not-the-key")
    page.keyboard.press("Enter")
    alert = dialog.get_by_role("alert")
    alert.filter(has_text="does not match").wait_for()
    _, body = authorized_get(f"{keyed.base_url}/api/models", "not-the-key")
    assert alert.inner_text() == body["error"]["message"]
    assert dialog.get_by_label("API key").get_attribute("aria-invalid") == "true"
    assert page.problems == []


def test_the_right_key_runs_the_query_to_completed_over_the_socket(
    keyed: Any, new_page: Any
) -> None:
    """After a wrong key then the right one, the query runs and its socket streams to the end."""
    page = new_page(keyed.base_url)
    send_query(page, "Name two uses of a lens", pattern="smart")
    dialog = key_dialog(page)
    dialog.get_by_label("API key").fill("not-the-key")
    page.keyboard.press("Enter")
    dialog.get_by_role("alert").filter(has_text="does not match").wait_for()
    snap = answer_with_key(page)
    assert snap["status"] == "completed"
    assert page.evaluate(f"window.harpoon.streams.get({json.dumps(snap['id'])}).connects") >= 1
    status, stored = authorized_get(f"{keyed.base_url}/api/covenants/{snap['id']}", KEYED_API_KEY)
    assert status == 200 and stored["covenant"]["status"] == "completed"
    assert page.evaluate("sessionStorage.getItem('harpoon.apiKey')") == KEYED_API_KEY
    assert page.evaluate("localStorage.getItem('harpoon.apiKey')") is None
    assert page.problems == []


def test_a_reload_in_the_same_tab_keeps_the_key(keyed: Any, new_page: Any) -> None:
    """After a reload the tab still has its key: the next query runs without asking again."""
    page = new_page(keyed.base_url)
    send_query(page, "Name two uses of a lens", pattern="smart")
    answer_with_key(page)
    page.reload()
    page.wait_for_function("window.harpoon !== undefined")
    page.locator("hp-key-dialog .overlay").evaluate(
        "(o) => new MutationObserver(() => { if (!o.hidden) window.__asked = true; })"
        ".observe(o, {attributes: true})"
    )
    send_query(page, "Name two uses of a mirror", pattern="smart")
    snap = wait_terminal(page)
    assert snap["status"] == "completed"
    assert page.evaluate("window.__asked === undefined"), "the dialog opened after the reload"
    assert page.problems == []


def test_following_a_covenant_by_link_asks_for_the_key_for_the_socket(
    keyed: Any, new_page: Any
) -> None:
    """Opening `#covenant=<id>` with no key: the refused socket asks, then streams to the end."""
    req = urllib.request.Request(
        f"{keyed.base_url}/api/orchestrate/smart",
        data=json.dumps({"query": "Name a use of a prism", "user_id": "ui-keyed"}).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {KEYED_API_KEY}"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        started = json.load(resp)
    cid = started.get("covenant_id") or started.get("id") or started["covenant"]["id"]
    page = new_page(f"{keyed.base_url}/#covenant={cid}")
    snap = answer_with_key(page)
    assert snap["id"] == cid and snap["status"] == "completed"
    assert page.problems == []


def test_forget_api_key_in_the_palette_drops_the_key(keyed: Any, new_page: Any) -> None:
    """ "Forget API key" clears the tab's key, so the next call asks again."""
    page = new_page(keyed.base_url)
    send_query(page, "Name two uses of a lens", pattern="smart")
    answer_with_key(page)
    page.keyboard.press("Control+k")
    page.get_by_role("combobox", name="Search commands").fill("forget api key")
    assert page.get_by_role("option").first.inner_text().startswith("Forget API key")
    page.keyboard.press("Enter")
    assert page.evaluate("sessionStorage.getItem('harpoon.apiKey')") is None
    send_query(page, "Name two uses of a mirror", pattern="smart")
    key_dialog(page).wait_for(state="visible")
    assert page.problems == []


def test_without_a_server_key_the_dialog_never_shows(page: Any) -> None:
    """The session's keyless app runs a query and loads models with no key dialog at all."""
    send_query(page, "Name two uses of a lens", pattern="smart")
    snap = wait_terminal(page)
    assert snap["status"] == "completed"
    page.evaluate("window.harpoon.run('models')")
    page.get_by_role("dialog", name="Models").get_by_role("table").wait_for()
    assert not key_dialog(page).is_visible()
    assert page.evaluate("sessionStorage.getItem('harpoon.apiKey')") is None
