"""Which shard hosts what, by a stable hash, and how each shard's actor is reached.

A Ray actor is a process (~100 MB), so a shard hosts many logical mediators (keyed by
tenant + user) or orchestrations (keyed by covenant id). The hash is hashlib's, not
Python's `hash`, which is salted per process: every process must agree on the shard.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..settings import Settings

MEDIATOR_PREFIX = "harpoon-mediator"
ORCHESTRATOR_PREFIX = "harpoon-orchestrator"


class AgentConfig(BaseModel):
    """What every shard is started with; a restarted shard gets the same again.

    `provider_base_url` points every provider at one OpenAI-compatible server (the
    project's test server, or a local vLLM): None uses the normal provider pool.
    """

    model_config = ConfigDict(frozen=True)

    settings: Settings
    provider_base_url: str | None = None

    @property
    def namespace(self) -> str:
        return self.settings.namespace


def shard_index(key: str, shards: int) -> int:
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def mediator_index(tenant_id: str, user_id: str, shards: int) -> int:
    return shard_index(f"{tenant_id}\x1f{user_id}", shards)


def orchestrator_index(covenant_id: str, shards: int) -> int:
    return shard_index(covenant_id, shards)


def mediator_name(i: int) -> str:
    return f"{MEDIATOR_PREFIX}-{i}"


def orchestrator_name(i: int) -> str:
    return f"{ORCHESTRATOR_PREFIX}-{i}"


def db_path(settings: Settings, actor_name: str) -> Path:
    return Path(settings.data_dir) / f"{actor_name}.duckdb"


def actor_options(name: str, namespace: str) -> dict[str, Any]:
    """Named, detached, restartable and I/O-bound: one options set for every shard.

    `max_task_retries=-1` is safe because every shard method is idempotent or a read:
    a submit replayed after a restart finds its covenant already stored.
    """
    return {
        "name": name,
        "namespace": namespace,
        "lifetime": "detached",
        "get_if_exists": True,
        "max_restarts": -1,
        "max_task_retries": -1,
        "max_concurrency": 10_000,
        "num_cpus": 0,
    }


class Shards:
    """Handles to a deployment's shards, created on first use and kept.

    Getting a handle asks Ray's control store (and may create the actor): done once per
    shard and process, not per call. A handle stays valid across the actor's restarts.
    """

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self._handles: dict[str, Any] = {}

    def _get(self, cls_path: str, name: str) -> Any:
        handle = self._handles.get(name)
        if handle is None:
            if cls_path == "mediator":
                from .mediator import Mediator as cls
            else:
                from .orchestrator import Orchestrator as cls
            opts = actor_options(name, self.config.namespace)
            handle = self._handles[name] = cls.options(**opts).remote(self.config, name)
        return handle

    def forget(self, name: str) -> None:
        """Drop a cached handle (after the actor was killed for good)."""
        self._handles.pop(name, None)

    def mediator(self, i: int) -> Any:
        return self._get("mediator", mediator_name(i))

    def orchestrator(self, i: int) -> Any:
        return self._get("orchestrator", orchestrator_name(i))

    def mediator_for(self, tenant_id: str, user_id: str) -> Any:
        return self.mediator(
            mediator_index(tenant_id, user_id, self.config.settings.mediator_shards)
        )

    def orchestrator_for(self, covenant_id: str) -> Any:
        n = self.config.settings.orchestrator_shards
        return self.orchestrator(orchestrator_index(covenant_id, n))

    def all(self) -> list[Any]:
        s = self.config.settings
        return [self.mediator(i) for i in range(s.mediator_shards)] + [
            self.orchestrator(i) for i in range(s.orchestrator_shards)
        ]

    def mediators(self) -> list[Any]:
        return [self.mediator(i) for i in range(self.config.settings.mediator_shards)]

    def orchestrators(self) -> list[Any]:
        return [self.orchestrator(i) for i in range(self.config.settings.orchestrator_shards)]
