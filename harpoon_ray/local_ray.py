"""A fresh single-node Ray that Harpoon starts itself, with its ports on loopback.

On Linux, Ray gives even a laptop's local instance the machine's network address, and
its GCS, raylet, workers and agents listen on it or on every interface: Ray assumes other
nodes may join. `ray.init(_node_ip_address="127.0.0.1")` alone does not help, as Ray
swaps a loopback address back for the machine's (`services.resolve_ip_for_localhost`).
Only Ray's single-node mode keeps loopback as the node IP: the default on macOS and
Windows, `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` elsewhere. In that mode every server Ray
starts binds the node IP (gcs_server, raylet, object manager, each worker's gRPC server,
the dashboard and runtime-env agents, the metrics exporter). Ray reads the switch once,
when it is imported, which is before any Harpoon code could export it, so it is set on
Ray's constant for the length of the start only: the started node keeps its IP, and a
later `ray.init(address=...)` to a cluster is unaffected.

Only a start with `address="local"` goes through here, never a join: a cluster's nodes
must advertise addresses the others reach. `HARPOON_NODE_IP` overrides the address (the
machine's own, for a head node others join; `auto` for Ray's own choice).

Idle workers are kept for IDLE_WORKER_KEEP_MS (`RAY_idle_worker_killing_time_threshold_ms`,
an exported value wins) instead of Ray's 1 s. With Harpoon's actors alive, Ray reaps a
worker one second after its task, so every covenant's chunks landed in fresh workers and
each spent ~1 s of CPU importing Harpoon again (a 1,000-agent covenant: 3.5-4.3 s, and
2.4-2.8 s with the workers kept). A kept worker holds ~150 MB until it is reaped.

Serve's replicas write their log records as they come (`RAY_SERVE_REQUEST_PATH_LOG_BUFFER_SIZE`
1, an exported value wins), not 1,000 at a time as its throughput-optimized mode does: a
gateway warning or a 500's trace sat in memory until 999 more came, and went with the
process when it was stopped. Harpoon logs only warnings and errors on the request path
(access logs are off), so the writes cost nothing that matters.

What Ray 2.60 still binds on all interfaces, with no setting to change it: each Serve
replica's inter-deployment gRPC server (`serve/_private/replica.py` binds `[::]:0`; Ray's
token authentication guards it; ray-project/ray#64544). HAProxy's stats and metrics ports
are handled by the launcher (`serve/haproxy_loopback.py`).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from .errors import ConfigError
from .settings import Settings

AUTO = "auto"
IDLE_WORKER_KEEP_MS = "60000"


def node_ip(settings: Settings | None = None) -> str | None:
    """The node IP to start Ray with (`HARPOON_NODE_IP`), or None for Ray's own choice."""
    value = (settings or Settings()).node_ip.strip()
    if value.lower() == AUTO:
        return None
    if value.lower() == "localhost":
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ConfigError(
            f"HARPOON_NODE_IP={value!r} is not an IP address; use 127.0.0.1 (the default), "
            f"this machine's address, or {AUTO!r} for Ray's own choice",
            param="node_ip",
        ) from None


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and their IPv4-mapped forms (`::ffff:127.0.0.1`)."""
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


IDLE_WORKER_ENV = "RAY_idle_worker_killing_time_threshold_ms"


SERVE_LOG_BUFFER_ENV = "RAY_SERVE_REQUEST_PATH_LOG_BUFFER_SIZE"


def write_serve_logs_at_once(environ: MutableMapping[str, str]) -> None:
    """Serve's replica log buffer for the Ray about to start, unless one is exported."""
    environ.setdefault(SERVE_LOG_BUFFER_ENV, "1")


def keep_idle_workers(environ: MutableMapping[str, str]) -> None:
    """Ray's idle-worker threshold for the Ray about to start, unless one is exported."""
    environ.setdefault(IDLE_WORKER_ENV, IDLE_WORKER_KEEP_MS)


def init_local_ray(settings: Settings | None = None, **kwargs: Any) -> Any:
    """`ray.init(address="local", **kwargs)`: always a fresh instance, on the node IP of
    `node_ip(settings)` (loopback by default). Returns what `ray.init` returns."""
    import ray

    keep_idle_workers(os.environ)
    write_serve_logs_at_once(os.environ)
    ip = node_ip(settings)
    if ip is None:
        return ray.init(address="local", **kwargs)
    if not is_loopback(ip):
        return ray.init(address="local", _node_ip_address=ip, **kwargs)
    with _single_node_mode():
        return ray.init(address="local", _node_ip_address=ip, **kwargs)


@contextmanager
def _single_node_mode() -> Iterator[None]:
    """Ray's single-node switch (see the module docstring), restored on the way out. A
    Ray without it gets the node IP as asked, and tests/serve/test_loopback_only.py
    tells whether it keeps it."""
    from ray._private import ray_constants

    previous = getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
    if previous is None:
        yield
        return
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = previous
