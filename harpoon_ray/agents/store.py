"""One DuckDB file per actor shard, opened by that shard alone.

DuckDB calls block, so every call runs on one dedicated thread per store: the actor's
event loop never waits on disk, and the connection is never shared between threads.
Writes come in whole batches (`WriteBatch`), each one transaction (see `writes`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from ..errors import ConfigError
from ..schemas import AgentExecution, Covenant, Event, EventType
from .migrations import migrate
from .writes import AGENT_COLS, AgentRow, WriteBatch, agent_row, write_batch

__all__ = ["AgentRow", "Store", "WriteBatch", "agent_row", "fast_event"]

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


class Store:
    """Async access to one shard's DuckDB file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"duckdb-{self.path.stem}")
        self._conn: duckdb.DuckDBPyConnection | None = None
        self.careful_writes = 0  # batches that met a row they did not expect (`writes`)

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
        """Commit the whole batch or nothing (see `writes`)."""
        if batch and await self._call(write_batch, self.conn, batch):
            self.careful_writes += 1

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
            f"SELECT {AGENT_COLS} FROM agent_executions WHERE covenant_id = ? "
            "ORDER BY updated_at, agent_id",
            [covenant_id],
        )
        names = [n.strip() for n in AGENT_COLS.split(",")]
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
