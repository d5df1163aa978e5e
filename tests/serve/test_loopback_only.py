"""Every server the test session's Ray and Serve app start listens on loopback only
(harpoon_ray/local_ray.py), HAProxy's too under the launcher's wrapper
(serve/haproxy_loopback.py), and HARPOON_NODE_IP is checked before Ray sees it."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from subprocess import DEVNULL

import httpx
import psutil
import pytest
from ray.serve._private.haproxy import _resolve_haproxy_binary

from harpoon_ray.errors import ConfigError
from harpoon_ray.local_ray import is_loopback, node_ip
from harpoon_ray.serve.haproxy_loopback import loopback_binds, write_wrapper
from harpoon_ray.serve.launcher import _haproxy_of_its_own, _haproxy_on_loopback
from harpoon_ray.settings import Settings
from tests.serve.haproxy_config import ray_haproxy_config

WILDCARDS = {"0.0.0.0", "::"}
SERVERS = ("gcs_server", "raylet", "ray::ServeController", "ray::ProxyActor", "ray::ServeReplica")


@dataclass(frozen=True)
class Listener:
    ip: str
    port: int
    pid: int
    process: str

    def __str__(self) -> str:
        return f"{self.process} (pid {self.pid}) on {self.ip}:{self.port}"


def session_dir() -> Path:
    """The session directory of the Ray this process drives, from Ray's public node table:
    each node's object store socket lives in `<session>/sockets/`."""
    import ray

    me = ray.get_runtime_context().get_node_id()
    node = next(n for n in ray.nodes() if n["NodeID"] == me)
    return Path(node["ObjectStoreSocketName"]).parents[1]


def ray_processes(session: Path) -> dict[int, str]:
    """This driver, every process whose command line names the session directory (GCS,
    raylet, agents, workers), and all their children (HAProxy under its manager actor)."""
    needle = str(session)
    roots = [psutil.Process(os.getpid())]
    for proc in psutil.process_iter(["cmdline"]):
        if any(needle in arg for arg in proc.info["cmdline"] or ()):
            roots.append(proc)
    found: dict[int, str] = {}
    for root in roots:
        try:
            for proc in [root, *root.children(recursive=True)]:
                found[proc.pid] = proc.name()
        except psutil.NoSuchProcess:
            continue
    return found


def listeners(processes: dict[int, str]) -> list[Listener]:
    return [
        Listener(c.laddr.ip, c.laddr.port, c.pid, processes[c.pid])
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.pid in processes
    ]


def is_replica_grpc(sock: Listener) -> bool:
    """The one socket Ray 2.60 gives no way to move: each Serve replica's inter-deployment
    gRPC server, bound to `[::]:0` in serve/_private/replica.py (ray-project/ray#64544)."""
    return sock.process.startswith("ray::ServeReplica") and sock.ip in WILDCARDS


@pytest.fixture(scope="module")
def ray_listeners(http: httpx.Client) -> list[Listener]:
    """The LISTEN sockets of the session's Ray instance, once its Serve app answers."""
    assert http.get("/api/health").status_code == 200
    return listeners(ray_processes(session_dir()))


@pytest.mark.serve
def test_every_ray_and_serve_server_listens_on_loopback(ray_listeners: list[Listener]) -> None:
    """The GCS, raylet, agents, Serve's controller, proxy and replicas and this driver
    listen on loopback only; the replicas' inter-deployment gRPC server is the exception."""
    names = {sock.process for sock in ray_listeners}
    for expected in SERVERS:  # a worker's title names its running task after the class
        assert any(n.startswith(expected) for n in names), (expected, names)
    exposed = [str(s) for s in ray_listeners if not is_loopback(s.ip) and not is_replica_grpc(s)]
    assert exposed == []


@pytest.mark.serve
def test_each_replica_keeps_at_most_its_grpc_server_off_loopback(
    ray_listeners: list[Listener],
) -> None:
    """A Serve replica has at most one socket off loopback (its inter-deployment gRPC
    server), and its core worker's gRPC port is on loopback."""
    replicas = {s.pid for s in ray_listeners if s.process.startswith("ray::ServeReplica")}
    for pid in replicas:
        mine = [s for s in ray_listeners if s.pid == pid]
        assert any(is_loopback(s.ip) for s in mine), mine
        assert sum(not is_loopback(s.ip) for s in mine) <= 1, mine


@pytest.mark.serve
@pytest.mark.xfail(
    strict=True,
    reason="Ray 2.60 binds each replica's inter-deployment gRPC server to [::]:0 with no "
    "setting to change it (ray-project/ray#64544); when this passes, drop is_replica_grpc",
)
def test_serve_replicas_inter_deployment_grpc_is_on_loopback(
    ray_listeners: list[Listener],
) -> None:
    """Not even the replicas' inter-deployment gRPC servers listen off loopback."""
    assert [str(s) for s in ray_listeners if not is_loopback(s.ip)] == []


def test_node_ip_defaults_to_loopback_and_reads_localhost_as_such() -> None:
    """Unset, HARPOON_NODE_IP is 127.0.0.1; `localhost` means the same address."""
    assert Settings.model_fields["node_ip"].default == "127.0.0.1"
    assert node_ip(Settings(node_ip="localhost")) == "127.0.0.1"


def test_node_ip_auto_leaves_the_choice_to_ray() -> None:
    """`auto` means Ray's own choice of address: no node IP is passed."""
    assert node_ip(Settings(node_ip="auto")) is None


def test_node_ip_rejects_a_hostname_with_a_config_error() -> None:
    """A value that is not an IP address fails before Ray starts, naming the setting."""
    with pytest.raises(ConfigError) as info:
        node_ip(Settings(node_ip="my-laptop.local"))
    assert info.value.param == "node_ip"
    assert "127.0.0.1" in info.value.message


def test_is_loopback_accepts_mapped_loopback_and_refuses_wildcards() -> None:
    """IPv4-mapped loopback counts as loopback; the wildcards and a LAN address do not."""
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("::ffff:127.0.0.1")
    assert not any(is_loopback(ip) for ip in ("0.0.0.0", "::", "192.0.2.2", "not-an-ip"))


def bound(text: str) -> dict[int, str]:
    """Each `bind` line's port and the address before it ("" for none)."""
    binds = [line.split()[1] for line in text.splitlines() if line.strip().startswith("bind")]
    return {int(b.rsplit(":", 1)[1]): b.rsplit(":", 1)[0] for b in binds}


def test_wrapper_moves_stats_and_metrics_to_loopback_and_leaves_the_api_alone(
    tmp_path: Path,
) -> None:
    """In Ray's rendered config, the stats and Prometheus listeners (all interfaces in its
    template) move to 127.0.0.1; the API frontend keeps the host Serve was given."""
    path, cfg = ray_haproxy_config(tmp_path, "0.0.0.0")
    before = bound(path.read_text())
    after = bound(loopback_binds(path.read_text(), "127.0.0.1"))
    api, stats, metrics = cfg.frontend_port, cfg.stats_port, cfg.metrics_port
    assert before == {api: "*", stats: "*", metrics: ""}  # Serve renders 0.0.0.0 as *
    assert after == {api: "*", stats: "127.0.0.1", metrics: "127.0.0.1"}


async def test_haproxy_run_through_the_wrapper_listens_on_loopback_only(
    tmp_path: Path,
) -> None:
    """The real HAProxy, started as Ray starts it but through the launcher's wrapper,
    listens on 127.0.0.1 only: API frontend, stats page and metrics exporter."""
    config, _ = ray_haproxy_config(tmp_path, "127.0.0.1")
    wrapper = write_wrapper(tmp_path, _resolve_haproxy_binary())
    proc = await asyncio.create_subprocess_exec(
        str(wrapper), "-db", "-f", str(config), stdout=DEVNULL, stderr=DEVNULL
    )
    try:
        found: list[Listener] = []
        for _ in range(100):  # up to 10 s for its three listeners
            found = listeners({proc.pid: "haproxy"})
            if len(found) >= 3:
                break
            await asyncio.sleep(0.1)
        assert len(found) == 3, found
        assert all(s.ip == "127.0.0.1" for s in found), found
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=10)


def test_launcher_points_ray_at_the_wrapper_for_the_run_only() -> None:
    """Inside the launcher's HAProxy context Ray's binary path names an executable
    wrapper of the real HAProxy, kept with the run's other HAProxy files; after it, the
    variable is as it was and the wrapper gone with them."""
    before = os.environ.get("RAY_SERVE_HAPROXY_BINARY_PATH")
    real = _resolve_haproxy_binary()  # reads that variable on every call
    with _haproxy_of_its_own() as files, _haproxy_on_loopback("127.0.0.1", files) as wrapper:
        assert wrapper.parent == files
        assert os.environ["RAY_SERVE_HAPROXY_BINARY_PATH"] == str(wrapper)
        assert os.access(wrapper, os.X_OK)
        assert real in wrapper.read_text() and real != str(wrapper)
    assert os.environ.get("RAY_SERVE_HAPROXY_BINARY_PATH") == before
    assert not wrapper.exists()
