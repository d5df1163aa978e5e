"""The router's tier accuracy on the labelled prompt set in prompts.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

from harpoon_ray.routing import analyse

PROMPTS = tomllib.loads((Path(__file__).parent / "prompts.toml").read_text())["prompts"]
MIN_ACCURACY = 0.80


def _results(prompts):
    return [(p, analyse(p["text"]).tier.value) for p in prompts]


def test_the_labelled_set_is_big_enough():
    """At least 60 prompts, 20 or more per tier, and a held-out handful per tier."""
    for tier in ("edge", "primary", "flagship"):
        assert sum(p["tier"] == tier for p in PROMPTS) >= 20, tier
        assert sum(p["tier"] == tier and p.get("held_out", False) for p in PROMPTS) >= 3, tier
    assert len(PROMPTS) >= 60


def test_tier_accuracy_is_at_least_80_percent():
    """Analysis picks the labelled tier for >= 80% of prompts, held-out ones included."""
    results = _results(PROMPTS)
    held = [(p, got) for p, got in results if p.get("held_out")]
    accuracy = sum(p["tier"] == got for p, got in results) / len(results)
    held_accuracy = sum(p["tier"] == got for p, got in held) / len(held)
    print(f"\nrouter tier accuracy: {accuracy:.1%} of {len(results)} prompts")
    print(f"held-out accuracy: {held_accuracy:.1%} of {len(held)} prompts")
    for p, got in results:
        if p["tier"] != got:
            print(f"  expected {p['tier']:8} got {got:8} {p['text'][:70]!r}")
    assert accuracy >= MIN_ACCURACY


def test_no_flagship_prompt_is_routed_to_edge():
    """A hard prompt may land on primary at worst, never on the edge tier."""
    to_edge = [
        p["text"][:70] for p, got in _results(PROMPTS) if p["tier"] == "flagship" and got == "edge"
    ]
    assert to_edge == []
