"""`harpoon ask | covenants | show`: covenants on Ray, through the agents client."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from rich.live import Live
from rich.table import Table

from ..schemas import Covenant, Event, QueryRequest
from .gateway_cmd import constraints_from
from .output import SIMULATED_BADGE, Output, usd
from .tree_view import CovenantView


async def _client(address: str | None):
    from ..agents.client import connect

    return await connect(address)


def ask(args: argparse.Namespace, out: Output) -> int:
    return asyncio.run(_ask(args, out))


async def _ask(args: argparse.Namespace, out: Output) -> int:
    query = QueryRequest(
        query=args.query,
        pattern=args.pattern,
        constraints=constraints_from(args),
        agents=args.agents,
    )
    client = await _client(args.address)
    covenant = await client.submit(args.user, query)
    view = CovenantView(covenant)
    if out.json_mode:
        async for _ in client.follow(covenant.id):
            pass
    else:
        with Live(view.render(), console=out.console, refresh_per_second=8) as live:
            async for event in client.follow(covenant.id):
                view.apply(event)
                live.update(view.render())
    detail = await client.get(covenant.id)
    if out.json_mode:
        out.json(detail)
        return 0 if detail["covenant"]["status"] == "completed" else 1
    final = Covenant.model_validate(detail["covenant"])
    _print_result(out, final)
    return 0 if final.status.value == "completed" else 1


def _print_result(out: Output, c: Covenant) -> None:
    badge = f" {SIMULATED_BADGE}" if c.simulated else ""
    out.console.rule(f"covenant {c.id} · {c.status.value}{badge}")
    if c.result:
        out.console.print(c.result, markup=False)
    if c.error:
        out.console.print(f"[red]{c.error}[/]", markup=True)
    saving = c.flagship_cost_usd - c.cost_usd
    out.console.print(
        f"[dim]pattern[/] {c.pattern.value}  [dim]cost[/] {usd(c.cost_usd)}  "
        f"[dim]saved vs flagship[/] {usd(saving)}  [dim]latency[/] {c.latency_s:.2f}s"
    )
    for note in c.notes:
        out.console.print(f"[yellow]note[/]: {note}", markup=True)


def covenants(args: argparse.Namespace, out: Output) -> int:
    return asyncio.run(_covenants(args, out))


async def _covenants(args: argparse.Namespace, out: Output) -> int:
    client = await _client(args.address)
    items = await client.list_covenants("local", user_id=args.user, limit=args.limit)
    if out.json_mode:
        out.json([c.model_dump(mode="json") for c in items])
        return 0
    table = Table(title="Recent covenants")
    for col in ("id", "user", "status", "pattern", "cost", "intent"):
        table.add_column(col)
    for c in items:
        table.add_row(
            c.id, c.user_id, c.status.value, c.pattern.value, usd(c.cost_usd), c.intent[:60]
        )
    out.console.print(table)
    return 0


def show(args: argparse.Namespace, out: Output) -> int:
    return asyncio.run(_show(args, out))


async def _show(args: argparse.Namespace, out: Output) -> int:
    client = await _client(args.address)
    detail: dict[str, Any] = await client.get(args.covenant_id)
    if out.json_mode:
        out.json(detail)
        return 0
    covenant = Covenant.model_validate(detail["covenant"])
    view = CovenantView(covenant)
    for event in await client.events(covenant.id, after=0, limit=100_000):
        view.apply(Event.model_validate(event) if isinstance(event, dict) else event)
    out.console.print(view.render())
    _print_result(out, covenant)
    return 0
