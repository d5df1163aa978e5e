"""The builder's arguments: what `serve_config.yaml`'s `args:` may say, validated.

Deployment sizes live here (not only in the YAML) so `build_app({})` alone is a sensible
laptop app and the YAML overrides only what it means to.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError


class DeploymentSize(BaseModel):
    """Replicas and admission limits of one deployment."""

    model_config = ConfigDict(extra="forbid")

    num_replicas: int = Field(default=1, ge=1)
    max_ongoing_requests: int = Field(
        default=1000,
        ge=1,
        description="Per replica. Serve's default of 5 starves I/O-bound handlers and "
        "every open WebSocket holds one slot.",
    )
    max_queued_requests: int = Field(
        default=2000,
        ge=-1,
        description="Admission limit per caller; past it Serve answers 503 at once "
        "instead of letting p99 grow without bound. -1 means unbounded.",
    )
    num_cpus: float = Field(default=0.0, ge=0, description="0: share the node's cores.")


class AppArgs(BaseModel):
    """Arguments of `harpoon_ray.serve.app:build_app`."""

    model_config = ConfigDict(extra="forbid")

    # Every open WebSocket holds one of the gateway's Serve slots for its whole life
    # (~45-95 KB each, benchmarks/README.md "WebSockets"); HTTP has its own admission
    # limit in the gateway (HARPOON_HTTP_MAX_ONGOING / _QUEUED), so this sizes sockets.
    gateway: DeploymentSize = DeploymentSize(max_ongoing_requests=12_000)
    model_router: DeploymentSize = DeploymentSize(max_ongoing_requests=1000)
    v1_in_process: bool = Field(
        default=True,
        description="Route /v1 and /api/chat with the routing library inside the gateway "
        "instead of a handle call to the ModelRouter deployment (see docs/ARCHITECTURE.md).",
    )
    ui_dir: Path | None = Field(
        default=None, description="Static UI served at /; default: the repository's ui/."
    )
    test_server_url: str | None = Field(
        default=None,
        description="Point every provider at this OpenAI-compatible base URL (tests and "
        "benchmarks against harpoon_ray.testing.server).",
    )
    env: dict[str, str] = Field(
        default={},
        description="Extra environment for the replicas (e.g. HARPOON_API_KEY), on top of "
        "what Ray was started with.",
    )
    access_log: bool = Field(
        default=False, description="Serve's per-request access log: off, it costs CPU."
    )

    @classmethod
    def parse(cls, args: dict | None) -> AppArgs:
        """Validate builder args, naming the offending key on failure."""
        from pydantic import ValidationError

        try:
            return cls.model_validate(args or {})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"serve args: {where}: {first['msg']}", param=where) from None
