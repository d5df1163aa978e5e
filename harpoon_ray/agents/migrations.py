"""The shard database's schema, as ordered, named migrations.

Each migration runs once, in its own transaction, and is recorded by name in
`schema_migrations`; a file opened by newer code gains the missing ones and keeps its
rows. Never edit a migration that has shipped: add the next one.

Every table carries `tenant_id`. JSON columns hold what the pydantic boundary types
dump, so a row reads back into the same `schemas` type it was written from.
"""

from __future__ import annotations

import time

import duckdb

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_covenants",
        """
        CREATE TABLE covenants (
            tenant_id   VARCHAR NOT NULL,
            id          VARCHAR PRIMARY KEY,
            user_id     VARCHAR NOT NULL,
            status      VARCHAR NOT NULL,
            pattern     VARCHAR NOT NULL,
            created_at  DOUBLE NOT NULL,
            updated_at  DOUBLE NOT NULL,
            body        JSON NOT NULL
        )
        """,
    ),
    (
        "0002_conversations",
        """
        CREATE TABLE conversations (
            tenant_id   VARCHAR NOT NULL,
            user_id     VARCHAR NOT NULL,
            covenant_id VARCHAR NOT NULL,
            role        VARCHAR NOT NULL,
            content     VARCHAR NOT NULL,
            ts          DOUBLE NOT NULL,
            PRIMARY KEY (tenant_id, user_id, covenant_id, role)
        )
        """,
    ),
    (
        "0003_agent_executions",
        """
        CREATE TABLE agent_executions (
            tenant_id     VARCHAR NOT NULL,
            covenant_id   VARCHAR NOT NULL,
            agent_id      VARCHAR NOT NULL,
            parent_id     VARCHAR,
            role          VARCHAR NOT NULL,
            title         VARCHAR NOT NULL,
            status        VARCHAR NOT NULL,
            thoughts      JSON NOT NULL,
            actions       JSON NOT NULL,
            output        VARCHAR,
            model         VARCHAR,
            input_tokens  BIGINT NOT NULL,
            output_tokens BIGINT NOT NULL,
            cost_usd      DOUBLE NOT NULL,
            latency_s     DOUBLE NOT NULL,
            progress      DOUBLE NOT NULL,
            updated_at    DOUBLE NOT NULL,
            PRIMARY KEY (covenant_id, agent_id)
        )
        """,
    ),
    (
        "0004_events",
        """
        CREATE TABLE events (
            tenant_id   VARCHAR NOT NULL,
            covenant_id VARCHAR NOT NULL,
            seq         BIGINT NOT NULL,
            ts          DOUBLE NOT NULL,
            type        VARCHAR NOT NULL,
            agent_id    VARCHAR,
            dedup_key   VARCHAR,
            payload     JSON NOT NULL,
            PRIMARY KEY (covenant_id, seq)
        )
        """,
    ),
    (
        "0005_metrics",
        """
        CREATE TABLE metrics (
            tenant_id   VARCHAR NOT NULL,
            ts          DOUBLE NOT NULL,
            name        VARCHAR NOT NULL,
            value       DOUBLE NOT NULL,
            covenant_id VARCHAR,
            labels      JSON NOT NULL
        )
        """,
    ),
]


def migrate(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply the migrations this file lacks, in order; returns the names applied."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name VARCHAR PRIMARY KEY, applied_at DOUBLE)"
    )
    done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations").fetchall()}
    applied = []
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", [name, time.time()])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied
