"""Ray Serve application: Gateway ingress (REST, /v1, WebSockets, UI) and ModelRouter.

`build_app` is the builder named by `serve_config.yaml`; `run` (launcher) is what
`harpoon run` / `make run` call.
"""

from .app import build_app
from .config import AppArgs, DeploymentSize
from .launcher import run

__all__ = ["AppArgs", "DeploymentSize", "build_app", "run"]
