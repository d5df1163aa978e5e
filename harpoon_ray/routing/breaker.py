"""A circuit breaker per model: stop calling a model that keeps failing, probe it later.

    closed --(N consecutive failures)--> open --(cool-down elapsed)--> half-open
    half-open --(probe succeeds)--> closed;  half-open --(probe fails)--> open

While open, the router skips the model and records `circuit_open` for it. In half-open
exactly one call (the probe) is let through; others keep skipping until it reports. The
clock is injectable so tests step time instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

from ..errors import ValidationFailed


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """One model's breaker. Not thread-safe: one event loop owns it."""

    def __init__(
        self,
        failures: int = 5,
        cooldown_s: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1:
            raise ValidationFailed(f"failures must be >= 1, got {failures}", param="failures")
        if cooldown_s < 0:
            raise ValidationFailed(f"cooldown_s must be >= 0, got {cooldown_s}", param="cooldown_s")
        self.failures_to_open = failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        self._opened_at: float | None = None
        self._probe_out = False
        self.times_opened = 0

    @property
    def state(self) -> BreakerState:
        """The state now; an open breaker whose cool-down has passed reads half-open."""
        if self._state is BreakerState.OPEN and self._cooled_down():
            return BreakerState.HALF_OPEN
        return self._state

    def _cooled_down(self) -> bool:
        return self._opened_at is not None and self._clock() - self._opened_at >= self.cooldown_s

    def allow(self) -> bool:
        """May a call go to this model now? In half-open, only the one probe may."""
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            if not self._cooled_down():
                return False
            self._state = BreakerState.HALF_OPEN
            self._probe_out = False
        if self._probe_out:
            return False
        self._probe_out = True
        return True

    def release_probe(self) -> None:
        """The probe was abandoned (cancelled) without an outcome: let another try."""
        self._probe_out = False

    def record_success(self) -> None:
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        self._opened_at = None
        self._probe_out = False

    def record_failure(self) -> None:
        self._consecutive += 1
        if self._state is BreakerState.HALF_OPEN or self._consecutive >= self.failures_to_open:
            self._open()

    def _open(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()
        self._probe_out = False
        self.times_opened += 1

    def retry_in_s(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when it would now)."""
        if self._state is not BreakerState.OPEN or self._opened_at is None:
            return 0.0
        return max(0.0, self.cooldown_s - (self._clock() - self._opened_at))

    def snapshot(self) -> dict[str, object]:
        return {
            "state": self.state.value,
            "consecutive_failures": self._consecutive,
            "times_opened": self.times_opened,
            "retry_in_s": round(self.retry_in_s(), 3),
        }
