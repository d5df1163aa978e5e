"""JSON for the hot path: orjson when it is installed, the standard library otherwise.

orjson encodes and decodes chat bodies several times faster than `json` (measured in
`benchmarks/README.md`, "Gateway"); both give the same text for the same data, so
nothing else depends on which one is present. `dumps` returns bytes either way.
"""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - the fallback is exercised where orjson is absent
    orjson = None  # type: ignore[assignment]

DecodeError: type[ValueError] = orjson.JSONDecodeError if orjson else json.JSONDecodeError


def _std_dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


# Bound directly (no wrapper call on the hot path): `dumps(obj) -> bytes`, `loads(bytes |
# str)` raising `DecodeError` (a `ValueError`) on malformed input.
dumps = orjson.dumps if orjson else _std_dumps
loads = orjson.loads if orjson else json.loads
