"""Complexity analysis: scores, signals, tiers and reasons on plain prompts."""

from __future__ import annotations

import pytest

from harpoon_ray.errors import ValidationFailed
from harpoon_ray.routing import FLAGSHIP_THRESHOLD, PRIMARY_THRESHOLD, analyse, tier_for
from harpoon_ray.schemas import Tier

from .conftest import HARD, MEDIUM, SIMPLE


def test_score_grows_with_the_difficulty_of_the_ask():
    """A lookup scores below a coding task, which scores below a design question."""
    assert analyse(SIMPLE).score < analyse(MEDIUM).score < analyse(HARD).score


def test_each_score_maps_to_its_tier():
    """The three example prompts land in edge, primary and flagship."""
    assert analyse(SIMPLE).tier is Tier.EDGE
    assert analyse(MEDIUM).tier is Tier.PRIMARY
    assert analyse(HARD).tier is Tier.FLAGSHIP


def test_thresholds_are_the_tier_boundaries():
    """A score exactly at a threshold belongs to the tier above it."""
    assert tier_for(PRIMARY_THRESHOLD - 0.001) is Tier.EDGE
    assert tier_for(PRIMARY_THRESHOLD) is Tier.PRIMARY
    assert tier_for(FLAGSHIP_THRESHOLD) is Tier.FLAGSHIP
    assert 0 < PRIMARY_THRESHOLD < FLAGSHIP_THRESHOLD < 1


def test_signals_name_what_was_found():
    """Code and maths in a prompt show up as their signals, each in [0, 1]."""
    a = analyse("Fix this: `def area(r): return 3.14 * r ** 2` so the integral test passes.")
    assert a.signals["code"] > 0
    assert a.signals["maths"] > 0
    assert all(0 <= v <= 1 for v in a.signals.values())


def test_reason_is_one_line_naming_the_strongest_signals():
    """The reason states score, tier and the main signals on one line."""
    a = analyse(HARD)
    assert "\n" not in a.reason
    assert a.reason.startswith(f"score {a.score:.2f} -> flagship")
    assert "reasoning" in a.reason


def test_empty_and_huge_prompts_stay_in_range():
    """An empty prompt scores 0; a 200k-character prompt still returns a score <= 1."""
    assert analyse("").score == 0
    assert analyse("").tier is Tier.EDGE
    huge = analyse("Analyse the trade-offs of this design. " * 5_000)
    assert 0 <= huge.score <= 1
    assert huge.signals["length"] == 1.0


def test_simple_asks_are_discounted():
    """The same length of text scores lower when it reads as a greeting or lookup."""
    assert (
        analyse("Hello! How many legs does a spider have?").score
        < analyse("Describe the legs of a spider and how they move.").score
    )


def test_analysis_is_deterministic():
    """The same text always gets the same analysis."""
    assert analyse(HARD) == analyse(HARD)


@pytest.mark.parametrize("bad", [None, 42, b"bytes", ["a list"]])
def test_non_text_is_a_clear_error(bad):
    """Anything but a string is refused with a typed error naming `text`."""
    with pytest.raises(ValidationFailed) as info:
        analyse(bad)
    assert info.value.param == "text"
