"""Session-wide fixtures: one local Ray instance and one test server for the whole run.

Area fixtures live in each test folder's own conftest.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Simulated models run 100x faster than the catalog's timings in tests.
os.environ.setdefault("HARPOON_SIMULATED_SPEED", "0.01")


@pytest.fixture(scope="session")
def ray_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A local Ray instance shared by every test that needs one; yields its data dir.

    Tests that need Ray take this fixture; pure-Python tests never start Ray.
    """
    import ray

    from harpoon_ray.local_ray import init_local_ray

    data_dir = tmp_path_factory.mktemp("harpoon-data")
    os.environ["HARPOON_DATA_DIR"] = str(data_dir)
    init_local_ray(  # a fresh instance, every port on loopback (HARPOON_NODE_IP)
        num_cpus=4,
        include_dashboard=False,
        namespace="harpoon",
        log_to_driver=False,
        runtime_env={"env_vars": {k: v for k, v in os.environ.items() if k.startswith("HARPOON_")}},
    )
    try:
        yield data_dir
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def test_server() -> Iterator[object]:
    """The project's OpenAI-compatible test server on a loopback port (`.base_url`)."""
    from harpoon_ray.testing.server import serve_in_thread

    with serve_in_thread() as server:
        yield server


def free_loopback_port() -> int:
    """A loopback port for a server about to start (`harpoon_ray.ports`)."""
    from harpoon_ray.ports import free_loopback_port as pick

    return pick()


@pytest.fixture(scope="session")
def serve_app(ray_instance: Path) -> Iterator[str]:
    """The Harpoon Serve app, started once per session on a free loopback port; yields its
    base URL (e.g. `http://127.0.0.1:PORT`). Simulated providers, the repository's ui/."""
    from ray import serve

    from harpoon_ray.serve import build_app

    port = free_loopback_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app({}), name="harpoon", route_prefix="/")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last, whatever the order asked for: Playwright's sync API keeps an
    event loop running in the main thread while the session's browser lives, and an async
    test after it fails with "Runner.run() cannot be called from a running event loop"."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
