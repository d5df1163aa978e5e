"""Cost, tokens and latency of what was served, over a sliding time window.

A bounded ring of small records: recording is O(1) on the hot path, summarising sorts
only when someone asks (`GET /api/metrics`). A window can hand each record to a `sink`
too (`metrics_hub.MetricsShipper`), which ships them in batches to the app-wide hub so
the endpoint speaks for every replica, not only the one that answers.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable
from typing import Any, NamedTuple, Protocol

from ..schemas import Completion

MAX_RECORDS = 100_000


class Record(NamedTuple):
    """One completion or covenant; a plain tuple, so batches cross Ray compactly."""

    ts: float
    model: str
    tier: str
    pattern: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    flagship_cost_usd: float
    latency_s: float
    simulated: bool


class RecordSink(Protocol):
    def offer(self, record: Record) -> None: ...


class MetricsWindow:
    def __init__(self, max_records: int = MAX_RECORDS, sink: RecordSink | None = None) -> None:
        self._records: deque[Record] = deque(maxlen=max_records)
        self.sink = sink

    def __len__(self) -> int:
        return len(self._records)

    def add(self, record: Record) -> None:
        self._records.append(record)
        if self.sink is not None:
            self.sink.offer(record)

    def extend(self, rows: Iterable[tuple]) -> None:
        """Rows shipped from elsewhere (plain tuples in `Record` order); never re-shipped."""
        self._records.extend(Record._make(row) for row in rows)

    def record(self, completion: Completion, pattern: str = "gateway") -> None:
        self.add(
            Record(
                ts=time.time(),
                model=completion.model,
                tier=str(completion.tier),
                pattern=pattern,
                input_tokens=completion.input_tokens,
                output_tokens=completion.output_tokens,
                cost_usd=completion.cost_usd,
                flagship_cost_usd=completion.flagship_cost_usd,
                latency_s=completion.latency_s,
                simulated=completion.simulated,
            )
        )

    def record_covenant(self, covenant: Any) -> None:
        """A finished covenant counts once under its pattern (tokens are its agents')."""
        self.add(
            Record(
                ts=covenant.updated_at,
                model=(covenant.models or ["?"])[0],
                tier="covenant",
                pattern=str(covenant.pattern),
                input_tokens=0,
                output_tokens=0,
                cost_usd=covenant.cost_usd,
                flagship_cost_usd=covenant.flagship_cost_usd,
                latency_s=covenant.latency_s,
                simulated=covenant.simulated,
            )
        )

    def summary(self, window_s: float | None = None) -> dict[str, Any]:
        since = time.time() - window_s if window_s else 0.0
        rows = [r for r in self._records if r.ts >= since]
        return {
            "window_s": window_s,
            "totals": _aggregate(rows),
            "by_model": _grouped(rows, "model"),
            "by_tier": _grouped(rows, "tier"),
            "by_pattern": _grouped(rows, "pattern"),
        }


def _grouped(rows: list[Record], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[Record]] = {}
    for r in rows:
        groups.setdefault(getattr(r, key), []).append(r)
    return {k: _aggregate(v) for k, v in sorted(groups.items())}


def _aggregate(rows: list[Record]) -> dict[str, Any]:
    latencies = sorted(r.latency_s for r in rows)
    cost = sum(r.cost_usd for r in rows)
    flagship = sum(r.flagship_cost_usd for r in rows)
    return {
        "requests": len(rows),
        "input_tokens": sum(r.input_tokens for r in rows),
        "output_tokens": sum(r.output_tokens for r in rows),
        "cost_usd": round(cost, 8),
        "flagship_cost_usd": round(flagship, 8),
        "saving_usd": round(flagship - cost, 8),
        "latency_s": {
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99),
        },
        "simulated": sum(1 for r in rows if r.simulated),
    }


def percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of already sorted values; None for none."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]
