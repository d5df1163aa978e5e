"""The circuit breaker's state machine, stepped with an injected clock."""

from __future__ import annotations

import pytest

from harpoon_ray.errors import ValidationFailed
from harpoon_ray.routing import BreakerState, CircuitBreaker

from .conftest import SteppedClock


def test_opens_after_the_configured_consecutive_failures():
    """Three failures in a row open a breaker set to three; two do not."""
    b = CircuitBreaker(failures=3, cooldown_s=10, clock=SteppedClock())
    b.record_failure()
    b.record_failure()
    assert b.state is BreakerState.CLOSED and b.allow()
    b.record_failure()
    assert b.state is BreakerState.OPEN
    assert not b.allow()


def test_a_success_resets_the_failure_count():
    """Failures must be consecutive: a success in between starts the count again."""
    b = CircuitBreaker(failures=2, cooldown_s=10, clock=SteppedClock())
    b.record_failure()
    b.record_success()
    b.record_failure()
    assert b.state is BreakerState.CLOSED


def test_half_open_lets_exactly_one_probe_through_after_the_cooldown():
    """After the cool-down one call may probe; a second caller is still refused."""
    clock = SteppedClock()
    b = CircuitBreaker(failures=1, cooldown_s=10, clock=clock)
    b.record_failure()
    clock.advance(9.9)
    assert not b.allow()
    assert b.retry_in_s() == pytest.approx(0.1)
    clock.advance(0.1)
    assert b.state is BreakerState.HALF_OPEN
    assert b.allow()
    assert not b.allow()


def test_successful_probe_closes_the_breaker():
    """A probe that succeeds closes the breaker for everyone."""
    clock = SteppedClock()
    b = CircuitBreaker(failures=1, cooldown_s=5, clock=clock)
    b.record_failure()
    clock.advance(5)
    assert b.allow()
    b.record_success()
    assert b.state is BreakerState.CLOSED
    assert b.allow() and b.allow()


def test_failed_probe_opens_the_breaker_for_another_cooldown():
    """A probe that fails reopens at once, and the cool-down starts over."""
    clock = SteppedClock()
    b = CircuitBreaker(failures=3, cooldown_s=5, clock=clock)
    for _ in range(3):
        b.record_failure()
    clock.advance(5)
    assert b.allow()
    b.record_failure()
    assert b.state is BreakerState.OPEN
    assert b.times_opened == 2
    clock.advance(4)
    assert not b.allow()


def test_an_abandoned_probe_is_released():
    """A probe cancelled without an outcome lets the next caller probe instead."""
    clock = SteppedClock()
    b = CircuitBreaker(failures=1, cooldown_s=1, clock=clock)
    b.record_failure()
    clock.advance(1)
    assert b.allow()
    b.release_probe()
    assert b.allow()


def test_bad_settings_are_refused_by_name():
    """A breaker that could never close or open is refused, naming the parameter."""
    with pytest.raises(ValidationFailed) as info:
        CircuitBreaker(failures=0)
    assert info.value.param == "failures"
