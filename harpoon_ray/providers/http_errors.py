"""How an HTTP answer from an OpenAI-shaped provider maps onto `harpoon_ray.errors`.

Shared by the SDK adapters (`openai_sdk.py`) and the wire client (`wire.py`), so both
give the same error for the same answer:

    429                 -> RateLimited (retry_after_s from retry-after-ms / Retry-After)
    401, 403            -> AuthError
    408                 -> ProviderTimeout
    5xx                 -> ProviderUnavailable
    any other 4xx       -> BadRequest
"""

from __future__ import annotations

from typing import Any

from ..errors import (
    AuthError,
    BadRequest,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    StreamInterrupted,
)


def retry_after_s(headers: Any) -> float | None:
    """Seconds from `retry-after-ms` or `retry-after` (seconds; HTTP dates are ignored)."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw:
            try:
                return max(0.0, float(raw) / scale)
            except ValueError:
                continue
    return None


def by_status(code: int) -> type[ProviderError]:
    """The error class for an HTTP status the provider answered with."""
    if code == 429:
        return RateLimited
    if code in (401, 403):
        return AuthError
    if code == 408:
        return ProviderTimeout
    if code >= 500:
        return ProviderUnavailable
    return BadRequest


def status_error(
    where: str, code: int, detail: str, model_id: str, headers: Any = None
) -> ProviderError:
    """The typed error for a non-2xx answer, Retry-After included for a 429."""
    cls = by_status(code)
    text = f"{where} answered {code}: {detail}"
    if cls is RateLimited:
        wait = retry_after_s(headers)
        return RateLimited(text, model=model_id, status_code=code, retry_after_s=wait)
    return cls(text, model=model_id, status_code=code)


def stream_broke(where: str, error: ProviderError, chunks: int, model_id: str) -> ProviderError:
    """A stream's failure: itself before any content (the router may still fall back),
    `StreamInterrupted` once content went out (a fallback would repeat it)."""
    if not chunks:
        return error
    return StreamInterrupted(
        f"stream from {where} broke after {chunks} chunks: {error.message}",
        model=model_id,
        status_code=error.status_code,
    )


def stream_unfinished(where: str, model_id: str) -> StreamInterrupted:
    """A stream that ended without its final chunk (no finish reason)."""
    return StreamInterrupted(f"stream from {where} ended without its final chunk", model=model_id)
