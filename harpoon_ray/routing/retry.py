"""When to try a model again, and how the failure of a whole chain is reported.

Backoff is exponential with full jitter (a uniform draw under the capped exponential),
so many callers failing together do not retry in step. A Retry-After is honoured as
given; one longer than `backoff_max_s` means the model is out for a while, and the next
model in the chain is tried instead of waiting.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..errors import AllModelsFailed, ProviderError, RateLimited
from ..schemas import Attempt


@dataclass
class RetryPolicy:
    max_retries: int = 2
    base_s: float = 0.25
    max_s: float = 8.0
    rng: random.Random = field(default_factory=random.Random)

    def delay_s(self, err: ProviderError, retry: int) -> float | None:
        """Seconds to wait before retry number `retry + 1` of the same model, or None to
        move on (not retryable, retries used up, or a Retry-After beyond the cap)."""
        if not err.retryable or retry >= self.max_retries:
            return None
        if isinstance(err, RateLimited) and err.retry_after_s is not None:
            return err.retry_after_s if err.retry_after_s <= self.max_s else None
        return self.rng.uniform(0, min(self.max_s, self.base_s * 2**retry))


def all_failed(attempts: list[Attempt], *, deadline_s: float | None = None) -> AllModelsFailed:
    """The error for a chain with no success: each model tried, and how each try ended;
    with `deadline_s`, the call's time ran out before the chain did."""
    tried: dict[str, list[str]] = {}
    for a in attempts:
        tried.setdefault(a.model, []).append(a.error_type or "error")
    summary = "; ".join(f"{m}: {', '.join(kinds)}" for m, kinds in tried.items())
    if deadline_s is not None:
        head = f"the call's deadline of {deadline_s:g}s ran out before any model answered"
    else:
        head = "every model in the fallback chain failed"
    return AllModelsFailed(
        f"{head} ({summary or 'no model was tried'})",
        attempts=[a.model_dump() for a in attempts],
    )
