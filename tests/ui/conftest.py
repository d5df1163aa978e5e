"""Browser fixtures: one headless Debian Chromium per session, a fresh context per test,
the real Serve app (`serve_app`) behind it, and screenshots kept as test artifacts."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harpoon_ray.testing.browser import CHROMIUM, CHROMIUM_ARGS

from .scripted_gateway import ScriptedGateway, scripted_gateway

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}
KEYED_API_KEY = "ui-test-key-7f3a"

pytestmark = [pytest.mark.browser, pytest.mark.serve]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium for the whole session (Debian's, never a downloaded one)."""
    if not shutil.which(CHROMIUM):
        pytest.skip(
            f"no Chromium at {CHROMIUM}: apt-get install chromium (or set HARPOON_CHROMIUM)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def app_url(request: pytest.FixtureRequest) -> str:
    """The gateway's base URL, where the UI is served at `/`: the session's Serve app, or
    an app already running at `HARPOON_UI_BASE_URL` (e.g. one started by `make run`)."""
    return os.environ.get("HARPOON_UI_BASE_URL") or request.getfixturevalue("serve_app")


@pytest.fixture(scope="session")
def scripted_session(
    ray_instance: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ScriptedGateway]:
    """The scripted gateway (tests/ui/scripted_gateway.py), started once when first needed."""
    with scripted_gateway(tmp_path_factory.mktemp("ui-scripted")) as gateway:
        yield gateway


@pytest.fixture(scope="session")
def keyed_session(
    ray_instance: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ScriptedGateway]:
    """A gateway that wants `KEYED_API_KEY` on every API call and socket, started once."""
    with scripted_gateway(tmp_path_factory.mktemp("ui-keyed"), api_key=KEYED_API_KEY) as gateway:
        yield gateway


@pytest.fixture
def keyed(keyed_session: ScriptedGateway) -> Iterator[ScriptedGateway]:
    """The keyed gateway with no scripts queued: its models answer in a few quick chunks."""
    keyed_session.upstream.reset()
    yield keyed_session
    keyed_session.upstream.reset()


@pytest.fixture
def scripted(scripted_session: ScriptedGateway) -> Iterator[ScriptedGateway]:
    """A gateway whose models do what the test scripts; no script is left for the next."""
    scripted_session.upstream.reset()
    yield scripted_session
    scripted_session.upstream.reset()


class PageProblems(list):
    """JavaScript errors and dialogs seen on a page; a test ends with none unless it says so."""


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """Make pages in fresh contexts (own storage); each records page errors and dialogs."""
    contexts = []

    def make(url: str, *, color_scheme: str = "light", **context_args: Any) -> Any:
        context = browser.new_context(viewport=VIEWPORT, color_scheme=color_scheme, **context_args)
        contexts.append(context)
        page = context.new_page()
        page.problems = PageProblems()
        page.on("pageerror", lambda exc: page.problems.append(f"pageerror: {exc}"))

        def on_dialog(dialog: Any) -> None:
            page.problems.append(f"dialog: {dialog.type} {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.goto(url)
        page.wait_for_function("window.harpoon !== undefined")
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Any], app_url: str) -> Iterator[Any]:
    """The app in a fresh light-themed page; fails the test on any script error or dialog."""
    p = new_page(app_url)
    yield p
    assert list(p.problems) == [], p.problems


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """Save a screenshot as `test-artifacts/screenshots/<test>-<name>.png`.

    Transitions are fast-forwarded to their end (Playwright's `animations="disabled"`): a
    shot taken right after a covenant ends would otherwise catch bars still easing to
    full and toasts still fading in, and look like a drawing bug that is not there."""

    def take(page: Any, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), animations="disabled")
        return path

    return take
