"""Where CLI output goes: rich for people, plain JSON on stdout for scripts."""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import BaseModel
from rich.console import Console

from ..errors import HarpoonError


class Output:
    def __init__(self, *, json_mode: bool) -> None:
        self.json_mode = json_mode
        self.console = Console(highlight=False)
        self.err = Console(stderr=True, highlight=False)

    def json(self, value: Any) -> None:
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json")
        sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")

    def error(self, exc: HarpoonError) -> None:
        if self.json_mode:
            self.json({"error": exc.to_dict()})
        else:
            where = f" ({exc.param})" if exc.param else ""
            self.err.print(f"[bold red]error[/]{where}: {exc.message}")


def usd(value: float) -> str:
    """Dollars with enough digits to see sub-cent costs."""
    if value == 0:
        return "$0"
    if value < 0.01:
        return f"${value:.6f}"
    return f"${value:.4f}"


SIMULATED_BADGE = "[black on yellow] simulated [/]"
