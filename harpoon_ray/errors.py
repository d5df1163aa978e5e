"""Harpoon's exception hierarchy. Imports nothing of ours, so every layer can use it.

    HarpoonError
    ├── UserError                  the caller's mistake: maps to 4xx, never retried
    │   ├── ValidationFailed       a field is missing, malformed or out of range
    │   ├── NotFound               an unknown model, covenant, pattern ...
    │   ├── ConstraintUnsatisfiable no model meets the constraints asked for
    │   └── ConfigError            a missing key, a bad config file
    └── ProviderError              a model call failed
        ├── RateLimited            429; carries retry_after_s          (retryable)
        ├── ProviderTimeout        connect/read timeout or a hang      (retryable)
        ├── ProviderUnavailable    5xx, connection refused             (retryable)
        ├── StreamInterrupted      a stream cut after it had started   (not retryable)
        ├── BadRequest             the provider refused the request    (not retryable)
        ├── AuthError              the key was refused                 (not retryable)
        └── MalformedOutput        a model's reply never matched the schema asked for
    AllModelsFailed                every model in the fallback chain failed

Every exception pickles through `__reduce__` with all its fields, because they cross
Ray process boundaries (a sub-agent task's error reaches the orchestrator actor).
"""

from __future__ import annotations

from typing import Any

from .unicode import valid_text


class HarpoonError(Exception):
    """Base of every error Harpoon raises on purpose."""

    http_status = 500
    error_type = "internal_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        message = valid_text(message)  # may quote a provider's error body
        super().__init__(message)
        self.message = message
        self.param = param

    def _fields(self) -> dict[str, Any]:
        return {"param": self.param}

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self._fields()))

    def to_dict(self) -> dict[str, Any]:
        """The body clients get: `{"type", "message", "param"}`."""
        return {"type": self.error_type, "message": self.message, "param": self.param}


def _rebuild(cls: type[HarpoonError], message: str, fields: dict[str, Any]) -> HarpoonError:
    return cls(message, **fields)


class UserError(HarpoonError):
    http_status = 400
    error_type = "invalid_request_error"


class ValidationFailed(UserError):
    http_status = 422


class NotFound(UserError):
    http_status = 404
    error_type = "not_found_error"


class ConstraintUnsatisfiable(UserError):
    http_status = 422
    error_type = "constraint_unsatisfiable"


class ConfigError(UserError):
    error_type = "config_error"


class ProviderError(HarpoonError):
    """A model call failed. `model` is the catalog id of the model that failed."""

    http_status = 502
    error_type = "provider_error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        status_code: int | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message, param=param)
        self.model = model
        self.status_code = status_code

    def _fields(self) -> dict[str, Any]:
        return {"param": self.param, "model": self.model, "status_code": self.status_code}


class RateLimited(ProviderError):
    http_status = 429
    error_type = "rate_limited"
    retryable = True

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after_s = retry_after_s

    def _fields(self) -> dict[str, Any]:
        return {**super()._fields(), "retry_after_s": self.retry_after_s}


class ProviderTimeout(ProviderError):
    http_status = 504
    error_type = "timeout"
    retryable = True


class ProviderUnavailable(ProviderError):
    http_status = 503
    error_type = "provider_unavailable"
    retryable = True


class StreamInterrupted(ProviderError):
    error_type = "stream_interrupted"


class BadRequest(ProviderError):
    http_status = 400
    error_type = "provider_bad_request"


class AuthError(ProviderError):
    http_status = 401
    error_type = "provider_auth_error"


class MalformedOutput(ProviderError):
    """A model's reply (a plan, a score) still failed validation after being re-asked."""

    error_type = "malformed_output"


class AllModelsFailed(HarpoonError):
    """Every model of the fallback chain failed; `attempts` says which and why."""

    error_type = "all_models_failed"

    def __init__(
        self,
        message: str,
        *,
        attempts: list[dict[str, Any]] | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message, param=param)
        self.attempts = attempts or []
        self.http_status = _status_for(self.attempts)

    def _fields(self) -> dict[str, Any]:
        return {"param": self.param, "attempts": self.attempts}

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "attempts": self.attempts}


def _status_for(attempts: list[dict[str, Any]]) -> int:
    """504 when every attempt timed out, 503 when all were unavailable, else 502."""
    kinds = {a.get("error_type") for a in attempts if a.get("error_type")}
    if kinds == {"timeout"}:
        return 504
    if kinds and kinds <= {"provider_unavailable", "rate_limited", "circuit_open"}:
        return 503
    return 502
