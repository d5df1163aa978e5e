"""The GIL switch interval of the shard actors' processes.

A shard's DuckDB thread gives up the GIL inside every statement and takes it back after;
while the event loop thread is busy (decoding a chunk's batch, encoding a page for the
gateway), each take-back waits until the loop is made to let go, which CPython asks for
after its switch interval, 5 ms by default. A commit of 3,000 events and 1,000 agent rows
took ~25 ms alone and 50-60 ms next to a busy loop, most of it in such waits; at 0.5 ms
the same commit took ~20 ms. Followers see an event only once it is committed, so that
wait is their delay. The cost is more frequent hand-overs between two busy threads, a
few per millisecond: nothing next to a statement.
"""

from __future__ import annotations

import sys

SHARD_SWITCH_INTERVAL_S = 0.0005


def tune() -> None:
    """For a shard actor's process: hand the GIL over sooner (idempotent)."""
    sys.setswitchinterval(SHARD_SWITCH_INTERVAL_S)
