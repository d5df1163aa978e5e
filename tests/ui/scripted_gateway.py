"""A second Harpoon gateway whose models answer from a scripted test server.

The session's Serve app simulates its models at `HARPOON_SIMULATED_SPEED` (0.01 in
tests), so an answer streams in milliseconds and a covenant ends before a person, or a
browser test, can press Stop. The tests that need a covenant to take its time (a slow
stream, a model call that never answers until cancelled) run against this gateway
instead: the same FastAPI app the Serve `Gateway` deployment builds
(`serve.factory.create_app`), served by uvicorn on a loopback port in this process, with
every provider pointed at its own `testing.server` (`AppArgs.test_server_url`). Its agent
shards live in their own Ray namespace and data dir, so they never meet the session
app's shards or files.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAMESPACE = "harpoon-ui-scripted"
STARTUP_TIMEOUT_S = 15.0


@dataclass
class ScriptedGateway:
    """Where the gateway listens and the test server its models answer from."""

    base_url: str
    upstream: Any  # harpoon_ray.testing.server.RunningServer

    def script_every_model(self, steps: list[dict[str, Any]]) -> None:
        """Queue `steps` for every catalog model, whichever one the router picks."""
        from harpoon_ray.catalog import default_catalog

        for model in {m.provider_model for m in default_catalog().models}:
            self.upstream.script(model, steps)


def _settings(data_dir: Path, api_key: str | None) -> Any:
    from harpoon_ray.settings import Settings

    return Settings(
        data_dir=data_dir,
        # A keyed gateway gets its own shards: two apps never share a namespace.
        namespace=f"{NAMESPACE}-keyed" if api_key else NAMESPACE,
        api_key=api_key,
        mediator_shards=1,
        orchestrator_shards=1,
        max_retries=0,
        backoff_base_s=0.01,
    )


def _kill_shards(settings: Any) -> None:
    """Stop this gateway's detached shards for good (they would outlive the session)."""
    import ray

    from harpoon_ray.agents.client import HarpoonClient

    for handle in HarpoonClient(settings).shards.all():
        ray.kill(handle, no_restart=True)


@contextmanager
def scripted_gateway(data_dir: Path, api_key: str | None = None) -> Iterator[ScriptedGateway]:
    """Run the gateway (and its test server) until the block exits. Needs Ray started.
    With `api_key`, every API route and socket wants it, as with HARPOON_API_KEY."""
    from harpoon_ray.serve.config import AppArgs
    from harpoon_ray.serve.context import GatewayContext
    from harpoon_ray.serve.factory import create_app
    from harpoon_ray.testing.server import asgi_in_thread, serve_in_thread

    settings = _settings(data_dir, api_key)
    with serve_in_thread() as upstream:
        ctx = GatewayContext(AppArgs(test_server_url=upstream.base_url), settings)
        app = create_app(ctx)
        try:
            with asgi_in_thread(
                app,
                name="ui-scripted-gateway",
                lifespan="auto",
                startup_timeout_s=STARTUP_TIMEOUT_S,
            ) as url:
                yield ScriptedGateway(url, upstream)
        finally:
            _kill_shards(settings)
