"""The launcher's HAProxy balancing, through Ray's own config template and the HAProxy
binary Ray runs: a client connection keeps to one replica, and many connections spread
over all of them."""

from __future__ import annotations

import asyncio
import re
import socket
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from subprocess import DEVNULL, PIPE, STDOUT

import aiohttp
import pytest
from aiohttp import web
from ray.serve._private.haproxy import (
    BackendConfig,
    HAProxyApi,
    HAProxyConfig,
    ServerConfig,
    _resolve_haproxy_binary,
)

from harpoon_ray.serve.launcher import haproxy_tuning

REPLICAS = 2


def free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _replica(name: str) -> tuple[web.AppRunner, int]:
    """A stand-in replica on loopback that answers with its name."""

    async def who(_: web.Request) -> web.Response:
        return web.Response(text=name)

    app = web.Application()
    app.router.add_get("/{tail:.*}", who)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, runner.addresses[0][1]


def _render(tmp_path: Path, ports: list[int], front: int) -> Path:
    """Ray's HAProxy config for two replica servers, with the launcher's balancing; its
    stats and metrics listeners (all interfaces in Ray's template) moved to loopback."""
    cfg = HAProxyConfig(
        socket_path=str(tmp_path / "admin.sock"),
        server_state_base=str(tmp_path),
        server_state_file=str(tmp_path / "server-state"),
        enable_hap_optimization=False,
        nbthread=1,
        stats_port=free_loopback_port(),
        metrics_port=free_loopback_port(),
        metrics_enabled=False,
        balance_algorithm=haproxy_tuning()["RAY_SERVE_HAPROXY_BALANCE_ALGORITHM"],
        log_target=f"127.0.0.1:{free_loopback_port()}",
    )
    cfg.http_options.host = "127.0.0.1"
    cfg.http_options.port = front
    servers = [ServerConfig(name=f"r{i}", host="127.0.0.1", port=p) for i, p in enumerate(ports)]
    backend = BackendConfig(name="http-harpoon", path_prefix="/", app_name="harpoon")
    backend.servers = servers
    api = HAProxyApi(cfg, {"harpoon": backend}, config_file_path=str(tmp_path / "haproxy.cfg"))
    api._generate_config_file_internal()
    path = Path(api.config_file_path)
    text = re.sub(r"bind \*?:(\d+)", r"bind 127.0.0.1:\1", path.read_text())
    path.write_text(text)
    return path


@pytest.fixture
async def haproxy(tmp_path: Path) -> AsyncIterator[str]:
    """Ray's HAProxy, as configured by the launcher, in front of two stand-in replicas."""
    replicas = [await _replica(f"r{i}") for i in range(REPLICAS)]
    front = free_loopback_port()
    config = _render(tmp_path, [port for _, port in replicas], front)
    binary = _resolve_haproxy_binary()
    check = await asyncio.create_subprocess_exec(
        binary, "-c", "-f", str(config), stdout=PIPE, stderr=STDOUT
    )
    out, _ = await check.communicate()
    assert check.returncode == 0, out.decode()
    proc = await asyncio.create_subprocess_exec(binary, "-db", "-f", str(config), stdout=DEVNULL)
    url = f"http://127.0.0.1:{front}/who"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):  # up, and its health checks passed
                try:
                    async with session.get(url) as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=10)
        for runner, _ in replicas:
            await runner.cleanup()


async def test_one_keep_alive_client_stays_on_one_replica(haproxy: str) -> None:
    """Twenty requests on one keep-alive connection are all answered by the same replica."""
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as session:
        seen = set()
        for _ in range(20):
            async with session.get(haproxy) as resp:
                seen.add(await resp.text())
    assert len(seen) == 1


async def test_many_connections_spread_over_every_replica(haproxy: str) -> None:
    """Forty fresh connections reach both replicas, neither taking more than 80 %."""
    answers: Counter[str] = Counter()
    for _ in range(40):
        connector = aiohttp.TCPConnector(force_close=True)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get(haproxy) as resp,
        ):
            answers[await resp.text()] += 1
    assert set(answers) == {f"r{i}" for i in range(REPLICAS)}
    assert max(answers.values()) <= 32
