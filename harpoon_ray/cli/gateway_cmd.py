"""`harpoon models | route | chat`: the gateway on its own, no Ray needed."""

from __future__ import annotations

import argparse
import asyncio

from rich.table import Table

from ..catalog import default_catalog
from ..schemas import Completion, Constraints, Message, ModelRequest, StreamChunk
from ..settings import get_settings
from .output import SIMULATED_BADGE, Output, usd


def constraints_from(args: argparse.Namespace) -> Constraints:
    return Constraints(
        max_cost_usd=args.max_cost, max_latency_s=args.max_latency, min_quality=args.min_quality
    )


def _router():
    from ..providers.registry import ProviderPool
    from ..routing.router import Router

    settings = get_settings()
    catalog = default_catalog()
    return Router(catalog, ProviderPool(catalog, settings), settings)


def models(args: argparse.Namespace, out: Output) -> int:
    catalog = default_catalog()
    from ..providers.registry import ProviderPool

    pool = ProviderPool(catalog, get_settings())
    if out.json_mode:
        out.json(
            {
                "flagship_reference": catalog.flagship.id,
                "models": [
                    {**m.model_dump(mode="json"), "simulated": pool.is_simulated(m)}
                    for m in catalog.models
                ],
            }
        )
        return 0
    table = Table(title="Harpoon model catalog (USD per 1M tokens)")
    for col, just in [
        ("tier", "left"),
        ("model", "left"),
        ("provider model", "left"),
        ("in $", "right"),
        ("out $", "right"),
        ("ctx", "right"),
        ("ttft s", "right"),
        ("tok/s", "right"),
        ("quality", "right"),
        ("caps", "left"),
        ("source", "left"),
    ]:
        table.add_column(col, justify=just)
    for tier in catalog.tiers():
        for m in catalog.by_tier(tier):
            caps = ",".join(k for k, v in m.capabilities.model_dump().items() if v)
            table.add_row(
                tier.value,
                m.id,
                m.provider_model,
                f"{m.input_price_per_m:.3f}",
                f"{m.output_price_per_m:.3f}",
                f"{m.context_window:,}",
                f"{m.ttft_s:.2f}",
                f"{m.tokens_per_s:.0f}",
                f"{m.quality:.2f}",
                caps,
                "simulated" if pool.is_simulated(m) else m.provider,
            )
    out.console.print(table)
    out.console.print(
        f"flagship reference for savings: [bold]{catalog.flagship.id}[/]; "
        f"prices read {catalog.flagship.prices_read}"
    )
    return 0


def route(args: argparse.Namespace, out: Output) -> int:
    router = _router()
    request = ModelRequest(messages=[Message(role="user", content=args.prompt)])
    decision = router.decide(request, constraints_from(args), args.model)
    if out.json_mode:
        out.json(decision)
        return 0
    a = decision.analysis
    out.console.print(f"complexity [bold]{a.score:.2f}[/] → tier [bold]{a.tier.value}[/]")
    out.console.print(f"  {a.reason}")
    signals = ", ".join(f"{k}={v:.2f}" for k, v in a.signals.items() if v)
    out.console.print(f"  signals: {signals or 'none'}")
    out.console.print(
        f"model [bold cyan]{decision.model}[/] ({decision.tier.value}), "
        f"est. {usd(decision.estimated_cost_usd)}, {decision.estimated_latency_s:.2f} s"
    )
    out.console.print(f"  {decision.reason}")
    out.console.print(f"  fallbacks: {' → '.join(decision.fallbacks) or 'none'}")
    return 0


def chat(args: argparse.Namespace, out: Output) -> int:
    return asyncio.run(_chat(args, out))


async def _chat(args: argparse.Namespace, out: Output) -> int:
    router = _router()
    request = ModelRequest(
        messages=[Message(role="user", content=args.prompt)], max_tokens=args.max_tokens
    )
    final: Completion | None = None
    try:
        async for item in router.stream(request, constraints_from(args), args.model):
            if isinstance(item, StreamChunk):
                if not out.json_mode:
                    out.console.print(item.delta, end="", markup=False, soft_wrap=True)
            else:
                final = item
    finally:
        await router.pool.aclose()
    assert final is not None, "the router's stream ends with a Completion"
    if out.json_mode:
        out.json(final)
        return 0
    out.console.print()
    badge = f" {SIMULATED_BADGE}" if final.simulated else ""
    out.console.print(
        f"[dim]──[/] [bold cyan]{final.model}[/] ({final.tier.value}){badge}  "
        f"{final.input_tokens}+{final.output_tokens} tokens  {usd(final.cost_usd)}  "
        f"saved {usd(final.saving_usd)} vs {final.flagship_model}  "
        f"ttft {final.ttft_s:.2f}s  total {final.latency_s:.2f}s"
    )
    if len(final.attempts) > 1:
        tried = ", ".join(f"{a.model}: {a.error_type or 'ok'}" for a in final.attempts if not a.ok)
        out.console.print(f"[yellow]fallbacks[/]: {tried}")
    return 0
