"""The one contract every provider meets.

A provider turns a `ModelRequest` for one catalog model into a `ProviderResponse` (or a
stream of `StreamChunk`s ending in one with `done=True` and the usage), and maps every
failure to the hierarchy in `harpoon_ray.errors`. Pricing, retries and fallback are the
router's job, not the provider's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from ..schemas import ModelRequest, ModelSpec, ProviderResponse, StreamChunk


@runtime_checkable
class Provider(Protocol):
    name: str
    simulated: bool

    async def complete(self, request: ModelRequest, model: ModelSpec) -> ProviderResponse: ...

    def stream(self, request: ModelRequest, model: ModelSpec) -> AsyncIterator[StreamChunk]: ...

    async def aclose(self) -> None: ...
