"""Scripted providers: play a list of outcomes, so routing can be tested without HTTP.

A `ScriptedProvider` implements `providers.base.Provider`. Each call (complete or
stream) takes the next outcome of its script; the last one repeats once the script
runs out. Outcomes:

    Reply("text")                  answer (streamed word by word), optional delay_s
    Fail(errors.RateLimited(...))  raise that error (a fresh copy, model filled in)
    Hang()                         never answer: the caller's timeout has to fire
    Cut("text", after_chunks=2)    stream some chunks, then fail mid-way (or just stop)

`ScriptedPool` stands in for `providers.registry.ProviderPool`: `for_model(spec)` gives
the provider scripted for that model id, or a default one. Usable from users' tests:

    pool = ScriptedPool({"groq/llama-3.1-8b-instant": [Fail(ProviderUnavailable("down"))]})
    router = Router(catalog, pool, settings)
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass

from ..errors import ProviderError, StreamInterrupted, ValidationFailed
from ..schemas import ModelRequest, ModelSpec, ProviderResponse, StreamChunk


@dataclass(frozen=True)
class Reply:
    """An answer; streamed word by word, `every_s` apart (a model that trickles)."""

    text: str = "ok"
    delay_s: float = 0.0
    input_tokens: int | None = None
    output_tokens: int | None = None
    every_s: float = 0.0


@dataclass(frozen=True)
class Fail:
    error: ProviderError
    delay_s: float = 0.0


@dataclass(frozen=True)
class Hang:
    """Wait far longer than any test's timeout."""

    seconds: float = 3600.0


@dataclass(frozen=True)
class Cut:
    """Stream `after_chunks` words, then fail; `silent` ends without error or usage
    instead, as a dropped connection that looks like a clean end."""

    text: str = "partial answer that will be cut"
    after_chunks: int = 1
    silent: bool = False


Outcome = Reply | Fail | Hang | Cut


def count_tokens(text: str) -> int:
    """Scripted token counts: one per whitespace-separated word."""
    return len(text.split())


class ScriptedProvider:
    """A provider that plays its script in order, then repeats the last outcome."""

    simulated = False

    def __init__(
        self,
        outcomes: Iterable[Outcome] = (Reply(),),
        *,
        name: str = "scripted",
        log: list[str] | None = None,
    ) -> None:
        self._script = list(outcomes)
        if not self._script:
            raise ValidationFailed("a script needs at least one outcome", param="outcomes")
        for o in self._script:
            if not isinstance(o, Reply | Fail | Hang | Cut):
                raise ValidationFailed(
                    f"unknown outcome {o!r}: use Reply, Fail, Hang or Cut", param="outcomes"
                )
        self.name = name
        self.calls: list[tuple[str, ModelRequest]] = []
        self.closed = False
        self._log = log

    def _next(self, request: ModelRequest, model: ModelSpec) -> Outcome:
        i = len(self.calls)
        self.calls.append((model.id, request))
        if self._log is not None:
            self._log.append(model.id)
        return self._script[min(i, len(self._script) - 1)]

    @staticmethod
    def _raise(outcome: Fail, model: ModelSpec) -> None:
        err = copy.copy(outcome.error)
        if err.model is None:
            err.model = model.id
        raise err

    @staticmethod
    def _usage(o: Reply | Cut, request: ModelRequest) -> tuple[int, int]:
        given_in = getattr(o, "input_tokens", None)
        given_out = getattr(o, "output_tokens", None)
        return (
            given_in if given_in is not None else count_tokens(request.prompt_text),
            given_out if given_out is not None else count_tokens(o.text),
        )

    async def complete(self, request: ModelRequest, model: ModelSpec) -> ProviderResponse:
        o = self._next(request, model)
        if isinstance(o, Hang):
            await asyncio.sleep(o.seconds)
        if isinstance(o, Fail):
            await asyncio.sleep(o.delay_s)
            self._raise(o, model)
        if isinstance(o, Cut):  # a cut answer, when not streaming, is a dropped connection
            raise StreamInterrupted("connection dropped mid-response", model=model.id)
        assert isinstance(o, Reply)
        await asyncio.sleep(o.delay_s)
        tokens_in, tokens_out = self._usage(o, request)
        return ProviderResponse(
            text=o.text,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            ttft_s=o.delay_s,
            latency_s=o.delay_s,
        )

    async def stream(self, request: ModelRequest, model: ModelSpec) -> AsyncIterator[StreamChunk]:
        o = self._next(request, model)
        if isinstance(o, Hang):
            await asyncio.sleep(o.seconds)
        if isinstance(o, Fail):
            await asyncio.sleep(o.delay_s)
            self._raise(o, model)
        assert isinstance(o, Reply | Cut)
        await asyncio.sleep(getattr(o, "delay_s", 0.0))
        words = o.text.split(" ")
        for i, word in enumerate(words):
            if isinstance(o, Cut) and i >= o.after_chunks:
                if o.silent:
                    return
                raise StreamInterrupted(f"stream cut after {o.after_chunks} chunks", model=model.id)
            yield StreamChunk(delta=word if i == 0 else " " + word)
            await asyncio.sleep(getattr(o, "every_s", 0.0))
        tokens_in, tokens_out = self._usage(o, request)
        yield StreamChunk(
            done=True, input_tokens=tokens_in, output_tokens=tokens_out, finish_reason="stop"
        )

    async def aclose(self) -> None:
        self.closed = True


class ScriptedPool:
    """Pool-like: a scripted provider per model id, a default one for the rest."""

    def __init__(
        self,
        scripts: Mapping[str, Iterable[Outcome]] | None = None,
        default: Iterable[Outcome] = (Reply(),),
    ) -> None:
        self.log: list[str] = []
        self.providers = {
            model_id: ScriptedProvider(outcomes, name=f"scripted:{model_id}", log=self.log)
            for model_id, outcomes in (scripts or {}).items()
        }
        self.default = ScriptedProvider(default, name="scripted:default", log=self.log)

    def for_model(self, spec: ModelSpec) -> ScriptedProvider:
        return self.providers.get(spec.id, self.default)

    def is_simulated(self, spec: ModelSpec) -> bool:
        return False

    def calls(self) -> list[str]:
        """Model ids called, in order, across every scripted provider."""
        return list(self.log)

    def status(self) -> dict[str, object]:
        return {"scripted": {m: len(p.calls) for m, p in self.providers.items()}}

    async def aclose(self) -> None:
        for p in (*self.providers.values(), self.default):
            await p.aclose()
