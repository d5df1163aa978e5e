"""`harpoon run` / `make run`: a local Ray, the Serve app on loopback, a clean stop.

Ray Serve reads its ingress switches (RAY_SERVE_ENABLE_HA_PROXY, ...) when Ray starts,
from the environment of the process that starts it; so they are set here, before
`ray.init`, never in a runtime env. Ctrl-C or SIGTERM shuts Serve, then Ray, down.

Every port listens on loopback (HARPOON_NODE_IP, harpoon_ray/local_ray.py): Ray's,
HAProxy's stats and metrics (haproxy_loopback.py), the API (HARPOON_HOST). The one
exception is each Serve replica's inter-deployment gRPC port, which Ray 2.60 binds on
all interfaces with no setting to change it (token-authenticated by Ray).
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..local_ray import init_local_ray, is_loopback, node_ip
from ..ports import free_loopback_port
from ..settings import Settings

APP_NAME = "harpoon"
HAPROXY_FILES_UNDER = "/tmp"  # not $TMPDIR: macOS's is too long for the admin socket path


class Ingress(StrEnum):
    """How HTTP reaches the Gateway replicas (see serve_config.yaml for the measurements)."""

    PROXY = "proxy"  # Serve's proxy actor: ~7-10 ms of CPU per request here
    DIRECT = "direct"  # RAY_SERVE_THROUGHPUT_OPTIMIZED: the replica serves HTTP itself
    HAPROXY = "haproxy"  # bundled HAProxy in front of the replicas' own ports


INGRESS_ENV: dict[Ingress, dict[str, str]] = {
    Ingress.PROXY: {},
    Ingress.DIRECT: {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"},
    # HAProxy in front, and user code on the replica's own loop (no thread hop per
    # ASGI message: that hop made each WebSocket frame cost milliseconds).
    Ingress.HAPROXY: {"RAY_SERVE_ENABLE_HA_PROXY": "1", "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"},
}


# Each client connection keeps to one replica: its source port, mixed by CRC32 so that
# ports the kernel hands out two apart still spread, picks the server. Ray's default,
# leastconn, sends a lone keep-alive client to the replicas in turn (equal load ties
# round-robin), and every request then lands on a replica that sat idle since the one
# before last: +0.35-0.45 ms p50 and +0.6-0.8 ms p99 at one client on 2 cores, for the
# same throughput once connections outnumber replicas (benchmarks/README.md, "Gateway").
BALANCE_BY_CONNECTION = "hash src_port,crc32"


def haproxy_tuning() -> dict[str, str]:
    """HAProxy defaults measured on the gateway benchmark (benchmarks/README.md,
    "Gateway"); an exported value wins. Ray's defaults are 4 HAProxy threads, more than
    a laptop's cores, one log line per request to its metrics socket, which the
    HAProxyManager actor parses (~0.07 ms of CPU per request), and leastconn balancing,
    which moves a lone client between replicas on every request. Harpoon keeps its own
    request metrics (`/api/metrics`), so Serve's per-request HTTP metrics are off."""
    return {
        "RAY_SERVE_HAPROXY_NBTHREAD": str(max(1, min(4, os.cpu_count() or 1))),
        "RAY_SERVE_HAPROXY_METRICS_ENABLED": "0",
        "RAY_SERVE_HAPROXY_BALANCE_ALGORITHM": BALANCE_BY_CONNECTION,
    }


def ingress_env(ingress: Ingress | str) -> dict[str, str]:
    """Environment a Ray start needs for `ingress`; raises ConfigError for unknown modes."""
    try:
        return dict(INGRESS_ENV[Ingress(ingress)])
    except ValueError:
        known = ", ".join(i.value for i in Ingress)
        raise ConfigError(
            f"unknown ingress {ingress!r}; use one of: {known}", param="ingress"
        ) from None


def urls(host: str, port: int) -> dict[str, str]:
    base = f"http://{host}:{port}"
    return {"ui": f"{base}/", "api": f"{base}/api", "v1": f"{base}/v1", "docs": f"{base}/docs"}


@contextmanager
def running(
    host: str | None = None,
    port: int | None = None,
    *,
    args: dict[str, Any] | None = None,
    ingress: Ingress | str | None = None,
) -> Iterator[dict[str, str]]:
    """Start Ray and the app, yield the URLs, shut both down on exit (whatever the exit).

    `ingress` defaults to HARPOON_INGRESS (haproxy: the fastest measured here)."""
    import ray
    from ray import serve

    from .app import build_app

    settings = Settings()
    host = host or settings.host
    port = port or settings.port
    ingress = ingress or settings.ingress
    os.environ.update(ingress_env(ingress))  # validates it first
    if Ingress(ingress) == Ingress.HAPROXY:
        for key, value in haproxy_tuning().items():
            os.environ.setdefault(key, value)
    # Replicas drain for 30 s by default before they stop (for rolling updates on a
    # cluster); a laptop's Ctrl-C should not hang that long. An exported value wins.
    os.environ.setdefault("RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S", "1")
    _raise_fd_limit()
    ip = node_ip(settings)  # validates HARPOON_NODE_IP before anything starts
    harpoon_env = {k: v for k, v in os.environ.items() if k.startswith("HARPOON_")}
    with ExitStack() as stack:
        if Ingress(ingress) == Ingress.HAPROXY:
            files = stack.enter_context(_haproxy_of_its_own())
            if ip is not None and is_loopback(ip):
                stack.enter_context(_haproxy_on_loopback(ip, files))
        # Always a fresh instance (ingress switches apply only at start), on HARPOON_NODE_IP.
        init_local_ray(
            settings,
            namespace=settings.namespace,
            include_dashboard=False,
            runtime_env={"env_vars": harpoon_env},
            log_to_driver=False,
        )
        try:
            serve.start(http_options={"host": host, "port": port})
            serve.run(build_app(args), name=APP_NAME, route_prefix="/", blocking=False)
            yield urls(host, port)
        finally:
            try:
                serve.shutdown()
            finally:
                ray.shutdown()


@contextmanager
def _haproxy_of_its_own() -> Iterator[Path]:
    """Ports and files of the HAProxy this Ray starts, apart from any other Harpoon's on
    the machine, for as long as it runs; yields the directory of its files (removed after).

    Ray's defaults are the same for every instance: stats on 8404 and metrics on 9101,
    so a second `harpoon run` (or a test session beside one) found them taken and its
    HAProxy exited ("Address already in use"), leaving the app unreachable; and its files
    under /tmp/haproxy-serve/, which nothing removed (a directory per run). Exported
    values win."""
    with tempfile.TemporaryDirectory(prefix="harpoon-haproxy-", dir=HAPROXY_FILES_UNDER) as tmp:
        own = {
            "RAY_SERVE_HAPROXY_STATS_PORT": str(free_loopback_port()),
            "RAY_SERVE_HAPROXY_METRICS_PORT": str(free_loopback_port()),
            # Ray puts each file in a folder named for the node: short paths, since the
            # admin socket's must fit a UNIX socket address (~100 bytes).
            "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": f"{tmp}/haproxy.cfg",
            "RAY_SERVE_HAPROXY_SOCKET_PATH": f"{tmp}/admin.sock",
            "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": tmp,
            "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": f"{tmp}/server-state",
            "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": f"{tmp}/metrics.sock",
        }
        added = [key for key in own if key not in os.environ]
        os.environ.update({key: own[key] for key in added})
        try:
            yield Path(tmp)
        finally:
            for key in added:
                os.environ.pop(key, None)


@contextmanager
def _haproxy_on_loopback(ip: str, folder: Path) -> Iterator[Path]:
    """Point Ray at a wrapper that binds HAProxy's stats and metrics ports on `ip`
    (haproxy_loopback.py), for as long as the Ray it starts runs; yields the wrapper,
    written in `folder` (the run's HAProxy files' own, removed with them). The real
    binary is the one Ray would run (an exported RAY_SERVE_HAPROXY_BINARY_PATH, else the
    bundled one)."""
    from ray.serve._private.haproxy import _resolve_haproxy_binary

    from .haproxy_loopback import write_wrapper

    real = _resolve_haproxy_binary()
    previous = os.environ.get("RAY_SERVE_HAPROXY_BINARY_PATH")
    wrapper = write_wrapper(folder, real, ip)
    os.environ["RAY_SERVE_HAPROXY_BINARY_PATH"] = str(wrapper)
    try:
        yield wrapper
    finally:
        if previous is None:
            os.environ.pop("RAY_SERVE_HAPROXY_BINARY_PATH", None)
        else:
            os.environ["RAY_SERVE_HAPROXY_BINARY_PATH"] = previous


def _raise_fd_limit() -> None:
    """Every WebSocket is a descriptor in the replica and two in HAProxy: raise the soft
    limit to the hard one (inherited by Ray, its replicas and HAProxy), and let HAProxy
    admit as many connections as that allows (its default is 4,096). Exported values
    win; a higher hard limit is the operator's (`ulimit -Hn`)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    limit = hard if hard != resource.RLIM_INFINITY else 65_536
    # HAProxy refuses to start unless its descriptors fit the limit: two per connection
    # plus, with Ray's splice options, a pipe pair per four connections (2.5 each; at a
    # hard limit of 20,000 a maxconn of 9,000 asked for 22,530 and HAProxy crashed).
    maxconn = max(4096, (limit - 1000) * 2 // 5)
    os.environ.setdefault("RAY_SERVE_HAPROXY_MAXCONN", str(maxconn))


def run(host: str | None = None, port: int | None = None, **kwargs: Any) -> None:
    """Run until Ctrl-C or SIGTERM, printing where the UI, API and docs are."""
    stop = threading.Event()
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, lambda *_: stop.set())
    try:
        with running(host, port, **kwargs) as where:
            print("Harpoon is running (Ctrl-C to stop)")
            for name, url in where.items():
                print(f"  {name:<5} {url}")
            while not stop.wait(0.5):
                pass
            print("stopping: Serve, then Ray ...")
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def main(argv: list[str] | None = None) -> None:
    """`python -m harpoon_ray.serve.launcher [--port P] [--ingress haproxy] [--args JSON]`."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m harpoon_ray.serve.launcher")
    parser.add_argument("--host", default=None, help="default: HARPOON_HOST (127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="default: HARPOON_PORT (8000)")
    parser.add_argument("--ingress", default=None, choices=[i.value for i in Ingress])
    parser.add_argument("--args", default="{}", help="build_app args as JSON")
    ns = parser.parse_args(argv)
    run(ns.host, ns.port, args=json.loads(ns.args), ingress=ns.ingress)


if __name__ == "__main__":
    main()
