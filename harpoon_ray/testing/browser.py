"""How our browser tests and the UI benchmark launch Debian's headless Chromium.

Playwright's own browser download is not available offline, so both drive the system
`chromium`; the flags keep it from reaching for the network at start-up.
"""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("HARPOON_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
