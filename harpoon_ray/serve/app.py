"""The typed application builder behind `serve_config.yaml` (`import_path`).

serve run serve_config.yaml            # Ray's own way; also `serve deploy`
serve.run(build_app({...}))            # from Python (tests, the launcher)
"""

from __future__ import annotations

from typing import Any

from ray.serve import Application

from .config import AppArgs, DeploymentSize
from .deployments import Gateway, ModelRouter

# The gateway holds thousands of sockets at a time. Their objects, freed, stay in
# pymalloc's arenas wherever one long-lived object shares an arena with them; with the C
# allocator the gateway's trim after a burst of closes (routes_ws.OpenSockets) hands the
# pages back. bench_ws, 10,000 idle sockets: 96 % of their memory back and nothing grown
# by a second round, against 75-85 % with pymalloc; /v1 showed no cost (benchmarks/README).
GATEWAY_ENV = {"PYTHONMALLOC": "malloc"}


def _options(
    size: DeploymentSize, args: AppArgs, defaults: dict[str, str] | None = None
) -> dict[str, Any]:
    actor: dict[str, Any] = {"num_cpus": size.num_cpus}
    env = {**(defaults or {}), **args.env}
    if env:
        actor["runtime_env"] = {"env_vars": env}
    return {
        "num_replicas": size.num_replicas,
        "max_ongoing_requests": size.max_ongoing_requests,
        "max_queued_requests": size.max_queued_requests,
        "ray_actor_options": actor,
        "logging_config": {"enable_access_log": args.access_log},
    }


def build_app(args: dict[str, Any] | None = None) -> Application:
    """The Harpoon Serve app: a Gateway ingress bound to a ModelRouter deployment.

    `args` are `AppArgs` (validated; a wrong key raises `ConfigError` naming it).
    """
    parsed = AppArgs.parse(args)
    raw = parsed.model_dump(mode="json")
    router = ModelRouter.options(**_options(parsed.model_router, parsed)).bind(raw)
    gateway = Gateway.options(**_options(parsed.gateway, parsed, GATEWAY_ENV))
    return gateway.bind(router, raw)
