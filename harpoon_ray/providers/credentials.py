"""Reading a provider's secrets and ids from its config or the environment variable it names."""

from __future__ import annotations

import os

from ..catalog import ProviderConfig
from ..errors import ConfigError


class MissingCredential(ConfigError):
    """A provider lacks a key (or account id): the pool simulates it instead."""

    error_type = "missing_credential"


def credential(config: ProviderConfig, field: str, what: str = "API key") -> str:
    """`config.<field>`, else the env var named by `config.<field>_env`, else an error
    that names both ways to give it."""
    value = getattr(config, field)
    env = getattr(config, f"{field}_env")
    if not value and env:
        value = os.environ.get(env)
    if value:
        return value
    ways = f"set the {env} environment variable or " if env else "set "
    raise MissingCredential(
        f"provider {config.name!r} has no {what}: {ways}`{field}` under "
        f"[providers.{config.name}] in your catalog file (HARPOON_CATALOG_PATH)",
        param=f"providers.{config.name}.{field}",
    )


def optional(config: ProviderConfig, field: str) -> str | None:
    """`config.<field>` or its env var, or None when neither is set."""
    value = getattr(config, field)
    env = getattr(config, f"{field}_env")
    return value or (os.environ.get(env) if env else None) or None
