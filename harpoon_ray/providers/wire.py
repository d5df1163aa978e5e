"""A lean client for OpenAI-shaped chat APIs: the JSON body built directly, the answer
parsed directly, over the process's one shared pool of keep-alive HTTP/1.1 connections
(`h1.py`: aiohttp's client machinery was ~160 µs of the gateway's CPU per call, the
pool's ~35 µs).

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

from ..errors import ProviderError, ProviderTimeout, ProviderUnavailable
from ..schemas import ModelRequest, ModelSpec, ProviderResponse, StreamChunk
from ..settings import Settings
from . import tokens
from .chat_fields import chat_fields
from .fastjson import dumps, loads
from .h1 import BrokenResponse, H1Pool, PoolLease, Target
from .http_errors import status_error, stream_broke, stream_unfinished

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
        self._lease = PoolLease(settings.pool_connections)
        self._timeouts = (settings.connect_timeout_s, settings.read_timeout_s)
        self._target: Target | None = None

    @property
    def client(self) -> H1Pool | None:
        """The shared connection pool this provider last used (None before its first call)."""
        return self._lease.pool

    @property
    def target(self) -> Target:
        """The URL and the request head sent with every call (a bad URL: ValueError)."""
        if self._target is None:
            self._target = Target(self.url, self._headers)
        return self._target

    def body(self, request: ModelRequest, model: ModelSpec, stream: bool) -> bytes:
        """The request body, as the provider reads it."""
        body = chat_fields(request, model, self.max_tokens_param)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return dumps(body)

    def _limits(self, request: ModelRequest) -> tuple[float, float]:
        """(connect, read) seconds: the request's own limit, like the SDKs' `timeout`, else
        the settings'. Redirects are never followed: a 3xx is the provider's answer."""
        if request.timeout_s is not None:
            return request.timeout_s, request.timeout_s
        return self._timeouts

    def map_error(self, exc: BaseException, model: ModelSpec) -> ProviderError:
        """The `harpoon_ray.errors` equivalent of a transport or parsing failure."""
        where = f"{self.name} ({model.id})"
        if isinstance(exc, ProviderError):
            return exc
        if isinstance(exc, TimeoutError):
            return ProviderTimeout(f"{where} timed out: {type(exc).__name__}", model=model.id)
        if isinstance(exc, BrokenResponse):
            return ProviderUnavailable(f"{where} failed: {exc}", model=model.id)
        if isinstance(exc, OSError):
            why = f"{type(exc).__name__}: {exc}"
            return ProviderUnavailable(f"{where} could not be reached: {why}", model=model.id)
        if isinstance(exc, (Malformed, *_MALFORMED)):
            return ProviderUnavailable(f"{where} sent a malformed body: {exc}", model=model.id)
        raise exc

    def _status_error(
        self, model: ModelSpec, status: int, raw: bytes, headers: Any
    ) -> ProviderError:
        return status_error(f"{self.name} ({model.id})", status, _detail(raw), model.id, headers)

    async def complete(self, request: ModelRequest, model: ModelSpec) -> ProviderResponse:
        pool = self._lease.get()
        payload = self.body(request, model, stream=False)
        connect_s, read_s = self._limits(request)
        started = time.perf_counter()
        try:
            resp = await pool.post(self.target, payload, connect_s, read_s)
            try:
                raw = await resp.read(read_s)
            finally:
                resp.close()  # only if the read did not end cleanly (it released it then)
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
        pool = self._lease.get()
        payload = self.body(request, model, stream=True)
        connect_s, read_s = self._limits(request)
        try:
            resp = await pool.post(self.target, payload, connect_s, read_s)
            if resp.status >= 300:
                try:
                    raw = await resp.read(read_s)
                finally:
                    resp.close()
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
            async for data in _sse_events(resp.chunks(read_s)):
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
            # A stream read to its end may go back to the pool; one left half-read is closed.
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


async def _lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Body bytes cut into lines, line ends removed (a last line without one included)."""
    rest = b""
    async for chunk in chunks:
        rest += chunk
        *complete, rest = rest.split(b"\n")
        for line in complete:
            yield line.rstrip(b"\r")
    if rest:
        yield rest.rstrip(b"\r")


async def _sse_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The `data` of each server-sent event (multi-line data joined by newlines)."""
    lines: list[bytes] = []
    async for line in _lines(chunks):
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
