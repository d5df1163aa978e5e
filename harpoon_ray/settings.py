"""Every `HARPOON_*` tunable in one place, with units in the names.

Read once per process with `get_settings()`; tests build their own `Settings(...)`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HARPOON_", extra="ignore")

    # where things live
    data_dir: Path = Field(default=Path(".harpoon"), description="DuckDB files, one per shard.")
    catalog_path: Path | None = Field(
        default=None, description="A TOML catalog merged over the shipped one."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    node_ip: str = Field(
        default="127.0.0.1",
        description="The address every port of a Ray that Harpoon starts itself (the "
        "launcher, the agents client's local fallback, the tests) binds and advertises. "
        "Loopback keeps them all off the network; set the machine's address, or `auto` "
        "for Ray's own choice, for a head node other machines join. Never applied when "
        "joining a running cluster (see harpoon_ray/local_ray.py).",
    )
    api_key: str | None = Field(default=None, description="Bearer token required when set.")

    # providers
    simulated_speed: float = Field(
        default=1.0, gt=0, description="Simulated time = catalog time x this factor."
    )
    simulated_seed: int = 0
    simulated_error_rate: float = Field(default=0.0, ge=0, le=1)
    simulated_spike_rate: float = Field(default=0.0, ge=0, le=1)
    simulated_spike_s: float = Field(default=2.0, ge=0)
    simulated_cut_rate: float = Field(default=0.0, ge=0, le=1)
    force_simulated: bool = Field(default=False, description="Ignore keys; simulate all.")
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0
    pool_connections: int = 256
    upstream_client: Literal["wire", "sdk"] = Field(
        default="wire",
        description="How OpenAI-shaped providers (openai, groq, cloudflare, compatible) are "
        "called: `wire`, Harpoon's lean aiohttp client (a fraction of the CPU per call), or "
        "`sdk`, the official openai/groq SDKs (see harpoon_ray/providers/wire.py).",
    )

    # routing
    max_retries: int = Field(default=2, ge=0)
    backoff_base_s: float = Field(default=0.25, ge=0)
    backoff_max_s: float = Field(default=8.0, ge=0)
    breaker_failures: int = Field(default=5, ge=1)
    breaker_cooldown_s: float = Field(default=30.0, ge=0)
    max_fallbacks: int = Field(
        default=4,
        ge=0,
        description="Models tried after the chosen one, at most: a prompt whose models all "
        "fail gives up after these instead of walking the whole catalog.",
    )
    call_deadline_s: float | None = Field(
        default=None,
        gt=0,
        description="Longest a whole routed call may take, retries and fallbacks included "
        "(None: only each try's own timeout).",
    )

    # agents
    mediator_shards: int = Field(default=2, ge=1)
    orchestrator_shards: int = Field(default=2, ge=1)
    chunk_max_agents: int = Field(
        default=10_000,
        ge=1,
        description="Largest chunk task. Chunks are about one per CPU: each extra chunk is "
        "a worker process to start (~1 s of CPU here); asyncio runs 5,000 agents in one.",
    )
    inline_max_agents: int = Field(
        default=4,
        ge=0,
        description="Fan-outs this small run on the orchestrator's own loop, not as a Ray "
        "task: a task per single call leases a worker process for no parallelism.",
    )
    namespace: str = "harpoon"

    # api
    max_body_bytes: int = Field(default=1_000_000, gt=0)
    ws_queue_events: int = Field(default=10_000, gt=0)
    http_max_ongoing: int = Field(
        default=1000,
        gt=0,
        description="HTTP requests one gateway replica runs at once (WebSockets are not "
        "counted: they hold Serve's max_ongoing_requests slots instead).",
    )
    http_max_queued: int = Field(
        default=2000,
        ge=0,
        description="HTTP requests waiting for a turn per replica; past it, 503 at once.",
    )
    ws_heartbeat_s: float = Field(default=15.0, gt=0)
    ws_compression: bool = Field(
        default=True,
        description="Agree to permessage-deflate on the gateway's WebSockets (browsers offer "
        "it), without context takeover either way: each fan-out frame is compressed once for "
        "every socket (ws_frames.py). bench_ws, 1,000 sockets on a 1,000-agent covenant: "
        "0.2 MB per socket on the wire instead of 2.6, delay p99 0.75 s instead of 8.2 s; an "
        "idle socket costs ~6 KB more. Applies where the replica serves the sockets itself "
        "(ingress haproxy or direct), not behind Serve's proxy.",
    )
    ingress: str = Field(
        default="haproxy",
        description="How `harpoon run` fronts the gateway: proxy | direct | haproxy "
        "(see harpoon_ray/serve/launcher.py and benchmarks/README.md).",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
