"""The router: choose a model, call it, retry, fall back, and price the answer.

For each model of the decision's chain (chosen model, then its fallbacks), in order:
skip it when its circuit breaker is open; otherwise call it, retrying retryable errors
with exponential backoff and full jitter (or the provider's Retry-After), up to
`Settings.max_retries`; then move on. Every try is an `Attempt`; when the chain runs
out, `AllModelsFailed` carries them all.

The chain is the decision's model and at most `Settings.max_fallbacks` fallbacks, and
`Settings.call_deadline_s` (or `deadline_s=` of `complete` and `stream`) bounds a whole call,
retries and backoff included: a prompt whose models all fail gives up in bounded time
instead of walking every model of the catalog with every retry.

Every call comes through here, so the path is kept cheap: a pinned model is neither
analysed nor compared with the catalog; analyses of recent prompts, and decisions for
recent unconstrained requests, are cached (both pure); the catalog is indexed once.

Streaming differs in one way: once a chunk has reached the caller, another model
cannot take over without the caller seeing two answers spliced together, so a failure
after that point raises `StreamInterrupted` instead of falling back.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from ..catalog import Catalog
from ..errors import (
    BadRequest,
    ProviderError,
    ProviderTimeout,
    StreamInterrupted,
)
from ..providers.base import Provider
from ..schemas import (
    Attempt,
    Completion,
    ComplexityAnalysis,
    Constraints,
    ModelRequest,
    ModelSpec,
    RoutingDecision,
    StreamChunk,
)
from ..settings import Settings, get_settings
from ..unicode import valid_text
from . import complexity, selector
from .breaker import CircuitBreaker
from .cost import estimate_input_tokens, estimate_output_tokens, priced_completion
from .inputs import checked
from .limits import backstop_s, call_budget_s, chunk_timeout_s, try_limit_s, within_deadline
from .retry import RetryPolicy, all_failed
from .selector import CatalogIndex

# Analyses kept per router, and the longest prompt worth keeping: the key is the text.
ANALYSIS_CACHE_SIZE = 4096
ANALYSIS_CACHE_MAX_CHARS = 4096
DECISION_CACHE_SIZE = 4096


class Pool(Protocol):
    """What the router needs of `providers.registry.ProviderPool`."""

    def for_model(self, spec: ModelSpec) -> Provider: ...


class Router:
    """Routing, retries, fallback and breakers over a catalog and a provider pool."""

    def __init__(
        self,
        catalog: Catalog,
        pool: Pool,
        settings: Settings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.catalog = catalog
        self.pool = pool
        self.settings = settings or get_settings()
        self._clock = clock
        self.retry = RetryPolicy(
            self.settings.max_retries,
            self.settings.backoff_base_s,
            self.settings.backoff_max_s,
            rng or random.Random(),
        )
        self._sleep = sleep
        self._breakers: dict[str, CircuitBreaker] = {}
        self._index = CatalogIndex.of(catalog)
        self._analyses: OrderedDict[str, ComplexityAnalysis] = OrderedDict()
        self._decisions: OrderedDict[tuple, RoutingDecision] = OrderedDict()

    # ------------------------------------------------------------------ choosing

    def analyse(self, text: str) -> ComplexityAnalysis:
        """`complexity.analyse`, remembered for recent prompts of chat size. The same
        prompt is often routed twice (a budget check, then the call; a retried step)."""
        if not isinstance(text, str) or len(text) > ANALYSIS_CACHE_MAX_CHARS:
            return complexity.analyse(text)
        cache = self._analyses
        found = cache.get(text)
        if found is not None:
            cache.move_to_end(text)
            return found
        found = cache[text] = complexity.analyse(text)
        if len(cache) > ANALYSIS_CACHE_SIZE:
            cache.popitem(last=False)
        return found

    def decide(
        self,
        request: ModelRequest,
        constraints: Constraints | None = None,
        model: str | None = None,
    ) -> RoutingDecision:
        """The model for `request` and its fallbacks (at most `Settings.max_fallbacks`);
        judged on the last user message."""
        request, constraints = checked(request, constraints, model)
        analysis = self.analyse(request.last_user_text)
        return self._bounded(
            selector.select(analysis, self.catalog, constraints, request, model, index=self._index)
        )

    def _decide_to_call(
        self, request: ModelRequest, constraints: Constraints | None, model: str | None
    ) -> RoutingDecision:
        """`decide` for checked inputs; a pin skips the analysis, which cannot change it."""
        if selector.is_pin(model):
            return selector.pinned(model, self.catalog, constraints, request)  # type: ignore[arg-type]
        text, key, cache = request.last_user_text, None, self._decisions
        if constraints is None and len(text) <= ANALYSIS_CACHE_MAX_CHARS:
            est = estimate_input_tokens(request)  # all the selector reads of the request
            key = (model, request.max_tokens, request.json_mode, est, text)
            if (found := cache.get(key)) is not None:
                cache.move_to_end(key)
                return found
        analysis = self.analyse(text)
        decision = self._bounded(
            selector.select(analysis, self.catalog, constraints, request, model, index=self._index)
        )
        if key is not None:
            cache[key] = decision
            if len(cache) > DECISION_CACHE_SIZE:
                cache.popitem(last=False)
        return decision

    def _bounded(self, decision: RoutingDecision) -> RoutingDecision:
        """Cut the fallback chain to `Settings.max_fallbacks` models after the first."""
        limit = self.settings.max_fallbacks
        if len(decision.fallbacks) <= limit:
            return decision
        return decision.model_copy(update={"fallbacks": decision.fallbacks[:limit]})

    def breaker(self, model_id: str) -> CircuitBreaker:
        b = self._breakers.get(model_id)
        if b is None:
            b = CircuitBreaker(
                self.settings.breaker_failures, self.settings.breaker_cooldown_s, clock=self._clock
            )
            self._breakers[model_id] = b
        return b

    def state(self) -> dict[str, dict[str, object]]:
        """Every catalog model's breaker: state, consecutive failures, times opened."""
        return {m.id: self.breaker(m.id).snapshot() for m in self.catalog.models}

    # ------------------------------------------------------------------ calling

    async def complete(
        self,
        request: ModelRequest,
        constraints: Constraints | None = None,
        model: str | None = None,
        *,
        deadline_s: float | None = None,
        decision: RoutingDecision | None = None,
    ) -> Completion:
        """Answer `request` with the first model of the chain that succeeds, within
        `deadline_s` (default `Settings.call_deadline_s`; None: each try's own limit only).

        `decision`: a `decide()` made earlier for a request of the same shape (the many
        takes of one fan-out step), used as is, fallbacks included, instead of deciding
        again: at 10,000 sub-agents the analysis and selection were ~40% of their CPU."""
        request, constraints = checked(request, constraints, model)
        budget = call_budget_s(deadline_s, self.settings)
        if decision is None:
            decision = self._decide_to_call(request, constraints, model)
        started = self._clock()
        ends = None if budget is None else started + budget
        attempts: list[Attempt] = []
        for spec in self._chain(decision):
            b = self.breaker(spec.id)
            for retry in range(self.retry.max_retries + 1):
                limit = within_deadline(
                    try_limit_s(request, spec, self.settings), ends, self._clock(), attempts, budget
                )
                if not self._admit(b, spec, retry, attempts):
                    break
                t0 = self._clock()
                try:
                    async with asyncio.timeout(limit):
                        resp = await self.pool.for_model(spec).complete(request, spec)
                except (ProviderError, TimeoutError) as exc:
                    err = self._failed(b, spec, exc, t0, retry, attempts)
                except asyncio.CancelledError:
                    b.release_probe()
                    raise
                else:
                    b.record_success()
                    attempts.append(
                        Attempt(model=spec.id, ok=True, latency_s=self._clock() - t0, retry=retry)
                    )
                    return priced_completion(
                        self.catalog,
                        spec,
                        decision,
                        attempts,
                        text=valid_text(resp.text),
                        tokens=(resp.input_tokens, resp.output_tokens),
                        ttft_s=(t0 - started) + resp.ttft_s,
                        latency_s=self._clock() - started,
                        finish_reason=resp.finish_reason,
                        simulated=resp.simulated or self._simulated(spec),
                    )
                if not await self._wait_before_retry(err, retry, ends):
                    break
        if ends is not None and ends - self._clock() <= 0:
            raise all_failed(attempts, deadline_s=budget)
        raise all_failed(attempts)

    async def stream(
        self,
        request: ModelRequest,
        constraints: Constraints | None = None,
        model: str | None = None,
        *,
        deadline_s: float | None = None,
    ) -> AsyncIterator[StreamChunk | Completion]:
        """Yield text deltas as `StreamChunk`s, then one `Completion` with the totals.

        Each chunk must come within the chunk timeout, and the whole call within
        `deadline_s` (default `Settings.call_deadline_s`), each try within a backstop of
        3x the model's expected time for `max_tokens`: a model that trickles a token just
        inside the chunk timeout is cut, not followed for hours. Past the first chunk a
        cut ends the stream with `StreamInterrupted`, as any failure there does."""
        request, constraints = checked(request, constraints, model)
        budget = call_budget_s(deadline_s, self.settings)
        decision = self._decide_to_call(request, _needing_streaming(constraints), model)
        started = self._clock()
        ends = None if budget is None else started + budget
        attempts: list[Attempt] = []
        for spec in self._chain(decision):
            b = self.breaker(spec.id)
            for retry in range(self.retry.max_retries + 1):
                limit = within_deadline(
                    backstop_s(request, spec, self.settings), ends, self._clock(), attempts, budget
                )
                if not self._admit(b, spec, retry, attempts):
                    break
                t0 = self._clock()
                try_ends = t0 + limit
                parts: list[str] = []
                first_at: float | None = None
                final: StreamChunk | None = None
                simulated = self._simulated(spec)
                source = self.pool.for_model(spec).stream(request, spec)
                try:
                    try:
                        while True:
                            wait = min(
                                chunk_timeout_s(request, self.settings), try_ends - self._clock()
                            )
                            async with asyncio.timeout(max(wait, 0.0)):
                                chunk = await anext(source)
                            simulated = simulated or chunk.simulated
                            if chunk.done:
                                final = chunk
                                break
                            if not chunk.delta:
                                continue
                            delta = valid_text(chunk.delta)
                            if first_at is None:
                                first_at = self._clock()
                            parts.append(delta)
                            yield StreamChunk(delta=delta, simulated=simulated)
                    except StopAsyncIteration:
                        raise StreamInterrupted(
                            "the stream ended without its final chunk", model=spec.id
                        ) from None
                    finally:
                        close = getattr(source, "aclose", None)
                        if close is not None:  # a plain async iterator has nothing to close
                            await close()
                except (ProviderError, TimeoutError) as exc:
                    err = self._failed(b, spec, exc, t0, retry, attempts)
                    if first_at is not None:
                        raise StreamInterrupted(
                            f"the stream from {spec.id} failed after {len(parts)} chunks had "
                            f"been sent ({err.error_type}: {err.message}); the answer is "
                            "incomplete",
                            model=spec.id,
                        ) from exc
                except BaseException:  # cancelled, or the caller closed the stream
                    b.release_probe()
                    raise
                else:
                    b.record_success()
                    attempts.append(
                        Attempt(model=spec.id, ok=True, latency_s=self._clock() - t0, retry=retry)
                    )
                    text = "".join(parts)
                    yield priced_completion(
                        self.catalog,
                        spec,
                        decision,
                        attempts,
                        text=text,
                        tokens=(
                            final.input_tokens
                            if final.input_tokens is not None
                            else estimate_input_tokens(request),
                            final.output_tokens
                            if final.output_tokens is not None
                            else estimate_output_tokens(text),
                        ),
                        ttft_s=(first_at if first_at is not None else self._clock()) - started,
                        latency_s=self._clock() - started,
                        finish_reason=final.finish_reason or "stop",
                        simulated=simulated,
                    )
                    return
                if not await self._wait_before_retry(err, retry, ends):
                    break
        if ends is not None and ends - self._clock() <= 0:
            raise all_failed(attempts, deadline_s=budget)
        raise all_failed(attempts)

    # ------------------------------------------------------------------ helpers

    def _chain(self, decision: RoutingDecision) -> list[ModelSpec]:
        return [self.catalog.get(m) for m in (decision.model, *decision.fallbacks)]

    def _simulated(self, spec: ModelSpec) -> bool:
        is_simulated = getattr(self.pool, "is_simulated", None)
        return bool(is_simulated(spec)) if is_simulated is not None else False

    def _admit(
        self, b: CircuitBreaker, spec: ModelSpec, retry: int, attempts: list[Attempt]
    ) -> bool:
        """Let a call through the breaker, or record that it was skipped."""
        if b.allow():
            return True
        attempts.append(
            Attempt(
                model=spec.id,
                ok=False,
                error_type="circuit_open",
                message=f"circuit open after repeated failures; probe in {b.retry_in_s():.1f}s",
                retry=retry,
            )
        )
        return False

    def _failed(
        self,
        b: CircuitBreaker,
        spec: ModelSpec,
        exc: ProviderError | TimeoutError,
        t0: float,
        retry: int,
        attempts: list[Attempt],
    ) -> ProviderError:
        """Record a failed try; a request the provider refused says nothing of its health."""
        if isinstance(exc, ProviderError):
            err = exc
        else:
            err = ProviderTimeout(f"no answer from {spec.id} within the deadline", model=spec.id)
        if isinstance(err, BadRequest):
            b.release_probe()
        else:
            b.record_failure()
        attempts.append(
            Attempt(
                model=spec.id,
                ok=False,
                error_type=err.error_type,
                message=err.message,
                latency_s=self._clock() - t0,
                retry=retry,
            )
        )
        return err

    def backoff_s(self, err: ProviderError, retry: int) -> float | None:
        """Seconds to wait before retrying the same model, or None to move on."""
        return self.retry.delay_s(err, retry)

    async def _wait_before_retry(
        self, err: ProviderError, retry: int, ends: float | None = None
    ) -> bool:
        """Wait out the backoff and say whether to retry; a wait that would outlast the
        call's deadline is not started (the next model is tried in what time is left)."""
        wait = self.backoff_s(err, retry)
        if wait is None:
            return False
        if ends is not None and self._clock() + wait >= ends:
            return False
        await self._sleep(wait)
        return True


def _needing_streaming(constraints: Constraints | None) -> Constraints:
    """A stream may only go to models whose catalog entry says they stream."""
    c = constraints or Constraints()
    if "streaming" in c.required_capabilities:
        return c
    return c.model_copy(update={"required_capabilities": [*c.required_capabilities, "streaming"]})
