"""`harpoon run`: start Ray and the Serve app; what `make run` calls."""

from __future__ import annotations

import argparse

from ..settings import get_settings
from .output import Output


def run(args: argparse.Namespace, out: Output) -> int:
    from ..serve.launcher import run as launch

    settings = get_settings()
    launch(host=args.host or settings.host, port=args.port or settings.port)
    return 0
