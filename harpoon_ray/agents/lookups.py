"""Point reads that many concurrent calls share: one store query per batch of keys.

DuckDB has no index scan for these filters here (EXPLAIN shows a sequential scan even
for the primary key), and each store runs its queries one at a time on its own thread.
1,000 submits arriving together made 1,000 scans of the covenants table, queued behind
each other; gathered, the keys asked for while one query runs go in the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BatchedLookup(Generic[K, V]):
    """`await get(key)` → the value `fetch` found for it, or None."""

    def __init__(self, fetch: Callable[[list[K]], Awaitable[dict[K, V]]]) -> None:
        self.fetch = fetch
        self._waiting: dict[K, list[asyncio.Future]] = {}
        self._runner: asyncio.Task | None = None

    async def get(self, key: K) -> V | None:
        fut = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(fut)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(self._run())
        return await fut

    async def _run(self) -> None:
        await asyncio.sleep(0)  # let the callers of this loop turn join
        while self._waiting:
            batch, self._waiting = self._waiting, {}
            try:
                found = await self.fetch(list(batch))
            except Exception as exc:  # every caller of the batch gets the error
                for futs in batch.values():
                    for f in futs:
                        if not f.done():
                            f.set_exception(exc)
                continue
            for key, futs in batch.items():
                for f in futs:
                    if not f.done():
                        f.set_result(found.get(key))
