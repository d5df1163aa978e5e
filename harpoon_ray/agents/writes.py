"""One `WriteBatch` as one DuckDB transaction, column-wise.

A statement's rows go in as one numpy array per column, registered with DuckDB as a
frame it scans in place: row-at-a-time `executemany` is ~50x slower here (2k against
120k rows/s), list parameters make DuckDB build one value per cell while holding the
GIL, and one JSON text per statement unnested by `from_json` (the way before this) cost
a chunk's report (1,500 events, 500 agent rows) 18-28 ms to commit against 14-18 as
columns, with the GIL let go as much (a ticking thread's gaps were the same). A
JSON-typed cell is encoded on its own (`to_json`, ~1.5 us) and cast by DuckDB.
A statement costs ~1-3 ms whatever its size, and
DuckDB's conflict clauses are the dear part: `INSERT OR REPLACE` of 20 covenants took
3.1 ms where a plain `INSERT` took 1.4 and an `UPDATE` 1.7; `INSERT OR IGNORE` of 20
conversation turns 2.5 ms against 0.8. So a batch is first written the cheap way: rows
the caller knows are new (`WriteBatch.new_covenants`, `new_agents`; an agent's `running`
row) are
inserted, the others updated, turns inserted. Should that meet a row it did not expect
(a replay after a restart, a retried chunk), the transaction is rolled back and the batch
written again with the conflict clauses: same result, only slower.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import duckdb
import numpy as np
from pydantic_core import to_json

from ..schemas import AgentExecution, Covenant, Event

T = TypeVar("T")
log = logging.getLogger(__name__)

# an agent_executions row without updated_at (stamped at write): tenant_id, covenant_id,
# agent_id, parent_id, role, title, status, thoughts (JSON), actions (JSON), output, model,
# input_tokens, output_tokens, cost_usd, latency_s, progress. Chunk tasks send rows as
# these plain tuples: unpickling 20,000 pydantic rows cost the orchestrator ~0.5 s.
AgentRow = tuple[
    str, str, str, str | None, str, str, str, str, str, str | None, str | None,
    int, int, float, float, float,
]  # fmt: skip


@dataclass
class WriteBatch:
    """Rows that must land together: one flush, one transaction."""

    covenants: list[Covenant] = field(default_factory=list)
    new_covenants: set[str] = field(default_factory=set)  # ids the store cannot have yet
    agents: list[AgentExecution] = field(default_factory=list)
    agent_rows: list[AgentRow] = field(default_factory=list)  # the same, as built by chunks
    new_agents: set[str] = field(default_factory=set)  # agent ids whose first row this is
    events: list[tuple[Event, str | None]] = field(default_factory=list)  # (event, dedup key)
    messages: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.covenants
            or self.agents
            or self.agent_rows
            or self.events
            or self.messages
            or self.metrics
        )


def by_covenant(b: WriteBatch) -> list[WriteBatch]:
    """The batch cut into one per covenant (rows of none together), in order within each:
    for writing apart when the whole will not go in, so that one covenant's bad row does
    not sink every other covenant's events with it. `new_agents` goes to every part (a
    hint: an agent id named new that is not goes the careful way, same result)."""
    parts: dict[str | None, WriteBatch] = {}

    def part(covenant_id: str | None) -> WriteBatch:
        found = parts.get(covenant_id)
        if found is None:
            found = parts[covenant_id] = WriteBatch(new_agents=set(b.new_agents))
        return found

    for cov in b.covenants:
        p = part(cov.id)
        p.covenants.append(cov)
        if cov.id in b.new_covenants:
            p.new_covenants.add(cov.id)
    for agent in b.agents:
        part(agent.covenant_id).agents.append(agent)
    for row in b.agent_rows:
        part(row[1]).agent_rows.append(row)
    for item in b.events:
        part(item[0].covenant_id).events.append(item)
    for message in b.messages:
        part(message["covenant_id"]).messages.append(message)
    for metric in b.metrics:
        part(metric.get("covenant_id")).metrics.append(metric)
    return list(parts.values())


class _Unexpected(Exception):
    """The cheap path met a row it did not expect: write the batch the careful way."""


def to_json_text(value: Any) -> str:
    """JSON text through pydantic-core: several times faster than `json.dumps` on the
    60,000 payloads of a large fan-out, and it takes models (an agent's actions) as is."""
    return to_json(value).decode()


_FRAME = "_rows"  # the name a statement's rows are registered under, one at a time
_NUMPY = {"bigint": np.int64, "double": np.float64}


def _columns(rows: Sequence[Sequence[Any]], types: str) -> dict[str, np.ndarray]:
    """The rows as one numpy array per column: DuckDB scans them without a Python object
    per cell (strings are read from the object array in place)."""
    kinds = types.split()
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in kinds]
    frame = {}
    for i, (kind, col) in enumerate(zip(kinds, cols, strict=True)):
        if kind == "json":
            col = [to_json_text(v) for v in col]
        dtype = _NUMPY.get(kind, object)
        # fromiter: one cell per row whatever it holds (np.array would make a 2-D array
        # of a column of equal-length sequences)
        cells = np.fromiter(col, dtype=dtype, count=len(col))
        if kind == "double" and np.isnan(cells).any():
            # DuckDB reads a numpy NaN as NULL; as text it casts back to NaN
            cells = np.fromiter((repr(float(v)) for v in col), dtype=object, count=len(col))
        frame[f"c{i}"] = cells
    return frame


def _execute_rows(
    c: duckdb.DuckDBPyConnection, sql: str, rows: Sequence[Sequence[Any]], types: str
) -> duckdb.DuckDBPyConnection:
    """Run `sql` (built with `_from_rows`) over `rows`, registered as the frame until the
    next statement's replaces it or the transaction ends (`_transaction` unregisters it
    then: inside a failed transaction that raises, and would hide the statement's error)."""
    c.register(_FRAME, _columns(rows, types))
    return c.execute(sql)


def _last_per_key(items: list[T], key: Callable[[T], Any]) -> list[T]:
    """DuckDB refuses to write one key twice in a statement: keep the latest."""
    latest = {key(x): x for x in items}
    return list(latest.values())


def agent_row(a: AgentExecution) -> AgentRow:
    return (
        a.tenant_id,
        a.covenant_id,
        a.agent_id,
        a.parent_id,
        a.role,
        a.title,
        str(a.status),
        to_json_text(a.thoughts),
        to_json_text(a.actions),
        a.output,
        a.model,
        a.input_tokens,
        a.output_tokens,
        a.cost_usd,
        a.latency_s,
        a.progress,
    )


AGENT_COLS = (
    "tenant_id, covenant_id, agent_id, parent_id, role, title, status, thoughts, actions, "
    "output, model, input_tokens, output_tokens, cost_usd, latency_s, progress, updated_at"
)
_AGENT_NAMES = [n.strip() for n in AGENT_COLS.split(",")]
_AGENT_TYPES = (
    "varchar varchar varchar varchar varchar varchar varchar varchar varchar varchar varchar "
    "bigint bigint double double double double"
)
_AGENT_JSON = (7, 8)
_COV_NAMES = ["tenant_id", "id", "user_id", "status", "pattern", "created_at", "updated_at"]
_COV_NAMES += ["body"]
_COV_TYPES = "varchar varchar varchar varchar varchar double double varchar"
_COV_JSON = (7,)


def _from_rows(types: str, json_cols: Sequence[int] = (), names: Sequence[str] = ()) -> str:
    """`SELECT c0::t0 [AS n0], ... FROM _rows` over the frame `_execute_rows` registers,
    for space-separated column types `types`. A column of type `json` holds its cells as
    JSON text (encoded from Python values by `_columns`); `json_cols` are VARCHAR cells
    holding JSON text already; both are cast to JSON."""
    kinds = types.split()
    cols = []
    for i, kind in enumerate(kinds):
        expr = f"c{i}::json" if (kind == "json" or i in json_cols) else f"c{i}::{kind}"
        cols.append(f"{expr} AS {names[i]}" if names else expr)
    return f"SELECT {', '.join(cols)} FROM {_FRAME}"


def _update_sql(table: str, names: list[str], types: str, keys: Sequence[str], js: Sequence[int]):
    """`UPDATE table SET ... FROM (rows) u WHERE keys match`: the rows must exist."""
    sets = ", ".join(f"{n} = u.{n}" for n in names if n not in keys)
    where = " AND ".join(f"{table}.{k} = u.{k}" for k in keys)
    return f"UPDATE {table} SET {sets} FROM ({_from_rows(types, js, names)}) u WHERE {where}"


_COV_UPDATE = _update_sql("covenants", _COV_NAMES, _COV_TYPES, ["id"], _COV_JSON)
_AGENT_UPDATE = _update_sql(
    "agent_executions", _AGENT_NAMES, _AGENT_TYPES, ["covenant_id", "agent_id"], _AGENT_JSON
)


def write_batch(c: duckdb.DuckDBPyConnection, b: WriteBatch) -> bool:
    """Commit the whole batch or nothing: the cheap way, else the careful way (then
    returns True: the shards count these, they should be rare)."""
    try:
        _transaction(c, b, careful=False)
        return False
    except (_Unexpected, duckdb.ConstraintException) as exc:
        log.debug("batch written again with conflict checks: %s", exc)
        _transaction(c, b, careful=True)
        return True


def _transaction(c: duckdb.DuckDBPyConnection, b: WriteBatch, *, careful: bool) -> None:
    c.execute("BEGIN TRANSACTION")
    try:
        if b.covenants:
            _covenants(c, b, careful)
        if b.agents or b.agent_rows:
            _agents(c, [*map(agent_row, b.agents), *b.agent_rows], b.new_agents, careful)
        if b.events:
            _insert_events(c, b.events)
        if b.messages:
            _insert_messages(c, b.messages, careful)
        if b.metrics:
            _insert_metrics(c, b.metrics)
        c.execute("COMMIT")
    except BaseException:
        c.execute("ROLLBACK")
        raise
    finally:
        c.unregister(_FRAME)  # the last statement's rows: not kept until the next batch


def _write_split(
    c: duckdb.DuckDBPyConnection,
    table: str,
    rows: list[tuple],
    new: list[bool],
    types: str,
    json_cols: Sequence[int],
    update_sql: str,
    careful: bool,
) -> None:
    """Insert the rows flagged new, update the rest (or upsert all, when careful)."""
    if careful:
        _execute_rows(
            c, f"INSERT OR REPLACE INTO {table} " + _from_rows(types, json_cols), rows, types
        )
        return
    fresh = [r for r, n in zip(rows, new, strict=True) if n]
    known = [r for r, n in zip(rows, new, strict=True) if not n]
    if fresh:
        _execute_rows(c, f"INSERT INTO {table} " + _from_rows(types, json_cols), fresh, types)
    if known:
        updated = _execute_rows(c, update_sql, known, types).fetchone()
        if updated is None or updated[0] != len(known):
            raise _Unexpected(f"{table}: {len(known)} rows to update, {updated} found")


def _covenants(c: duckdb.DuckDBPyConnection, b: WriteBatch, careful: bool) -> None:
    covs = _last_per_key(b.covenants, lambda x: x.id)
    rows = [
        (
            v.tenant_id,
            v.id,
            v.user_id,
            str(v.status),
            str(v.pattern),
            v.created_at,
            v.updated_at,
            v.model_dump_json(),
        )
        for v in covs
    ]
    new = [v.id in b.new_covenants for v in covs]
    _write_split(c, "covenants", rows, new, _COV_TYPES, _COV_JSON, _COV_UPDATE, careful)


def _agents(
    c: duckdb.DuckDBPyConnection, agents: list[AgentRow], new: set[str], careful: bool
) -> None:
    """An agent's first row is its `running` one, or one the caller names in `new` (a
    chunk that started and finished an agent between two reports sends only its last row):
    a batch holding it inserts the agent's latest row, others update the row an earlier
    batch inserted."""
    latest: dict[tuple[str, str], AgentRow] = {}
    first: set[tuple[str, str]] = set()
    for a in agents:
        key = (a[1], a[2])
        latest[key] = a
        if a[6] == "running" or a[2] in new:
            first.add(key)
    now = time.time()
    rows = [(*a, now) for a in latest.values()]
    fresh = [k in first for k in latest]
    _write_split(
        c, "agent_executions", rows, fresh, _AGENT_TYPES, _AGENT_JSON, _AGENT_UPDATE, careful
    )


def _insert_events(c: duckdb.DuckDBPyConnection, events: list[tuple[Event, str | None]]) -> None:
    rows = [
        (
            e.tenant_id,
            e.covenant_id,
            e.seq,
            e.ts,
            str(e.type),
            e.agent_id,
            key,
            e.payload,  # encoded to JSON text by `_columns` (a `json` column)
        )
        for e, key in events
    ]
    types = "varchar varchar bigint double varchar varchar varchar json"
    _execute_rows(c, "INSERT INTO events " + _from_rows(types), rows, types)


def _insert_messages(
    c: duckdb.DuckDBPyConnection, msgs: list[dict[str, Any]], careful: bool
) -> None:
    """A turn is written once; a replayed one (the answer told twice) is skipped."""
    rows = [
        (m["tenant_id"], m["user_id"], m["covenant_id"], m["role"], m["content"], m["ts"])
        for m in msgs
    ]
    if not careful and len({r[:4] for r in rows}) != len(rows):
        raise _Unexpected("one turn twice in a batch")
    types = "varchar varchar varchar varchar varchar double"
    verb = "INSERT OR IGNORE" if careful else "INSERT"
    _execute_rows(c, f"{verb} INTO conversations " + _from_rows(types), rows, types)


def _insert_metrics(c: duckdb.DuckDBPyConnection, metrics: list[dict[str, Any]]) -> None:
    rows = [
        (
            m["tenant_id"],
            m["ts"],
            m["name"],
            float(m["value"]),
            m.get("covenant_id"),
            m.get("labels", {}),
        )
        for m in metrics
    ]
    types = "varchar double varchar double varchar json"
    _execute_rows(c, "INSERT INTO metrics " + _from_rows(types), rows, types)
