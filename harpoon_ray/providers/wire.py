"""A lean client for OpenAI-shaped chat APIs: the JSON body built directly, the answer
parsed directly, over the process's one shared aiohttp session.

Why: a cProfile of the gateway put ~85 % of a routed call's CPU in the `openai` SDK
(request building, `_transform`, response models), which capped a replica at a few
hundred calls/s. OpenAI, Groq, Cloudflare Workers AI and compatible servers all speak
the same wire format, so one small client serves them all. It is the default
(`HARPOON_UPSTREAM_CLIENT=wire`); the SDK adapters (`openai_sdk.py`) remain the `sdk`
choice, and both give the same results and the same errors for the same answers:

    non-2xx                       -> by status, as `http_errors.py` says (Retry-After kept)
    connect/read timeout          -> ProviderTimeout
    connection refused or reset   -> ProviderUnavailable
    a malformed body or chunk     -> ProviderUnavailable ("malformed")
    a stream that breaks, sends an error or ends without a finish reason, after
    content was yielded           -> StreamInterrupted (before any content: as above,
                                     so the router may still fall back)

No retries here: they belong to the router.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from ..errors import ProviderError, ProviderTimeout, ProviderUnavailable
from ..schemas import ModelRequest, ModelSpec, ProviderResponse, StreamChunk
from ..settings import Settings
from . import tokens
from .chat_fields import chat_fields
from .fastjson import dumps, loads
from .http_errors import status_error, stream_broke, stream_unfinished
from .transport import SessionLease

_MALFORMED = (ValueError, TypeError, AttributeError, KeyError, IndexError)


class Malformed(Exception):
    """The provider's body or stream chunk is not the JSON shape asked for."""


class WireProvider:
    """A `Provider` speaking OpenAI's chat-completions wire format at `url`."""

    simulated = False

    def __init__(
        self,
        name: str,
        url: str,
        api_key: str,
        settings: Settings,
        *,
        max_tokens_param: str = "max_tokens",
    ) -> None:
        self.name = name
        self.url = url
        self.max_tokens_param = max_tokens_param
        self._headers = {
            "authorization": f"Bearer {api_key}",
            "content-type": "application/json",
            "accept": "application/json",
        }
        self._lease = SessionLease(settings)
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=settings.connect_timeout_s, sock_read=settings.read_timeout_s
        )

    @property
    def client(self) -> aiohttp.ClientSession | None:
        """The shared session this provider last used (None before its first call)."""
        return self._lease.session

    def body(self, request: ModelRequest, model: ModelSpec, stream: bool) -> bytes:
        """The request body, as the provider reads it."""
        body = chat_fields(request, model, self.max_tokens_param)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return dumps(body)

    def _post_options(self, payload: bytes, request: ModelRequest) -> dict[str, Any]:
        timeout = self._timeout
        if request.timeout_s is not None:  # the request's own limit, like the SDKs' `timeout`
            timeout = aiohttp.ClientTimeout(
                total=None, connect=request.timeout_s, sock_read=request.timeout_s
            )
        # Redirects are not followed (as the SDKs do not): a 3xx is the provider's answer.
        return {
            "data": payload,
            "headers": self._headers,
            "timeout": timeout,
            "allow_redirects": False,
        }

    def map_error(self, exc: BaseException, model: ModelSpec) -> ProviderError:
        """The `harpoon_ray.errors` equivalent of a transport or parsing failure."""
        where = f"{self.name} ({model.id})"
        if isinstance(exc, ProviderError):
            return exc
        if isinstance(exc, TimeoutError):
            return ProviderTimeout(f"{where} timed out: {type(exc).__name__}", model=model.id)
        if isinstance(exc, aiohttp.ClientConnectionError | OSError):
            why = f"{type(exc).__name__}: {exc}"
            return ProviderUnavailable(f"{where} could not be reached: {why}", model=model.id)
        if isinstance(exc, aiohttp.ClientError):
            return ProviderUnavailable(
                f"{where} failed: {type(exc).__name__}: {exc}", model=model.id
            )
        if isinstance(exc, (Malformed, *_MALFORMED)):
            return ProviderUnavailable(f"{where} sent a malformed body: {exc}", model=model.id)
        raise exc

    def _status_error(
        self, model: ModelSpec, status: int, raw: bytes, headers: Any
    ) -> ProviderError:
        return status_error(f"{self.name} ({model.id})", status, _detail(raw), model.id, headers)

    async def complete(self, request: ModelRequest, model: ModelSpec) -> ProviderResponse:
        session = self._lease.get()
        payload = self.body(request, model, stream=False)
        started = time.perf_counter()
        try:
            async with session.post(self.url, **self._post_options(payload, request)) as resp:
                raw = await resp.read()
                if resp.status >= 300:
                    raise self._status_error(model, resp.status, raw, resp.headers)
            latency = time.perf_counter() - started
            return self._response(raw, request, model, latency)
        except ProviderError:
            raise
        except Exception as exc:
            raise self.map_error(exc, model) from exc

    def _response(
        self, raw: bytes, request: ModelRequest, model: ModelSpec, latency: float
    ) -> ProviderResponse:
        data = loads(raw)
        if not isinstance(data, dict):
            raise Malformed(f"expected a JSON object, got {type(data).__name__}")
        choices = data.get("choices")
        if not choices:
            raise ProviderUnavailable(f"{self.name} ({model.id}) sent no choices", model=model.id)
        choice = choices[0]
        text = (choice.get("message") or {}).get("content") or ""
        prompt, completion = _usage(data.get("usage"))
        return ProviderResponse(
            text=text,
            input_tokens=prompt if prompt is not None else tokens.count_messages(request.messages),
            output_tokens=completion if completion is not None else tokens.count(text),
            ttft_s=latency,
            latency_s=latency,
            finish_reason=choice.get("finish_reason") or "stop",
        )

    async def stream(self, request: ModelRequest, model: ModelSpec) -> AsyncIterator[StreamChunk]:
        session = self._lease.get()
        payload = self.body(request, model, stream=True)
        try:
            resp = await session.post(self.url, **self._post_options(payload, request))
            if resp.status >= 300:
                raw = await resp.read()
                resp.release()
                raise self._status_error(model, resp.status, raw, resp.headers)
        except ProviderError:
            raise
        except Exception as exc:
            raise self.map_error(exc, model) from exc
        parts: list[str] = []
        finish: str | None = None
        usage: Any = None
        clean = False
        try:
            async for data in _sse_events(resp.content):
                if data == b"[DONE]":
                    break
                chunk = loads(data)
                if not isinstance(chunk, dict):
                    raise Malformed(f"expected a JSON object per chunk, got {data[:80]!r}")
                if chunk.get("error"):
                    raise ProviderUnavailable(
                        f"{self.name} ({model.id}) sent an error mid-stream: "
                        f"{_detail(dumps(chunk))}",
                        model=model.id,
                    )
                usage = _stream_usage(chunk) or usage
                for choice in chunk.get("choices") or ():
                    finish = choice.get("finish_reason") or finish
                    delta = (choice.get("delta") or {}).get("content")
                    if delta:
                        parts.append(delta)
                        yield StreamChunk(delta=delta)
            clean = True
        except Exception as exc:
            error = self.map_error(exc, model)
            where = f"{self.name} ({model.id})"
            raise stream_broke(where, error, len(parts), model.id) from exc
        finally:
            # A stream read to its end goes back to the pool; one left half-read is closed.
            if clean:
                resp.release()
            else:
                resp.close()
        if finish is None:
            raise stream_unfinished(f"{self.name} ({model.id})", model.id)
        prompt, completion = _usage(usage)
        yield StreamChunk(
            done=True,
            input_tokens=prompt if prompt is not None else tokens.count_messages(request.messages),
            output_tokens=completion if completion is not None else tokens.count("".join(parts)),
            finish_reason=finish,
        )

    async def aclose(self) -> None:
        await self._lease.release()


async def _sse_events(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """The `data` of each server-sent event (multi-line data joined by newlines)."""
    lines: list[bytes] = []
    async for raw in content:
        line = raw.rstrip(b"\r\n")
        if not line:
            if lines:
                yield b"\n".join(lines)
                lines.clear()
        elif line.startswith(b"data:"):
            value = line[5:]
            lines.append(value[1:] if value.startswith(b" ") else value)
    if lines:
        yield b"\n".join(lines)


def _stream_usage(chunk: dict[str, Any]) -> Any:
    """Usage from a chunk: OpenAI's `usage`, or Groq's `x_groq.usage`."""
    usage = chunk.get("usage")
    if usage:
        return usage
    extra = chunk.get("x_groq")
    return extra.get("usage") if isinstance(extra, dict) else None


def _usage(usage: Any) -> tuple[int | None, int | None]:
    """(prompt, completion) tokens from a usage object; None where it does not say."""
    if not isinstance(usage, dict):
        return None, None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return (
        prompt if isinstance(prompt, int) else None,
        completion if isinstance(completion, int) else None,
    )


def _detail(raw: bytes) -> str:
    """The message of an OpenAI-shaped error body, else the start of the body."""
    try:
        data = loads(raw)
        message = data["error"]["message"]
        if isinstance(message, str):
            return message
    except _MALFORMED:
        pass
    return raw[:200].decode("utf-8", "replace") or "(empty body)"
