"""What the test server does for one request: a `Step`, and the per-model queues of them.

A step is chosen per request, first from the `x-harpoon-script` header (one step as
JSON), else from the queue set for the request's model through `POST /_script` (each
request consumes the next step), else the default: answer normally.
"""

from __future__ import annotations

import threading
from collections import Counter, deque

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import ValidationFailed

ERROR_STATUSES = (400, 401, 403, 404, 422, 429, 500, 502, 503)


class Step(BaseModel):
    """One scripted behaviour. An empty step answers normally."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_s: float = Field(default=0.0, ge=0, description="Wait before answering.")
    status: int | None = Field(default=None, description="Answer with this error status.")
    retry_after: float | None = Field(
        default=None, ge=0, description="Retry-After seconds sent with a 429."
    )
    hang: bool = Field(default=False, description="Never answer (until the client leaves).")
    cut_after: int | None = Field(
        default=None, ge=0, description="Stream N content chunks, then drop the connection."
    )
    malformed: bool = Field(default=False, description="Send an invalid JSON body or chunk.")
    text: str | None = Field(default=None, description="Answer exactly this text.")
    chunk_delay_s: float = Field(default=0.0, ge=0, description="Wait between stream chunks.")

    @model_validator(mode="after")
    def _known_status(self) -> Step:
        if self.status is not None and self.status not in ERROR_STATUSES:
            raise ValueError(f"status must be one of {ERROR_STATUSES}, got {self.status}")
        return self


def parse_step(raw: object, where: str) -> Step:
    """A `Step` from JSON-decoded data, or `ValidationFailed` naming `where`."""
    try:
        return Step.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or where
        raise ValidationFailed(f"{where}: {field}: {first['msg']}", param=where) from None


class ScriptBook:
    """Queues of steps per model and a count of calls per model.

    Shared by the server's event loop and the test thread that scripts it, so every
    access holds a lock (each one is a few dict operations).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Step]] = {}
        self._calls: Counter[str] = Counter()

    def add(self, model: str, steps: list[Step]) -> None:
        """Append steps to `model`'s queue."""
        with self._lock:
            self._queues.setdefault(model, deque()).extend(steps)

    def next_for(self, model: str, *, from_queue: bool = True) -> Step | None:
        """Record one call to `model` and pop its next queued step, if any and asked."""
        with self._lock:
            self._calls[model] += 1
            queue = self._queues.get(model)
            return queue.popleft() if queue and from_queue else None

    def pending(self) -> dict[str, int]:
        with self._lock:
            return {m: len(q) for m, q in self._queues.items() if q}

    def calls(self) -> dict[str, int]:
        with self._lock:
            return dict(self._calls)

    def reset(self) -> None:
        """Forget every queue and every count."""
        with self._lock:
            self._queues.clear()
            self._calls.clear()
