"""Smart routing: complexity analysis, model choice, fallback, breakers and cost.

    analyse(text)                         -> ComplexityAnalysis   (complexity.py)
    select(analysis, catalog, c, req, m)  -> RoutingDecision      (selector.py)
    price(spec, in, out, catalog)         -> (cost, flagship, saving)   (cost.py)
    CircuitBreaker                        per-model breaker       (breaker.py)
    RetryPolicy                           backoff + Retry-After   (retry.py)
    Router(catalog, pool, settings)       complete / stream / decide / state (router.py)

Plain asyncio, no Ray: the ModelRouter deployment and the patterns wrap a `Router`.
"""

from .breaker import BreakerState, CircuitBreaker
from .complexity import FLAGSHIP_THRESHOLD, PRIMARY_THRESHOLD, analyse, tier_for
from .cost import price
from .retry import RetryPolicy
from .router import Router
from .selector import AUTO_MODELS, select

__all__ = [
    "AUTO_MODELS",
    "FLAGSHIP_THRESHOLD",
    "PRIMARY_THRESHOLD",
    "BreakerState",
    "CircuitBreaker",
    "RetryPolicy",
    "Router",
    "analyse",
    "price",
    "select",
    "tier_for",
]
