"""The `harpoon` command: argument parsing only; each command lives in its own module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import HarpoonError
from . import agents_cmd, gateway_cmd, service_cmd
from .output import Output


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="harpoon", description="Harpoon: LLM gateway and multi-agent orchestrator."
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.add_argument("--json", action="store_true", help="machine-readable JSON output")
        return sp

    def constraints(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--max-cost", type=float, metavar="USD", help="max cost in USD")
        sp.add_argument("--max-latency", type=float, metavar="S", help="max latency, seconds")
        sp.add_argument("--min-quality", type=float, metavar="Q", help="min quality, 0..1")

    add("models", "List the model catalog: tiers, prices, speeds, capabilities.")

    sp = add("route", "Show how a prompt would be routed, without calling a model.")
    sp.add_argument("prompt")
    sp.add_argument("--model", help="catalog id, tier name or harpoon/auto")
    constraints(sp)

    sp = add("chat", "One routed completion, streamed, with its model, tokens and cost.")
    sp.add_argument("prompt")
    sp.add_argument("--model", help="catalog id, tier name or harpoon/auto")
    sp.add_argument("--max-tokens", type=int, default=512)
    constraints(sp)

    sp = add("ask", "Run a covenant on Ray: mediator, orchestrator, sub-agents.")
    sp.add_argument("query")
    sp.add_argument("--pattern", choices=["parallel", "workers", "optimize", "smart"])
    sp.add_argument("--agents", type=int, metavar="N", help="fan-out width")
    sp.add_argument("--user", default="cli", help="user id (conversation history)")
    sp.add_argument("--address", help="Ray address to connect to (default: local)")
    constraints(sp)

    sp = add("covenants", "List recent covenants.")
    sp.add_argument("--user", help="only this user's")
    sp.add_argument("--limit", type=int, default=20)
    sp.add_argument("--address", help="Ray address to connect to (default: local)")

    sp = add("show", "Show one covenant with its agents.")
    sp.add_argument("covenant_id")
    sp.add_argument("--address", help="Ray address to connect to (default: local)")

    sp = sub.add_parser("run", help="Start Ray and the Harpoon service (UI, REST, /v1).")
    sp.add_argument("--host", default=None)
    sp.add_argument("--port", type=int, default=None)
    return p


_COMMANDS = {
    "models": gateway_cmd.models,
    "route": gateway_cmd.route,
    "chat": gateway_cmd.chat,
    "ask": agents_cmd.ask,
    "covenants": agents_cmd.covenants,
    "show": agents_cmd.show,
    "run": service_cmd.run,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = Output(json_mode=getattr(args, "json", False))
    try:
        return _COMMANDS[args.command](args, out) or 0
    except HarpoonError as exc:
        out.error(exc)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
