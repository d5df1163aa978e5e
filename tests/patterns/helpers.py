"""Checks shared by the pattern tests: what a well-formed event log looks like."""

from __future__ import annotations

from harpoon_ray.schemas import Event, EventType

AGENT_TYPES = {
    EventType.THOUGHT,
    EventType.ACTION,
    EventType.PROGRESS,
    EventType.OUTPUT,
    EventType.COMPLETED,
    EventType.FAILED,
}
ENDINGS = {EventType.COMPLETED, EventType.FAILED}


def assert_well_formed(events: list[Event], last: EventType = EventType.RESULT) -> None:
    """Gap-free seq from 1; agents speak only after spawning and end exactly once,
    saying nothing afterwards; the stream ends with `last`."""
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    spawned: set[str] = set()
    ended: set[str] = set()
    for e in events:
        if e.type == EventType.AGENT_SPAWNED:
            assert e.agent_id not in spawned, f"{e.agent_id} spawned twice"
            spawned.add(e.agent_id)
        elif e.type in AGENT_TYPES and e.agent_id is not None:
            assert e.agent_id in spawned, f"{e.type} for unspawned {e.agent_id}"
            assert e.agent_id not in ended, f"{e.type} for {e.agent_id} after it ended"
            if e.type in ENDINGS:
                ended.add(e.agent_id)
    assert spawned == ended, f"never ended: {sorted(spawned - ended)[:5]}"
    assert events[-1].type == last
    assert sum(e.type == last for e in events) == 1


def of_type(events: list[Event], t: EventType) -> list[Event]:
    return [e for e in events if e.type == t]
