"""Wide fan-outs are built in slices, so other callers on the loop are not held up."""

from __future__ import annotations

import asyncio

from harpoon_ray.patterns.slices import built


async def test_built_is_the_plain_list_in_order() -> None:
    assert await built(1001, lambda i: i * i, size=100) == [i * i for i in range(1001)]
    assert await built(0, lambda i: i) == []


async def test_other_tasks_run_between_slices() -> None:
    """A caller waiting on the same loop gets a turn after every slice, not at the end."""
    made: list[int] = []
    seen_at: list[int] = []

    async def other_caller() -> None:
        while len(made) < 1000:
            seen_at.append(len(made))
            await asyncio.sleep(0)

    def make(i: int) -> int:
        made.append(i)
        return i

    waiter = asyncio.create_task(other_caller())
    await asyncio.sleep(0)  # it starts before the building does
    await built(1000, make, size=100)
    await waiter
    assert {100, 200, 900} <= set(seen_at)
