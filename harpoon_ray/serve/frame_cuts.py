"""How a run of events becomes WebSocket frames: how many go in one, and the text of it.

A frame is one event's JSON as is, or several as a JSON array in seq order (the
protocol's batch frame, docs/ARCHITECTURE.md "Frames from the server").
"""

from __future__ import annotations

from collections.abc import Sequence

# At most this many events, and bytes of JSON, in one frame. A chunk's report (~1,500
# events, ~650 KB, for 500 agents) goes as one frame: each frame is a send per socket
# (~20 us under load), and a report cut in two kept the gateway busy long enough for the
# next page to queue behind it (bench_ws 1,000 x 1,000, runs after each server's first:
# median p50 / p99 264 / 373 ms over 16 runs against 340 / 460 over 4 with frames of
# 1,000 events; one run swings by 30 % or more). The cost is the browser's:
# the live 10,000-agent tree's frame p95 went from 16.8 to 33.3 ms in bench_ui. The byte
# bound keeps every frame that holds more than one event under the 1 MiB message limit
# common clients keep by default (Python's `websockets` closes with 1009 past it); one
# event bigger than that goes alone.
MAX_BATCH_EVENTS = 5_000
MAX_FRAME_BYTES = 768 * 1024


def utf8_size(text: str) -> int:
    """Bytes of `text` as UTF-8, without encoding it when it is ASCII (nearly always)."""
    return len(text) if text.isascii() else len(text.encode())


def frame_cuts(parts: Sequence[str]) -> list[int]:
    """Where to cut `parts` into frames of at most MAX_BATCH_EVENTS events and
    MAX_FRAME_BYTES bytes (brackets and commas counted; at least one event each): the
    end index of each frame."""
    cuts: list[int] = []
    count = size = 0
    for i, text in enumerate(parts):
        grown = size + utf8_size(text) + 1
        if count and (count == MAX_BATCH_EVENTS or grown + 1 > MAX_FRAME_BYTES):
            cuts.append(i)
            count, grown = 0, utf8_size(text) + 1
        count, size = count + 1, grown
    if count:
        cuts.append(len(parts))
    return cuts


def frame_text(parts: list[str]) -> str:
    """One event as itself, several as a JSON array of them (the protocol's batch frame)."""
    return parts[0] if len(parts) == 1 else "[" + ",".join(parts) + "]"
