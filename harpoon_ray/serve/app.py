"""The typed application builder behind `serve_config.yaml` (`import_path`).

serve run serve_config.yaml            # Ray's own way; also `serve deploy`
serve.run(build_app({...}))            # from Python (tests, the launcher)
"""

from __future__ import annotations

from typing import Any

from ray.serve import Application

from .config import AppArgs, DeploymentSize
from .deployments import Gateway, ModelRouter


def _options(size: DeploymentSize, args: AppArgs) -> dict[str, Any]:
    actor: dict[str, Any] = {"num_cpus": size.num_cpus}
    if args.env:
        actor["runtime_env"] = {"env_vars": dict(args.env)}
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
    gateway = Gateway.options(**_options(parsed.gateway, parsed))
    return gateway.bind(router, raw)
