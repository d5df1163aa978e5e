"""Ray's own HAProxy config for tests, rendered by its template on free loopback ports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray.serve._private.haproxy import BackendConfig, HAProxyApi, HAProxyConfig

from tests.conftest import free_loopback_port


def ray_haproxy_config(
    tmp_path: Path,
    front_host: str,
    front_port: int | None = None,
    backends: dict[str, BackendConfig] | None = None,
    **settings: Any,
) -> tuple[Path, HAProxyConfig]:
    """Ray's HAProxy config file for `backends` (none by default) with the API frontend
    on `front_host`, and the settings it was rendered from; `settings` override
    HAProxyConfig's fields (e.g. `balance_algorithm`)."""
    cfg = HAProxyConfig(
        socket_path=str(tmp_path / "admin.sock"),
        server_state_base=str(tmp_path),
        server_state_file=str(tmp_path / "server-state"),
        enable_hap_optimization=False,
        nbthread=1,
        stats_port=free_loopback_port(),
        metrics_port=free_loopback_port(),
        metrics_enabled=False,
        log_target=f"127.0.0.1:{free_loopback_port()}",
        **settings,
    )
    cfg.http_options.host = front_host
    cfg.http_options.port = front_port or free_loopback_port()
    api = HAProxyApi(cfg, backends or {}, config_file_path=str(tmp_path / "haproxy.cfg"))
    api._generate_config_file_internal()
    return Path(api.config_file_path), cfg
