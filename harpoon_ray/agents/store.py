"""One DuckDB file per actor shard, opened by that shard alone.

DuckDB calls block, so every call runs on one dedicated thread per store: the actor's
event loop never waits on disk, and the connection is never shared between threads.
Writes come in whole batches (`WriteBatch`), each one transaction, inserted column-wise
with `unnest` over list parameters: row-at-a-time `executemany` is ~50x slower here
(2k against 120k rows/s).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb
from pydantic_core import to_json

from ..errors import ConfigError
from ..schemas import AgentExecution, Covenant, Event, EventType
from .migrations import migrate

T = TypeVar("T")

_EVENT_FIELDS = frozenset(Event.model_fields)


def fast_event(
    seq: int,
    ts: float,
    type: EventType,
    covenant_id: str,
    tenant_id: str,
    agent_id: str | None,
    payload: dict[str, Any],
) -> Event:
    """An `Event` from fields this layer produced or stored itself, without validation.

    `model_construct` still walks every field's default (~40 µs an event here); a fan-out
    of 10,000 sub-agents logs 60,000 events, so this fills the instance directly.
    """
    e = Event.__new__(Event)
    object.__setattr__(
        e,
        "__dict__",
        {
            "seq": seq,
            "ts": ts,
            "type": type,
            "covenant_id": covenant_id,
            "tenant_id": tenant_id,
            "agent_id": agent_id,
            "payload": payload,
        },
    )
    object.__setattr__(e, "__pydantic_fields_set__", set(_EVENT_FIELDS))
    object.__setattr__(e, "__pydantic_extra__", None)
    object.__setattr__(e, "__pydantic_private__", None)
    return e


@dataclass
class WriteBatch:
    """Rows that must land together: one flush, one transaction."""

    covenants: list[Covenant] = field(default_factory=list)
    agents: list[AgentExecution] = field(default_factory=list)
    agent_rows: list[AgentRow] = field(default_factory=list)  # the same, as built by chunks
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


def _json(value: Any) -> str:
    """JSON text through pydantic-core: several times faster than `json.dumps` on the
    60,000 payloads of a large fan-out, and it takes models (an agent's actions) as is."""
    return to_json(value).decode()


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    if not rows:
        return [[] for _ in range(width)]
    return [list(col) for col in zip(*rows, strict=True)]


def _last_per_key(items: list[T], key: Callable[[T], Any]) -> list[T]:
    """DuckDB refuses to upsert one key twice in a statement: keep the latest."""
    latest = {key(x): x for x in items}
    return list(latest.values())


# an agent_executions row without updated_at (stamped at write): tenant_id, covenant_id,
# agent_id, parent_id, role, title, status, thoughts (JSON), actions (JSON), output, model,
# input_tokens, output_tokens, cost_usd, latency_s, progress. Chunk tasks send rows as
# these plain tuples: unpickling 20,000 pydantic rows cost the orchestrator ~0.5 s.
AgentRow = tuple[
    str, str, str, str | None, str, str, str, str, str, str | None, str | None,
    int, int, float, float, float,
]  # fmt: skip


def agent_row(a: AgentExecution) -> AgentRow:
    return (
        a.tenant_id,
        a.covenant_id,
        a.agent_id,
        a.parent_id,
        a.role,
        a.title,
        str(a.status),
        _json(a.thoughts),
        _json(a.actions),
        a.output,
        a.model,
        a.input_tokens,
        a.output_tokens,
        a.cost_usd,
        a.latency_s,
        a.progress,
    )


_AGENT_COLS = (
    "tenant_id, covenant_id, agent_id, parent_id, role, title, status, thoughts, actions, "
    "output, model, input_tokens, output_tokens, cost_usd, latency_s, progress, updated_at"
)
_AGENT_TYPES = (
    "varchar varchar varchar varchar varchar varchar varchar varchar varchar varchar varchar "
    "bigint bigint double double double double"
)


def _unnest_select(types: str, json_cols: Sequence[int] = ()) -> str:
    """`SELECT unnest($1::t1[]), ...` for space-separated column types `types`."""
    parts = []
    for i, t in enumerate(types.split()):
        expr = f"unnest(${i + 1}::{t}[])"
        parts.append(f"{expr}::json" if i in json_cols else expr)
    return "SELECT " + ", ".join(parts)


class Store:
    """Async access to one shard's DuckDB file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"duckdb-{self.path.stem}")
        self._conn: duckdb.DuckDBPyConnection | None = None

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    @property
    def conn(self) -> duckdb.DuckDBPyConnection:
        if self._conn is None:
            raise ConfigError(f"store {self.path} is not open; call `await store.open()`")
        return self._conn

    async def open(self) -> list[str]:
        """Open (creating if needed) and migrate; returns the migrations applied."""
        return await self._call(self._open)

    def _open(self) -> list[str]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = duckdb.connect(str(self.path))
        return migrate(self._conn)

    async def close(self) -> None:
        if self._conn is not None:
            await self._call(self._conn.close)
            self._conn = None
        self._executor.shutdown(wait=False)

    # ------------------------------------------------------------------ writes

    async def write(self, batch: WriteBatch) -> None:
        """Commit the whole batch or nothing."""
        if batch:
            await self._call(self._write, batch)

    def _write(self, b: WriteBatch) -> None:
        c = self.conn
        c.execute("BEGIN TRANSACTION")
        try:
            if b.covenants:
                self._upsert_covenants(c, _last_per_key(b.covenants, lambda x: x.id))
            if b.agents or b.agent_rows:
                rows = [*map(agent_row, b.agents), *b.agent_rows]
                self._upsert_agents(c, _last_per_key(rows, lambda r: (r[1], r[2])))
            if b.events:
                self._insert_events(c, b.events)
            if b.messages:
                self._insert_messages(c, b.messages)
            if b.metrics:
                self._insert_metrics(c, b.metrics)
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    @staticmethod
    def _upsert_covenants(c: duckdb.DuckDBPyConnection, covs: list[Covenant]) -> None:
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
        types = "varchar varchar varchar varchar varchar double double varchar"
        c.execute(
            "INSERT OR REPLACE INTO covenants " + _unnest_select(types, json_cols=(7,)),
            _columns(rows, len(types.split())),
        )

    @staticmethod
    def _upsert_agents(c: duckdb.DuckDBPyConnection, agents: list[AgentRow]) -> None:
        now = time.time()
        rows = [(*a, now) for a in agents]
        c.execute(
            f"INSERT OR REPLACE INTO agent_executions ({_AGENT_COLS}) "
            + _unnest_select(_AGENT_TYPES, json_cols=(7, 8)),
            _columns(rows, len(_AGENT_TYPES.split())),
        )

    @staticmethod
    def _insert_events(
        c: duckdb.DuckDBPyConnection, events: list[tuple[Event, str | None]]
    ) -> None:
        rows = [
            (
                e.tenant_id,
                e.covenant_id,
                e.seq,
                e.ts,
                str(e.type),
                e.agent_id,
                key,
                _json(e.payload),
            )
            for e, key in events
        ]
        types = "varchar varchar bigint double varchar varchar varchar varchar"
        c.execute(
            "INSERT INTO events " + _unnest_select(types, json_cols=(7,)),
            _columns(rows, len(types.split())),
        )

    @staticmethod
    def _insert_messages(c: duckdb.DuckDBPyConnection, msgs: list[dict[str, Any]]) -> None:
        rows = [
            (m["tenant_id"], m["user_id"], m["covenant_id"], m["role"], m["content"], m["ts"])
            for m in msgs
        ]
        types = "varchar varchar varchar varchar varchar double"
        c.execute(
            "INSERT OR IGNORE INTO conversations " + _unnest_select(types),
            _columns(rows, len(types.split())),
        )

    @staticmethod
    def _insert_metrics(c: duckdb.DuckDBPyConnection, metrics: list[dict[str, Any]]) -> None:
        rows = [
            (
                m["tenant_id"],
                m["ts"],
                m["name"],
                float(m["value"]),
                m.get("covenant_id"),
                json.dumps(m.get("labels", {})),
            )
            for m in metrics
        ]
        types = "varchar double varchar double varchar varchar"
        c.execute(
            "INSERT INTO metrics " + _unnest_select(types, json_cols=(5,)),
            _columns(rows, len(types.split())),
        )

    async def end_running_agents(self, covenant_id: str, status: str) -> None:
        """Agents still running when their covenant ended get its end status."""
        await self.query(
            "UPDATE agent_executions SET status = ?, updated_at = ? "
            "WHERE covenant_id = ? AND status IN ('pending', 'running')",
            [status, time.time(), covenant_id],
        )

    # ------------------------------------------------------------------ reads

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Rows of a read-only query (for tests, audits and analytics through the actor)."""
        return await self._call(lambda: self.conn.execute(sql, list(params)).fetchall())

    async def covenant(self, covenant_id: str) -> Covenant | None:
        rows = await self.query("SELECT body FROM covenants WHERE id = ?", [covenant_id])
        return Covenant.model_validate_json(rows[0][0]) if rows else None

    async def covenants_by_id(self, ids: list[str]) -> dict[str, Covenant]:
        """Several covenants in one scan (see `lookups.BatchedLookup`)."""
        rows = await self.query("SELECT body FROM covenants WHERE id IN ?", [ids])
        found = (Covenant.model_validate_json(r[0]) for r in rows)
        return {c.id: c for c in found}

    async def covenants(
        self,
        tenant_id: str | None = None,
        user_id: str | None = None,
        *,
        active_only: bool = False,
        limit: int = 50,
    ) -> list[Covenant]:
        """Newest first. `active_only` keeps those not yet completed, failed or cancelled."""
        where, params = [], []
        if tenant_id is not None:
            where.append("tenant_id = ?")
            params.append(tenant_id)
        if user_id is not None:
            where.append("user_id = ?")
            params.append(user_id)
        if active_only:
            where.append("status IN ('draft', 'active')")
        sql = "SELECT body FROM covenants"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC LIMIT ?"
        rows = await self.query(sql, [*params, limit])
        return [Covenant.model_validate_json(r[0]) for r in rows]

    async def agents(self, covenant_id: str) -> list[AgentExecution]:
        rows = await self.query(
            f"SELECT {_AGENT_COLS} FROM agent_executions WHERE covenant_id = ? "
            "ORDER BY updated_at, agent_id",
            [covenant_id],
        )
        names = [n.strip() for n in _AGENT_COLS.split(",")]
        out = []
        for r in rows:
            d = dict(zip(names, r, strict=True))
            d["thoughts"] = json.loads(d["thoughts"])
            d["actions"] = json.loads(d["actions"])
            out.append(AgentExecution.model_validate(d))
        return out

    async def events(self, covenant_id: str, after: int = 0, limit: int = 1000) -> list[Event]:
        rows = await self.query(
            "SELECT seq, ts, type, covenant_id, tenant_id, agent_id, payload FROM events "
            "WHERE covenant_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            [covenant_id, after, limit],
        )
        return [
            fast_event(r[0], r[1], EventType(r[2]), r[3], r[4], r[5], json.loads(r[6]))
            for r in rows
        ]

    async def event_state(self, covenant_id: str) -> tuple[int, set[str]]:
        """The last seq of a covenant's log and the dedup keys already written."""

        def read() -> tuple[int, set[str]]:
            c = self.conn
            top = c.execute(
                "SELECT coalesce(max(seq), 0) FROM events WHERE covenant_id = ?", [covenant_id]
            ).fetchone()
            keys = c.execute(
                "SELECT dedup_key FROM events WHERE covenant_id = ? AND dedup_key IS NOT NULL",
                [covenant_id],
            ).fetchall()
            return int(top[0]), {k[0] for k in keys}

        return await self._call(read)

    async def messages(self, tenant_id: str, user_id: str, limit: int = 50) -> list[dict]:
        """A user's conversation, oldest first (the last `limit` messages)."""
        rows = await self.query(
            "SELECT covenant_id, role, content, ts FROM conversations "
            "WHERE tenant_id = ? AND user_id = ? ORDER BY ts DESC, role DESC LIMIT ?",
            [tenant_id, user_id, limit],
        )
        return [
            {"covenant_id": r[0], "role": r[1], "content": r[2], "ts": r[3]} for r in reversed(rows)
        ]
