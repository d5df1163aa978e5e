"""Building a wide fan-out's pieces without holding the event loop.

A shard's loop serves every covenant on it: submits, reads, the long-polls behind live
sockets. Building the 10,000 tasks and specs of one covenant in one go held it ~0.25 s
here (a 100,000-agent covenant, the widest allowed, ~2.5 s), and a submit beside it
waited that long for its 202. Built in slices with a turn of the loop between, the same
work holds it a few milliseconds at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

SLICE = 256  # items built per turn of the loop: ~5-8 ms of tasks or specs here


async def built(count: int, make: Callable[[int], T], *, size: int = SLICE) -> list[T]:
    """`[make(i) for i in range(count)]`, letting the loop run between slices of `size`."""
    out: list[T] = []
    for start in range(0, count, size):
        if start:
            await asyncio.sleep(0)
        out.extend(make(i) for i in range(start, min(count, start + size)))
    return out
