"""How long a routed call, each of its tries, and each chunk of a stream may take.

A call as a whole is bounded by its deadline (`deadline_s`, else
`Settings.call_deadline_s`, else nothing); each try by the request's `timeout_s`, else a
backstop for hangs of 3x the model's expected time for `max_tokens` (never under
`read_timeout_s`). A stream's `timeout_s` bounds each chunk, not its length: its tries
get the backstop only.
"""

from __future__ import annotations

from ..errors import ValidationFailed
from ..schemas import Attempt, ModelRequest, ModelSpec
from ..settings import Settings
from .retry import all_failed


def call_budget_s(deadline_s: float | None, settings: Settings) -> float | None:
    """The whole call's deadline: the caller's, else `Settings.call_deadline_s` (None:
    only each try's own limit)."""
    budget = settings.call_deadline_s if deadline_s is None else deadline_s
    if budget is not None and not budget > 0:
        raise ValidationFailed(f"deadline_s must be > 0, got {budget}", param="deadline_s")
    return budget


def backstop_s(request: ModelRequest, spec: ModelSpec, settings: Settings) -> float:
    """Generous for `max_tokens` on this model: only a hang reaches it."""
    return max(settings.read_timeout_s, 3 * spec.expected_latency_s(request.max_tokens))


def try_limit_s(request: ModelRequest, spec: ModelSpec, settings: Settings) -> float:
    """One try of a plain call: the request's own limit, else the backstop."""
    return (
        request.timeout_s if request.timeout_s is not None else backstop_s(request, spec, settings)
    )


def chunk_timeout_s(request: ModelRequest, settings: Settings) -> float:
    """Longest wait for the next chunk of a stream (the first one included)."""
    return request.timeout_s if request.timeout_s is not None else settings.read_timeout_s


def within_deadline(
    limit: float, ends: float | None, now: float, attempts: list[Attempt], budget: float | None
) -> float:
    """A try's `limit`, cut to what is left of the call's deadline at `now` (none left:
    the call has failed, with its attempts so far)."""
    if ends is None:
        return limit
    left = ends - now
    if left <= 0:
        raise all_failed(attempts, deadline_s=budget)
    return min(limit, left)
