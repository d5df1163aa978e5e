"""Cost figures checked against values computed by hand from the catalog's prices."""

from __future__ import annotations

import pytest

from harpoon_ray.errors import ValidationFailed
from harpoon_ray.routing import price
from harpoon_ray.routing.cost import estimate_input_tokens

from .conftest import ask


def test_cost_of_an_edge_model_matches_hand_computation(catalog):
    """1,000 in + 500 out on llama-3.2-1b ($0.027 / $0.201 per 1M) costs $0.0001275."""
    spec = catalog.get("cloudflare/llama-3.2-1b")
    cost, _, _ = price(spec, 1_000, 500, catalog)
    # 1000 * 0.027 / 1e6 = 0.000027; 500 * 0.201 / 1e6 = 0.0001005
    assert cost == pytest.approx(0.0001275, abs=1e-12)


def test_saving_is_against_the_flagship_reference(catalog):
    """The saving is gpt-4o's price for the same tokens minus the model's own."""
    spec = catalog.get("groq/llama-3.1-8b-instant")
    cost, flagship_cost, saving = price(spec, 2_000, 1_000, catalog)
    # groq 8b: 2000*0.05/1e6 + 1000*0.08/1e6 = 0.0001 + 0.00008 = 0.00018
    # gpt-4o:  2000*2.50/1e6 + 1000*10.0/1e6 = 0.005 + 0.01 = 0.015
    assert catalog.flagship.id == "openai/gpt-4o"
    assert cost == pytest.approx(0.00018, abs=1e-12)
    assert flagship_cost == pytest.approx(0.015, abs=1e-12)
    assert saving == pytest.approx(0.01482, abs=1e-12)


def test_flagship_reference_itself_saves_nothing(catalog):
    """Sending the tokens to the reference model reports a saving of exactly zero."""
    cost, flagship_cost, saving = price(catalog.flagship, 123, 456, catalog)
    assert cost == flagship_cost
    assert saving == 0


def test_negative_token_count_is_a_clear_error(catalog):
    """A negative token count is refused, naming the parameter."""
    with pytest.raises(ValidationFailed) as info:
        price(catalog.flagship, -1, 10, catalog)
    assert info.value.param == "input_tokens"


def test_prompt_estimate_counts_characters_and_messages():
    """The pre-call estimate is ceil(chars / 4) plus 4 tokens per message."""
    assert estimate_input_tokens(ask("x" * 401)) == 101 + 4
