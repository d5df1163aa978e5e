"""Fixtures for the patterns: the real Router over the simulated provider, or over a
provider whose answers are scripted per purpose (for malformed plans and scores)."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import pytest

from harpoon_ray.catalog import Catalog, load_catalog
from harpoon_ray.patterns import LocalRuntime, draft_covenant
from harpoon_ray.providers.registry import ProviderPool
from harpoon_ray.providers.simulated import SimulatedProvider
from harpoon_ray.routing.router import Router
from harpoon_ray.schemas import (
    Covenant,
    ModelRequest,
    ModelSpec,
    ProviderResponse,
    QueryRequest,
    StreamChunk,
)
from harpoon_ray.settings import Settings


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(simulated_speed=0.01, force_simulated=True, backoff_base_s=0.0)


@pytest.fixture
def router(catalog: Catalog, settings: Settings) -> Router:
    """The real router over the embedded simulated provider."""
    return Router(catalog, ProviderPool(catalog, settings), settings)


class PurposeProvider:
    """The simulated provider, except that some purposes answer from a script.

    `script["plan"]` is a list of replies played in order (the last repeats); each reply
    is a string or a callable of the request. Every request is kept in `calls`.
    """

    simulated = True
    name = "purpose-scripted"

    def __init__(self, settings: Settings, script: Mapping[str, Iterable[Any]]) -> None:
        self.inner = SimulatedProvider(settings)
        self.script = {k: deque(v) for k, v in script.items()}
        self.calls: list[ModelRequest] = []

    def _scripted(self, request: ModelRequest) -> str | None:
        queue = self.script.get(request.purpose)
        if not queue:
            return None
        reply = queue.popleft() if len(queue) > 1 else queue[0]
        return reply(request) if callable(reply) else reply

    async def complete(self, request: ModelRequest, model: ModelSpec) -> ProviderResponse:
        self.calls.append(request)
        text = self._scripted(request)
        if text is None:
            return await self.inner.complete(request, model)
        n_in = len(request.prompt_text) // 4 + 1
        return ProviderResponse(
            text=text,
            input_tokens=n_in,
            output_tokens=len(text) // 4 + 1,
            ttft_s=0.0,
            latency_s=0.0,
            simulated=True,
        )

    async def stream(self, request: ModelRequest, model: ModelSpec) -> AsyncIterator[Any]:
        """The scripted reply in pieces of a few words, or the simulated stream."""
        self.calls.append(request)
        text = self._scripted(request)
        if text is None:
            async for chunk in self.inner.stream(request, model):
                yield chunk
            return
        words = text.split(" ")
        for i in range(0, len(words), 4):
            piece = " ".join(words[i : i + 4])
            yield StreamChunk(delta=piece if i == 0 else " " + piece, simulated=True)
        yield StreamChunk(
            done=True,
            input_tokens=len(request.prompt_text) // 4 + 1,
            output_tokens=len(text) // 4 + 1,
            finish_reason="stop",
            simulated=True,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()

    def purposes(self) -> list[str]:
        return [r.purpose for r in self.calls]


class OnePool:
    def __init__(self, provider: PurposeProvider) -> None:
        self.provider = provider

    def for_model(self, spec: ModelSpec) -> PurposeProvider:
        return self.provider


@pytest.fixture
def scripted(catalog: Catalog, settings: Settings) -> Callable[..., tuple[Router, PurposeProvider]]:
    """`scripted(plan=[...], evaluate=[...])` -> (router, provider) with those replies."""

    def make(**script: Iterable[Any]) -> tuple[Router, PurposeProvider]:
        provider = PurposeProvider(settings, script)
        return Router(catalog, OnePool(provider), settings), provider

    return make


@pytest.fixture
def covenant_for() -> Callable[..., Covenant]:
    """`covenant_for(router, "query", pattern=..., agents=..., constraints=...)`."""

    def make(router: Router, query: str, **fields: Any) -> Covenant:
        return draft_covenant(
            QueryRequest(query=query, **fields), user_id="u1", tenant_id="t1", router=router
        )

    return make


def run_local(covenant: Covenant, router: Router, **kw: Any) -> LocalRuntime:
    return LocalRuntime(covenant, router, **kw)
