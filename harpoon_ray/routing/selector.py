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

import weakref
from collections.abc import Callable
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
TIER_NAMES = frozenset(t.value for t in TIERS_IN_ORDER)
# Constraints a cheaper or faster tier can meet where a better one cannot.
_DOWNGRADABLE = frozenset({"max_cost_usd", "max_latency_s"})
_NO_CONSTRAINTS = Constraints()


class CatalogIndex:
    """A catalog's models grouped by tier, once: every decision reads them, none regroups.

    Groups keep the catalog's order (tiers by first appearance), which is the order ties
    are broken in when naming the closest model of an unsatisfiable request.
    """

    _built: weakref.WeakKeyDictionary[Catalog, CatalogIndex] = weakref.WeakKeyDictionary()

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        groups: dict[Tier, list[ModelSpec]] = {}
        for spec in catalog.models:
            groups.setdefault(spec.tier, []).append(spec)
        self.by_tier: dict[Tier, tuple[ModelSpec, ...]] = {t: tuple(g) for t, g in groups.items()}

    @classmethod
    def of(cls, catalog: Catalog) -> CatalogIndex:
        """The index of `catalog`, built on first use and kept while the catalog lives."""
        index = cls._built.get(catalog)
        if index is None:
            index = cls._built[catalog] = cls(catalog)
        return index


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
    return _estimator(request, constraints, prompt)(spec)


def _estimator(
    request: ModelRequest, constraints: Constraints, prompt: int
) -> Callable[[ModelSpec], Estimate]:
    """`estimate` for one request, with what does not depend on the model worked out once."""
    c = constraints
    max_tokens = request.max_tokens
    needed = set(c.required_capabilities) | ({"json_mode"} if request.json_mode else set())
    needed_sorted = sorted(needed)
    total = prompt + max_tokens
    max_cost, max_latency, min_quality = c.max_cost_usd, c.max_latency_s, c.min_quality

    def one(spec: ModelSpec) -> Estimate:
        cost = spec.cost(prompt, max_tokens)
        latency = spec.expected_latency_s(max_tokens)
        broken: dict[str, str] = {}
        if max_cost is not None and cost > max_cost:
            broken["max_cost_usd"] = f"est. ${cost:.3g} > ${max_cost:.3g}"
        if max_latency is not None and latency > max_latency:
            broken["max_latency_s"] = f"est. {latency:.2f}s > {max_latency:.2f}s"
        if min_quality is not None and spec.quality < min_quality:
            broken["min_quality"] = f"quality {spec.quality:.2f} < {min_quality:.2f}"
        if needed_sorted:
            caps = spec.capabilities
            missing = [cap for cap in needed_sorted if not getattr(caps, cap)]
            if missing:
                broken["required_capabilities"] = "lacks " + ", ".join(missing)
        if total > spec.context_window:
            broken["context_window"] = (
                f"est. {prompt} prompt + {max_tokens} max tokens > {spec.context_window}"
            )
        return Estimate(spec, cost, latency, broken)

    return one


def _rank(e: Estimate) -> tuple[float, float, str]:
    return (e.cost_usd, -e.spec.quality, e.spec.id)


class _Estimates:
    """Each tier's estimates and fitting models, worked out only when first asked for:
    a flagship request that fits never estimates the edge models."""

    def __init__(self, index: CatalogIndex, request: ModelRequest, constraints: Constraints):
        self._index = index
        self._one = _estimator(request, constraints, estimate_input_tokens(request))
        self._by_tier: dict[Tier, list[Estimate]] = {}
        self._fitting: dict[Tier, list[Estimate]] = {}

    def of(self, tier: Tier) -> list[Estimate]:
        found = self._by_tier.get(tier)
        if found is None:
            found = self._by_tier[tier] = [self._one(m) for m in self._index.by_tier.get(tier, ())]
        return found

    def fitting(self, tier: Tier) -> list[Estimate]:
        found = self._fitting.get(tier)
        if found is None:
            found = self._fitting[tier] = sorted((e for e in self.of(tier) if e.fits), key=_rank)
        return found

    def every_tier(self) -> dict[Tier, list[Estimate]]:
        """All estimates, tiers in the catalog's order."""
        return {t: self.of(t) for t in self._index.by_tier}


def select(
    analysis: ComplexityAnalysis,
    catalog: Catalog,
    constraints: Constraints | None,
    request: ModelRequest,
    model: str | None = None,
    *,
    index: CatalogIndex | None = None,
) -> RoutingDecision:
    """Choose the model for `request`; see the module docstring for the order.

    `index` is `CatalogIndex.of(catalog)`, passed by a caller that keeps it (the Router).
    """
    constraints = constraints or _NO_CONSTRAINTS
    if is_pin(model):
        return pinned(model, catalog, constraints, request, analysis)

    estimates = _Estimates(index or CatalogIndex.of(catalog), request, constraints)
    asked_tier = model in TIER_NAMES
    needed = Tier(model) if asked_tier else analysis.tier
    why = f"asked for the {needed.value} tier" if asked_tier else analysis.reason
    above = [t for t in TIERS_IN_ORDER if t.rank >= needed.rank]
    below = [t for t in reversed(TIERS_IN_ORDER) if t.rank < needed.rank]
    chosen_tier: Tier | None = next((t for t in above if estimates.fitting(t)), None)
    note = ""
    if chosen_tier is not None and chosen_tier is not needed:
        note = f"; no {needed.value} model meets the constraints, moved up to {chosen_tier.value}"
    if chosen_tier is None:
        blocking = {k for t in above for e in estimates.of(t) for k in e.violations}
        if blocking and blocking <= _DOWNGRADABLE:
            chosen_tier = next((t for t in below if estimates.fitting(t)), None)
            if chosen_tier is not None:
                limits = " and ".join(sorted(blocking))
                note = (
                    f"; no {needed.value} or higher model meets {limits}, "
                    f"moved down to {chosen_tier.value}"
                )
    if chosen_tier is None:
        raise _unsatisfiable(estimates.every_tier(), constraints)

    ranked = estimates.fitting(chosen_tier)
    best = ranked[0]
    chain = [e.spec.id for e in ranked[1:]]
    for t in TIERS_IN_ORDER:
        if t.rank > chosen_tier.rank:
            chain += [e.spec.id for e in estimates.fitting(t)]
    return RoutingDecision(
        model=best.spec.id,
        tier=chosen_tier,
        fallbacks=chain,
        analysis=analysis,
        estimated_cost_usd=best.cost_usd,
        estimated_latency_s=best.latency_s,
        reason=f"{why}; cheapest fitting {chosen_tier.value} model is {best.spec.id}{note}",
    )


def is_pin(model: str | None) -> bool:
    """Whether `model` names one model (a catalog id, known or not), not a tier or auto."""
    return model is not None and model not in AUTO_MODELS and model not in TIER_NAMES


def pinned(
    model: str,
    catalog: Catalog,
    constraints: Constraints | None,
    request: ModelRequest,
    analysis: ComplexityAnalysis | None = None,
) -> RoutingDecision:
    """A model asked for by id: used as is, no fallback, but never against a constraint.

    The choice does not depend on the prompt, so `analysis` is only a record: the router
    leaves it out on its call path, where analysing every pinned sub-agent's prompt would
    cost more than the rest of the decision.
    """
    constraints = constraints or _NO_CONSTRAINTS
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
        reason=f"pinned to {model} by the caller"
        + (f" (complexity alone: {analysis.reason})" if analysis is not None else ""),
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
