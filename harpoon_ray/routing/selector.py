"""Which model answers a request: the cheapest that is good enough and within limits.

Everything is read from catalog data (tier, prices, speed, quality, capabilities,
context window); no provider is named here. The estimate behind each choice is the
request's prompt tokens plus its full `max_tokens`, so a cost or latency limit is met
even when the answer runs to its cap.

Order of choice:
1. the tier the complexity needs (or the tier asked for by name);
2. if no model of it meets the constraints, the next tier up that has one;
3. if none up does either and a cost or latency limit is what rules them out, the
   nearest cheaper/faster tier below that has one, and the reason says so;
4. nothing anywhere: `ConstraintUnsatisfiable`, naming the limit and the closest model.

The fallback chain is the rest of the chosen tier (cheapest first), then the tiers up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..catalog import Catalog
from ..errors import ConstraintUnsatisfiable, NotFound
from ..schemas import (
    TIERS_IN_ORDER,
    ComplexityAnalysis,
    Constraints,
    ModelRequest,
    ModelSpec,
    RoutingDecision,
    Tier,
)
from .cost import estimate_input_tokens

AUTO_MODELS = frozenset({"harpoon/auto", "auto"})
# Constraints a cheaper or faster tier can meet where a better one cannot.
_DOWNGRADABLE = frozenset({"max_cost_usd", "max_latency_s"})


@dataclass(frozen=True)
class Estimate:
    """One model's fit for one request: its estimated cost and latency, what it breaks."""

    spec: ModelSpec
    cost_usd: float
    latency_s: float
    violations: dict[str, str] = field(default_factory=dict)

    @property
    def fits(self) -> bool:
        return not self.violations


def estimate(
    spec: ModelSpec,
    request: ModelRequest,
    constraints: Constraints,
    prompt_tokens: int | None = None,
) -> Estimate:
    """Estimate `spec` on `request` and list the constraints it would break."""
    prompt = estimate_input_tokens(request) if prompt_tokens is None else prompt_tokens
    cost = spec.cost(prompt, request.max_tokens)
    latency = spec.expected_latency_s(request.max_tokens)
    broken: dict[str, str] = {}
    c = constraints
    if c.max_cost_usd is not None and cost > c.max_cost_usd:
        broken["max_cost_usd"] = f"est. ${cost:.3g} > ${c.max_cost_usd:.3g}"
    if c.max_latency_s is not None and latency > c.max_latency_s:
        broken["max_latency_s"] = f"est. {latency:.2f}s > {c.max_latency_s:.2f}s"
    if c.min_quality is not None and spec.quality < c.min_quality:
        broken["min_quality"] = f"quality {spec.quality:.2f} < {c.min_quality:.2f}"
    needed = set(c.required_capabilities) | ({"json_mode"} if request.json_mode else set())
    missing = sorted(cap for cap in needed if not getattr(spec.capabilities, cap))
    if missing:
        broken["required_capabilities"] = "lacks " + ", ".join(missing)
    if prompt + request.max_tokens > spec.context_window:
        broken["context_window"] = (
            f"est. {prompt} prompt + {request.max_tokens} max tokens > {spec.context_window}"
        )
    return Estimate(spec, cost, latency, broken)


def _rank(e: Estimate) -> tuple[float, float, str]:
    return (e.cost_usd, -e.spec.quality, e.spec.id)


def _fitting(estimates: dict[Tier, list[Estimate]], tier: Tier) -> list[Estimate]:
    return sorted((e for e in estimates.get(tier, []) if e.fits), key=_rank)


def select(
    analysis: ComplexityAnalysis,
    catalog: Catalog,
    constraints: Constraints | None,
    request: ModelRequest,
    model: str | None = None,
) -> RoutingDecision:
    """Choose the model for `request`; see the module docstring for the order."""
    constraints = constraints or Constraints()
    prompt = estimate_input_tokens(request)
    estimates: dict[Tier, list[Estimate]] = {}
    for spec in catalog.models:
        estimates.setdefault(spec.tier, []).append(estimate(spec, request, constraints, prompt))

    if model is not None and model not in AUTO_MODELS and model not in _tier_names():
        return _pinned(model, analysis, catalog, constraints, request)

    needed = Tier(model) if model in _tier_names() else analysis.tier
    why = f"asked for the {needed.value} tier" if model in _tier_names() else analysis.reason
    above = [t for t in TIERS_IN_ORDER if t.rank >= needed.rank]
    below = [t for t in reversed(TIERS_IN_ORDER) if t.rank < needed.rank]
    chosen_tier: Tier | None = next((t for t in above if _fitting(estimates, t)), None)
    note = ""
    if chosen_tier is not None and chosen_tier is not needed:
        note = f"; no {needed.value} model meets the constraints, moved up to {chosen_tier.value}"
    if chosen_tier is None:
        blocking = {k for t in above for e in estimates.get(t, []) for k in e.violations}
        if blocking and blocking <= _DOWNGRADABLE:
            chosen_tier = next((t for t in below if _fitting(estimates, t)), None)
            if chosen_tier is not None:
                limits = " and ".join(sorted(blocking))
                note = (
                    f"; no {needed.value} or higher model meets {limits}, "
                    f"moved down to {chosen_tier.value}"
                )
    if chosen_tier is None:
        raise _unsatisfiable(estimates, constraints)

    ranked = _fitting(estimates, chosen_tier)
    best = ranked[0]
    chain = [e.spec.id for e in ranked[1:]]
    for t in TIERS_IN_ORDER:
        if t.rank > chosen_tier.rank:
            chain += [e.spec.id for e in _fitting(estimates, t)]
    return RoutingDecision(
        model=best.spec.id,
        tier=chosen_tier,
        fallbacks=chain,
        analysis=analysis,
        estimated_cost_usd=best.cost_usd,
        estimated_latency_s=best.latency_s,
        reason=f"{why}; cheapest fitting {chosen_tier.value} model is {best.spec.id}{note}",
    )


def _tier_names() -> frozenset[str]:
    return frozenset(t.value for t in TIERS_IN_ORDER)


def _pinned(
    model: str,
    analysis: ComplexityAnalysis,
    catalog: Catalog,
    constraints: Constraints,
    request: ModelRequest,
) -> RoutingDecision:
    """A model asked for by id: used as is, no fallback, but never against a constraint."""
    if model not in catalog:
        raise NotFound(
            f"unknown model {model!r}: use a catalog id (see `harpoon models`), a tier name "
            "(edge, primary, flagship) or 'harpoon/auto'",
            param="model",
        )
    e = estimate(catalog.get(model), request, constraints)
    if not e.fits:
        key, detail = next(iter(e.violations.items()))
        raise ConstraintUnsatisfiable(
            f"model {model!r} was asked for but breaks {key}: {detail}; drop the pin or "
            "relax the constraint",
            param=_param(key),
        )
    return RoutingDecision(
        model=model,
        tier=e.spec.tier,
        fallbacks=[],
        analysis=analysis,
        estimated_cost_usd=e.cost_usd,
        estimated_latency_s=e.latency_s,
        reason=f"pinned to {model} by the caller (complexity alone: {analysis.reason})",
    )


def _param(key: str) -> str:
    return "max_tokens" if key == "context_window" else f"constraints.{key}"


def _unsatisfiable(
    estimates: dict[Tier, list[Estimate]], constraints: Constraints
) -> ConstraintUnsatisfiable:
    """Name the limit nothing meets and the model that comes closest to meeting it."""
    every = [e for group in estimates.values() for e in group]
    if not every:
        return ConstraintUnsatisfiable("the catalog has no models", param="catalog")
    closest = min(every, key=lambda e: (len(e.violations), _rank(e)))
    ruling = {k for k in closest.violations if all(k in e.violations for e in every)}
    key = sorted(ruling or closest.violations)[0]
    nearest = min(every, key=lambda e: _distance(e, key, constraints))
    detail = nearest.violations.get(key) or closest.violations[key]
    return ConstraintUnsatisfiable(
        f"no model in the catalog meets {key}: the closest is {nearest.spec.id} ({detail})",
        param=_param(key),
    )


def _distance(e: Estimate, key: str, c: Constraints) -> tuple[float, int]:
    """How far `e` is from meeting `key`, then how many other limits it breaks."""
    gap = {
        "max_cost_usd": e.cost_usd,
        "max_latency_s": e.latency_s,
        "min_quality": -e.spec.quality,
        "context_window": -e.spec.context_window,
    }.get(key, float(key in e.violations))
    return gap, len(e.violations)
