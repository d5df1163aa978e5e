"""Agents on Ray: Mediator and Orchestrator shards, sub-agent chunk tasks, their stores.

Callers use the client: `HarpoonClient` (async), `SyncHarpoonClient`, `connect()`.
"""

from .client import HarpoonClient, SyncHarpoonClient, connect, parse_query

__all__ = ["HarpoonClient", "SyncHarpoonClient", "connect", "parse_query"]
