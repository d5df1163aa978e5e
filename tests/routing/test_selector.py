"""Model choice: cheapest fitting model, tiers up and down, pins, and clear refusals."""

from __future__ import annotations

import pytest

from harpoon_ray.catalog import Catalog, ProviderConfig
from harpoon_ray.errors import ConstraintUnsatisfiable, NotFound
from harpoon_ray.routing import analyse, select
from harpoon_ray.schemas import Constraints, Tier

from .conftest import HARD, SIMPLE, ask


def route(catalog, text, constraints=None, model=None, **fields):
    return select(analyse(text), catalog, constraints, ask(text, **fields), model)


def test_simple_prompt_gets_the_cheapest_edge_model_for_its_tokens(catalog):
    """With 512 output tokens, mistral-7b's $0.19/1M output beats llama-3.2-1b's $0.201."""
    d = route(catalog, SIMPLE)
    assert d.tier is Tier.EDGE
    assert d.model == "cloudflare/mistral-7b"
    # 12 prompt tokens (30 chars / 4 rounded up + 4) * 0.11 + 512 * 0.19, per 1M
    assert d.estimated_cost_usd == pytest.approx((12 * 0.11 + 512 * 0.19) / 1e6)
    assert d.estimated_latency_s == pytest.approx(0.30 + 512 / 80)


def test_fallback_chain_is_same_tier_cheapest_first_then_up(catalog):
    """The chain holds every other model once, tiers never going down, cheapest first."""
    d = route(catalog, SIMPLE)
    chain = [catalog.get(m) for m in [d.model, *d.fallbacks]]
    assert sorted(m.id for m in chain) == sorted(m.id for m in catalog.models)
    ranks = [m.tier.rank for m in chain]
    assert ranks == sorted(ranks)
    edge = [m for m in chain if m.tier is Tier.EDGE]
    costs = [m.cost(12, 512) for m in edge]
    assert costs == sorted(costs)


def test_hard_prompt_gets_the_cheapest_flagship_model(catalog):
    """A design question goes to the flagship tier's cheapest model, gpt-4.1-mini."""
    d = route(catalog, HARD)
    assert (d.tier, d.model) == (Tier.FLAGSHIP, "openai/gpt-4.1-mini")
    assert all(catalog.get(m).tier is Tier.FLAGSHIP for m in d.fallbacks)


def test_json_mode_request_only_gets_models_that_support_it(catalog):
    """Only one edge model has JSON mode; a JSON request on a simple prompt gets it."""
    d = route(catalog, SIMPLE, json_mode=True)
    assert d.model == "cloudflare/llama-3.1-8b-fast"
    assert all(catalog.get(m).capabilities.json_mode for m in d.fallbacks)


def test_min_quality_moves_up_a_tier_and_says_so(catalog):
    """No edge model reaches quality 0.6, so the cheapest primary one that does is used."""
    d = route(catalog, SIMPLE, Constraints(min_quality=0.6))
    assert (d.tier, d.model) == (Tier.PRIMARY, "groq/gpt-oss-20b")
    assert "moved up to primary" in d.reason


def test_cost_limit_moves_a_hard_prompt_down_and_says_so(catalog):
    """At $0.0005 a request no flagship fits 512 output tokens; primary does, and the
    reason names the limit."""
    d = route(catalog, HARD, Constraints(max_cost_usd=0.0005))
    assert d.tier is Tier.PRIMARY
    assert d.estimated_cost_usd <= 0.0005
    assert "max_cost_usd" in d.reason and "moved down to primary" in d.reason


def test_latency_limit_moves_a_hard_prompt_to_a_faster_tier(catalog):
    """No flagship writes 512 tokens within 2 s; a primary model does."""
    d = route(catalog, HARD, Constraints(max_latency_s=2.0))
    assert d.tier is Tier.PRIMARY
    assert d.estimated_latency_s <= 2.0
    assert "max_latency_s" in d.reason


def test_impossible_cost_names_the_constraint_and_the_closest_model(catalog):
    """A limit below every model's cost is refused, naming it and the cheapest model of
    any tier (groq's 8b at $0.08/1M output undercuts every edge model)."""
    with pytest.raises(ConstraintUnsatisfiable) as info:
        route(catalog, SIMPLE, Constraints(max_cost_usd=1e-9))
    assert info.value.param == "constraints.max_cost_usd"
    assert "closest is groq/llama-3.1-8b-instant" in info.value.message
    assert "$1e-09" in info.value.message
    assert info.value.http_status == 422


def test_impossible_quality_names_the_best_model(catalog):
    """Quality 0.99 is beyond the catalog; the error points at its best model."""
    with pytest.raises(ConstraintUnsatisfiable) as info:
        route(catalog, HARD, Constraints(min_quality=0.99))
    assert info.value.param == "constraints.min_quality"
    assert "openai/o4-mini" in info.value.message


def test_prompt_too_long_for_every_model_points_at_max_tokens(catalog):
    """A request beyond every context window is refused, not sent."""
    with pytest.raises(ConstraintUnsatisfiable) as info:
        route(catalog, "word " * 5_000_000)
    assert info.value.param == "max_tokens"


def test_small_context_model_is_skipped_for_long_answers(catalog):
    """mistral-7b's 2,824-token window cannot hold 4,000 output tokens."""
    d = route(catalog, SIMPLE, max_tokens=4_000)
    assert "cloudflare/mistral-7b" not in [d.model, *d.fallbacks]


def test_tier_name_forces_that_tier(catalog):
    """model='flagship' routes a simple prompt to the flagship tier anyway."""
    d = route(catalog, SIMPLE, model="flagship")
    assert (d.tier, d.model) == (Tier.FLAGSHIP, "openai/gpt-4.1-mini")


def test_auto_model_name_routes(catalog):
    """'harpoon/auto' behaves as no model given."""
    assert route(catalog, HARD, model="harpoon/auto") == route(catalog, HARD)


def test_pinned_model_is_used_without_fallbacks(catalog):
    """A catalog id pins the model: that one, no silent substitutes."""
    d = route(catalog, SIMPLE, model="groq/llama-3.3-70b")
    assert (d.model, d.fallbacks, d.tier) == ("groq/llama-3.3-70b", [], Tier.PRIMARY)
    assert "pinned" in d.reason


def test_pinned_model_breaking_a_constraint_is_refused(catalog):
    """A pin that lacks JSON mode for a JSON request gets a clear error, not a bad call."""
    with pytest.raises(ConstraintUnsatisfiable) as info:
        route(catalog, SIMPLE, model="cloudflare/llama-3.2-1b", json_mode=True)
    assert info.value.param == "constraints.required_capabilities"


def test_unknown_model_is_not_found(catalog):
    """An id outside the catalog is a 404 naming the `model` parameter."""
    with pytest.raises(NotFound) as info:
        route(catalog, SIMPLE, model="acme/gpt-9")
    assert info.value.param == "model"


def test_choice_comes_from_catalog_data_not_provider_names(catalog):
    """Renaming every provider changes nothing; a new cheaper model wins at once."""
    renamed = [m.model_copy(update={"provider": f"p{i}"}) for i, m in enumerate(catalog.models)]
    providers = {m.provider: ProviderConfig(name=m.provider, kind="simulated") for m in renamed}
    other = Catalog(renamed, providers, catalog.flagship.id)
    assert route(other, HARD).model == route(catalog, HARD).model

    cheap = catalog.get("cloudflare/llama-3.2-1b").model_copy(
        update={"id": "x/tiny", "provider": "p0", "output_price_per_m": 0.01}
    )
    bigger = Catalog([*renamed, cheap], providers, catalog.flagship.id)
    assert route(bigger, SIMPLE).model == "x/tiny"
