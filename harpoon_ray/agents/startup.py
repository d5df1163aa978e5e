"""An actor's one-time start (open its store, resume its work), out of its callers' way."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from . import gctune, gil
from .routing import preload_providers

if TYPE_CHECKING:
    from ..routing.router import Router
    from .store import Store


async def open_shard(store: Store, router: Router) -> None:
    """What a shard process does first: tune its GC and GIL for a loop beside a DuckDB
    thread, open its store, and import its providers' SDKs off the loop."""
    gctune.tune()
    gil.tune()
    await store.open()
    await preload_providers(router)


class OnceStarted:
    """Runs `start` once, in a task of its own, and lets every caller wait for it.

    Run in the first caller's task, the start went down with that caller: a client that
    gave up (Ray then cancels the actor task) left the start failed with CancelledError,
    and every later call on the actor failed with it until its process was restarted. A
    real error of the start is still every caller's error."""

    def __init__(self, start: Callable[[], Awaitable[None]]) -> None:
        self._start = start
        self._task: asyncio.Future[None] | None = None

    async def wait(self) -> None:
        """Return once started; a cancelled caller stops waiting, the start goes on."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._start())
        await asyncio.shield(self._task)
