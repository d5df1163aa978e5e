"""The embedded provider: answers with no key and no network, at a catalog model's pace.

It stands in for every provider that has no key (and for all of them under
`HARPOON_FORCE_SIMULATED`). Text comes from `simulated_text` (role-shaped, deterministic
for `Settings.simulated_seed` + the request's seed + the prompt + the model); tokens are
counted by `tokens`; timing follows the catalog: `ttft_s`, then `tokens_per_s`, both
scaled by `simulated_speed`. Waits are `asyncio.sleep`s batched to at least a few
milliseconds, so thousands of simulated calls share one event loop cheaply.

Faults are injected from `Settings` (error rate, latency spikes, cut streams) or per
instance, e.g. `SimulatedProvider(settings, error_rate=1.0)` in a test. Structured answers
(plans, evaluations, JSON mode) are never cut at `max_tokens`, so they always parse.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError, ProviderUnavailable, StreamInterrupted
from ..schemas import ModelRequest, ModelSpec, ProviderResponse, StreamChunk
from ..settings import Settings
from . import simulated_text, tokens

PIECES_PER_CHUNK = 4
MIN_SLEEP_S = 0.002
_STRUCTURED = frozenset({"plan", "evaluate"})


class Simulation(BaseModel):
    """How the simulated provider behaves: speed, seed and faults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    speed: float = Field(default=1.0, gt=0, description="Catalog time x this factor.")
    seed: int = 0
    error_rate: float = Field(default=0.0, ge=0, le=1)
    spike_rate: float = Field(default=0.0, ge=0, le=1)
    spike_s: float = Field(default=2.0, ge=0, description="Extra wait of a spike (times speed).")
    cut_rate: float = Field(default=0.0, ge=0, le=1)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> Simulation:
        values = {
            "speed": settings.simulated_speed,
            "seed": settings.simulated_seed,
            "error_rate": settings.simulated_error_rate,
            "spike_rate": settings.simulated_spike_rate,
            "spike_s": settings.simulated_spike_s,
            "cut_rate": settings.simulated_cut_rate,
        }
        try:
            return cls.model_validate({**values, **overrides})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"simulated provider: {where}: {first['msg']}", param=where) from None


class SimulatedProvider:
    """A `Provider` that makes its answers up; every response says `simulated=True`."""

    simulated = True

    def __init__(
        self, settings: Settings | None = None, *, name: str = "simulated", **overrides: Any
    ) -> None:
        self.name = name
        self.sim = Simulation.from_settings(settings or Settings(), **overrides)
        # Faults draw from their own stream so they never change the text.
        self._faults = random.Random(self.sim.seed)

    def _rng(self, request: ModelRequest, model: ModelSpec) -> random.Random:
        key = f"{self.sim.seed}|{request.seed}|{model.id}|{request.purpose}|{request.prompt_text}"
        return random.Random(hashlib.blake2b(key.encode(), digest_size=8).digest())

    def _answer(self, request: ModelRequest, model: ModelSpec) -> tuple[list[str], str]:
        text = simulated_text.generate(
            request.prompt_text, request.purpose, self._rng(request, model), request.json_mode
        )
        pieces = tokens.pieces(text)
        structured = request.purpose in _STRUCTURED or request.json_mode
        if not structured and len(pieces) > request.max_tokens:
            return pieces[: request.max_tokens], "length"
        return pieces, "stop"

    async def _first_token_wait(self, model: ModelSpec) -> None:
        """Time to first token, a spike now and then, and an injected failure."""
        wait = model.ttft_s * self.sim.speed
        if self.sim.spike_rate and self._faults.random() < self.sim.spike_rate:
            wait += self.sim.spike_s * self.sim.speed
        if wait >= MIN_SLEEP_S:
            await asyncio.sleep(wait)
        if self.sim.error_rate and self._faults.random() < self.sim.error_rate:
            raise ProviderUnavailable(
                f"simulated failure of {model.id} (error rate {self.sim.error_rate:g})",
                model=model.id,
                status_code=503,
            )

    def _per_token_s(self, model: ModelSpec) -> float:
        return self.sim.speed / model.tokens_per_s

    async def complete(self, request: ModelRequest, model: ModelSpec) -> ProviderResponse:
        started = time.perf_counter()
        await self._first_token_wait(model)
        ttft = time.perf_counter() - started
        pieces, finish = self._answer(request, model)
        generation = len(pieces) * self._per_token_s(model)
        if generation >= MIN_SLEEP_S:
            await asyncio.sleep(generation)
        return ProviderResponse(
            text="".join(pieces),
            input_tokens=tokens.count_messages(request.messages),
            output_tokens=len(pieces),
            ttft_s=ttft,
            latency_s=time.perf_counter() - started,
            finish_reason=finish,
            simulated=True,
        )

    async def stream(self, request: ModelRequest, model: ModelSpec) -> AsyncIterator[StreamChunk]:
        loop = asyncio.get_running_loop()
        await self._first_token_wait(model)
        pieces, finish = self._answer(request, model)
        cut_at = None
        if self.sim.cut_rate and self._faults.random() < self.sim.cut_rate:
            cut_at = self._faults.randrange(1, max(2, len(pieces)))
        per_token = self._per_token_s(model)
        due = loop.time()
        sent = 0
        for i in range(0, len(pieces), PIECES_PER_CHUNK):
            if cut_at is not None and i >= cut_at:
                raise StreamInterrupted(
                    f"simulated stream of {model.id} cut after {sent} tokens",
                    model=model.id,
                )
            group = pieces[i : i + PIECES_PER_CHUNK]
            due += len(group) * per_token
            ahead = due - loop.time()
            if ahead >= MIN_SLEEP_S:
                await asyncio.sleep(ahead)
            sent += len(group)
            yield StreamChunk(delta="".join(group), simulated=True)
        if cut_at is not None:
            raise StreamInterrupted(
                f"simulated stream of {model.id} cut before its last chunk", model=model.id
            )
        yield StreamChunk(
            done=True,
            input_tokens=tokens.count_messages(request.messages),
            output_tokens=len(pieces),
            finish_reason=finish,
            simulated=True,
        )

    async def aclose(self) -> None:
        """Nothing to release: no connections."""
