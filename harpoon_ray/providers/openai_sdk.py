"""One adapter for every provider spoken to through an OpenAI-style SDK.

The `openai` SDK (OpenAI, Cloudflare Workers AI, any compatible server) and the `groq` SDK
share a shape: `client.chat.completions.create(...)` and the same exception names, each
SDK with its own classes. `OpenAIStyleProvider` maps a `ModelRequest` onto that call and
every failure onto `harpoon_ray.errors`, always with `model=<catalog id>` and the HTTP
status when there was one:

    RateLimitError (429)          -> RateLimited, retry_after_s from Retry-After
    APITimeoutError               -> ProviderTimeout
    APIConnectionError, 5xx, 408  -> ProviderUnavailable (ProviderTimeout for 408)
    400, 404, 409, 413, 422       -> BadRequest
    401, 403                      -> AuthError
    a malformed body              -> ProviderUnavailable
    a stream that breaks or ends without its final chunk, after content was
    yielded                       -> StreamInterrupted (before any content: as above,
                                     so the router may still fall back)

The SDKs' own retries are off (`max_retries=0`): retries belong to the router. The
status mapping is `http_errors.py`, shared with the wire client (`wire.py`), which is the
default (`HARPOON_UPSTREAM_CLIENT=wire`); these adapters serve `HARPOON_UPSTREAM_CLIENT=sdk`.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import aiohttp
import httpx
import httpx2

from ..errors import ProviderError, ProviderTimeout, ProviderUnavailable
from ..schemas import ModelRequest, ModelSpec, ProviderResponse, StreamChunk
from . import tokens
from .chat_fields import chat_fields
from .http_errors import retry_after_s, status_error, stream_broke, stream_unfinished

__all__ = ["OpenAIStyleProvider", "SDKErrors", "retry_after_s", "usage_of"]


@dataclass(frozen=True)
class SDKErrors:
    """The exception classes of one SDK module (`openai` or `groq`)."""

    timeout: type[BaseException]
    connection: type[BaseException]
    status: type[BaseException]
    validation: type[BaseException]

    @classmethod
    def of(cls, sdk: ModuleType) -> SDKErrors:
        return cls(
            timeout=sdk.APITimeoutError,
            connection=sdk.APIConnectionError,
            status=sdk.APIStatusError,
            validation=sdk.APIResponseValidationError,
        )


# Raised by the transports themselves when an SDK lets them through (the groq SDK does,
# mid-stream); the SDKs' own connection errors wrap the same ones.
_TRANSPORT_TIMEOUTS = (httpx.TimeoutException, httpx2.TimeoutException, TimeoutError)
_TRANSPORT_ERRORS = (httpx.TransportError, httpx2.TransportError, aiohttp.ClientError)


class OpenAIStyleProvider:
    """A `Provider` over an OpenAI-style async client (one client, reused)."""

    simulated = False
    max_tokens_param = "max_tokens"
    stream_options_in_body = False  # the groq SDK lacks `stream_options`: send it raw

    def __init__(self, name: str, client: Any, sdk: ModuleType) -> None:
        self.name = name
        self.client = client
        self._errors = SDKErrors.of(sdk)

    def _params(self, request: ModelRequest, model: ModelSpec, stream: bool) -> dict[str, Any]:
        params = chat_fields(request, model, self.max_tokens_param)
        if request.timeout_s is not None:
            params["timeout"] = request.timeout_s
        if stream:
            params["stream"] = True
            options = {"include_usage": True}
            if self.stream_options_in_body:
                params["extra_body"] = {"stream_options": options}
            else:
                params["stream_options"] = options
        return params

    def map_error(self, exc: BaseException, model: ModelSpec) -> ProviderError:
        """The `harpoon_ray.errors` equivalent of an SDK or transport failure."""
        errors = self._errors
        where = f"{self.name} ({model.id})"
        if isinstance(exc, errors.timeout):
            return ProviderTimeout(f"{where} timed out", model=model.id)
        if isinstance(exc, errors.status):
            detail = getattr(exc, "message", str(exc))
            return status_error(where, exc.status_code, detail, model.id, exc.response.headers)
        if isinstance(exc, errors.connection):
            cause = exc.__cause__ or exc.__context__
            why = f": {type(cause).__name__}: {cause}" if cause else ""
            return ProviderUnavailable(f"{where} could not be reached{why}", model=model.id)
        if isinstance(exc, _TRANSPORT_TIMEOUTS):
            return ProviderTimeout(f"{where} timed out: {type(exc).__name__}", model=model.id)
        if isinstance(exc, _TRANSPORT_ERRORS):
            return ProviderUnavailable(
                f"{where} failed: {type(exc).__name__}: {exc}", model=model.id
            )
        if isinstance(exc, errors.validation | json.JSONDecodeError):
            return ProviderUnavailable(f"{where} sent a malformed body: {exc}", model=model.id)
        raise exc

    async def complete(self, request: ModelRequest, model: ModelSpec) -> ProviderResponse:
        started = time.perf_counter()
        try:
            reply = await self.client.chat.completions.create(
                **self._params(request, model, stream=False)
            )
        except Exception as exc:
            raise self.map_error(exc, model) from exc
        latency = time.perf_counter() - started
        if not reply.choices:
            raise ProviderUnavailable(f"{self.name} ({model.id}) sent no choices", model=model.id)
        choice = reply.choices[0]
        text = choice.message.content or ""
        usage = reply.usage
        return ProviderResponse(
            text=text,
            input_tokens=usage.prompt_tokens if usage else tokens.count_messages(request.messages),
            output_tokens=usage.completion_tokens if usage else tokens.count(text),
            ttft_s=latency,
            latency_s=latency,
            finish_reason=choice.finish_reason or "stop",
        )

    async def stream(self, request: ModelRequest, model: ModelSpec) -> AsyncIterator[StreamChunk]:
        try:
            sdk_stream = await self.client.chat.completions.create(
                **self._params(request, model, stream=True)
            )
        except Exception as exc:
            raise self.map_error(exc, model) from exc
        text: list[str] = []
        finish: str | None = None
        usage: Any = None
        try:
            async for chunk in sdk_stream:
                usage = usage_of(chunk) or usage
                for choice in chunk.choices:
                    finish = choice.finish_reason or finish
                    delta = choice.delta.content if choice.delta else None
                    if delta:
                        text.append(delta)
                        yield StreamChunk(delta=delta)
        except Exception as exc:
            error = self.map_error(exc, model)
            where = f"{self.name} ({model.id})"
            raise stream_broke(where, error, len(text), model.id) from exc
        finally:
            await sdk_stream.close()
        if finish is None:
            raise stream_unfinished(f"{self.name} ({model.id})", model.id)
        joined = "".join(text)
        yield StreamChunk(
            done=True,
            input_tokens=usage.prompt_tokens if usage else tokens.count_messages(request.messages),
            output_tokens=usage.completion_tokens if usage else tokens.count(joined),
            finish_reason=finish,
        )

    async def aclose(self) -> None:
        await self.client.close()


def usage_of(chunk: Any) -> Any:
    """Usage from a chunk: OpenAI's `usage`, or Groq's `x_groq.usage`."""
    if getattr(chunk, "usage", None):
        return chunk.usage
    extra = getattr(chunk, "x_groq", None)
    return getattr(extra, "usage", None) if extra else None
