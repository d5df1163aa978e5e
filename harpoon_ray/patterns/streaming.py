"""Streaming an answer agent's reply as a few batched `agent.token` events.

Only the agent whose reply is the covenant's answer streams (a smart call, a synthesizer,
a lone optimizer draft): its tokens are what the chat shows while it is written. They are
batched, the first delta at once (time to first token is what a reader notices) and then
every `TOKEN_MAX_DELTAS` deltas or `TOKEN_INTERVAL_S`, so a reply is a handful of events,
never one per token.

Each batch says where it starts in the reply (`at`, in characters): a resumed run that
streams the same agent again can drop what the log already has, so a reader sees no
gap and no doubled text.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import ConstraintUnsatisfiable, StreamInterrupted
from ..schemas import Completion, Constraints, ModelRequest

TOKEN_MAX_DELTAS = 16
TOKEN_INTERVAL_S = 0.05

# (delta text, its character offset in the reply)
OnTokens = Callable[[str, int], Awaitable[None]]


def token_payload(delta: str, at: int) -> dict[str, Any]:
    """An `agent.token` payload: `final` tells the UI these tokens are the answer's."""
    return {"delta": delta, "at": at, "final": True}


class TokenBatcher:
    """Gathers deltas and hands them on in batches (see the module docstring)."""

    def __init__(
        self,
        on_tokens: OnTokens,
        *,
        max_deltas: int = TOKEN_MAX_DELTAS,
        interval_s: float = TOKEN_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.on_tokens = on_tokens
        self.max_deltas = max_deltas
        self.interval_s = interval_s
        self.clock = clock
        self.sent = 0  # characters handed on so far
        self.batches = 0
        self._parts: list[str] = []
        self._last = 0.0

    async def add(self, delta: str) -> None:
        if not delta:
            return
        self._parts.append(delta)
        first = self.batches == 0
        due = self.clock() - self._last >= self.interval_s
        if first or due or len(self._parts) >= self.max_deltas:
            await self.flush()

    async def flush(self) -> None:
        if not self._parts:
            return
        text, at = "".join(self._parts), self.sent
        self._parts = []
        self.sent += len(text)
        self.batches += 1
        self._last = self.clock()
        await self.on_tokens(text, at)


async def stream_completion(
    router: Any,
    request: ModelRequest,
    constraints: Constraints | None,
    model: str | None,
    on_tokens: OnTokens,
) -> Completion:
    """One routed call, streamed through `on_tokens` in batches; returns its Completion.

    When no model that fits can stream (a budget pin on a model without streaming), the
    call is made without streaming instead: the answer matters more than its tokens.
    """
    batcher = TokenBatcher(on_tokens)
    completion: Completion | None = None
    try:
        async for item in router.stream(request, constraints, model):
            if isinstance(item, Completion):
                completion = item
            else:
                await batcher.add(item.delta)
    except ConstraintUnsatisfiable:
        if batcher.batches or batcher._parts:
            raise
        return await router.complete(request, constraints, model)
    await batcher.flush()
    if completion is None:  # the router always ends with one; a stand-in router may not
        raise StreamInterrupted("the stream ended without its completion", model=model)
    return completion
