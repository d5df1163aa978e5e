"""The web UI's static files at `/`, or a minimal page until `ui/` has an index."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

_PLACEHOLDER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Harpoon</title></head>
<body><h1>Harpoon</h1>
<p>The gateway is running. The web UI is not installed here: see
<a href="/docs">/docs</a> for the API, <a href="/api/health">/api/health</a> for its state.</p>
</body></html>
"""


def default_ui_dir() -> Path:
    """The repository's `ui/` (next to the package), where `make run` finds it."""
    return Path(__file__).resolve().parents[2] / "ui"


def mount_ui(app: FastAPI, ui_dir: Path | None) -> None:
    """Serve `ui_dir` at `/` (index.html for `/`); mounted last so API routes win."""
    directory = ui_dir or default_ui_dir()
    if (directory / "index.html").is_file():
        app.mount("/", StaticFiles(directory=directory, html=True), name="ui")
        return

    async def placeholder() -> HTMLResponse:
        return HTMLResponse(_PLACEHOLDER)

    app.add_api_route("/", placeholder, methods=["GET"], include_in_schema=False)
