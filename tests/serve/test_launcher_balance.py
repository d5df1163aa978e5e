"""The launcher's HAProxy balancing, through Ray's own config template and the HAProxy
binary Ray runs: a client connection keeps to one replica, and many connections spread
over all of them."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from subprocess import DEVNULL, PIPE, STDOUT

import aiohttp
import pytest
from aiohttp import web
from ray.serve._private.haproxy import BackendConfig, ServerConfig, _resolve_haproxy_binary

from harpoon_ray.serve.haproxy_loopback import loopback_binds
from harpoon_ray.serve.launcher import haproxy_tuning
from tests.conftest import free_loopback_port
from tests.serve.haproxy_config import ray_haproxy_config

REPLICAS = 2


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
    stats and metrics listeners moved to loopback as the launcher's wrapper does."""
    backend = BackendConfig(name="http-harpoon", path_prefix="/", app_name="harpoon")
    backend.servers = [
        ServerConfig(name=f"r{i}", host="127.0.0.1", port=p) for i, p in enumerate(ports)
    ]
    path, _ = ray_haproxy_config(
        tmp_path,
        "127.0.0.1",
        front,
        {"harpoon": backend},
        balance_algorithm=haproxy_tuning()["RAY_SERVE_HAPROXY_BALANCE_ALGORITHM"],
    )
    path.write_text(loopback_binds(path.read_text(), "127.0.0.1"))
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
