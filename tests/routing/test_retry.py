"""When the router waits and retries a model, and when it moves on."""

from __future__ import annotations

import random

from harpoon_ray.errors import AuthError, ProviderTimeout, ProviderUnavailable, RateLimited
from harpoon_ray.routing import RetryPolicy
from harpoon_ray.routing.retry import all_failed
from harpoon_ray.schemas import Attempt


def policy(**kw) -> RetryPolicy:
    return RetryPolicy(
        **{"max_retries": 3, "base_s": 0.5, "max_s": 4.0, **kw}, rng=random.Random(1)
    )


def test_jitter_stays_under_the_doubling_cap():
    """Retry n waits somewhere in [0, min(max_s, base_s * 2**n)]."""
    p = policy(max_retries=10)
    for retry, cap in enumerate([0.5, 1.0, 2.0, 4.0, 4.0, 4.0]):
        waits = [p.delay_s(ProviderTimeout("t"), retry) for _ in range(200)]
        assert all(0 <= w <= cap for w in waits)
        assert max(waits) > cap / 2  # jitter spreads over the range, not stuck at 0


def test_retries_stop_when_used_up():
    """After max_retries the answer is to move on."""
    assert policy().delay_s(ProviderUnavailable("x"), 2) is not None
    assert policy().delay_s(ProviderUnavailable("x"), 3) is None


def test_non_retryable_errors_move_on_at_once():
    """A refused key is not retried on the same model."""
    assert policy().delay_s(AuthError("bad key"), 0) is None


def test_retry_after_is_honoured_up_to_the_cap():
    """Retry-After 3 s is waited exactly; 30 s is beyond the 4 s cap, so move on."""
    assert policy().delay_s(RateLimited("429", retry_after_s=3.0), 0) == 3.0
    assert policy().delay_s(RateLimited("429", retry_after_s=30.0), 0) is None


def test_rate_limit_without_retry_after_uses_backoff():
    """A 429 with no Retry-After falls back to the jittered backoff."""
    assert 0 <= policy().delay_s(RateLimited("429"), 1) <= 1.0


def test_chain_failure_summarises_each_model():
    """The AllModelsFailed message names each model and how its tries ended."""
    err = all_failed(
        [
            Attempt(model="a", ok=False, error_type="timeout"),
            Attempt(model="a", ok=False, error_type="timeout", retry=1),
            Attempt(model="b", ok=False, error_type="circuit_open"),
        ]
    )
    assert "a: timeout, timeout; b: circuit_open" in err.message
    assert [x["model"] for x in err.attempts] == ["a", "a", "b"]
