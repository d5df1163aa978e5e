"""Any OpenAI-compatible server by base URL (vLLM, Ollama, llama.cpp server, LM Studio).

Configure `base_url` (e.g. `http://127.0.0.1:11434/v1` for Ollama). Local servers often
need no key: when neither `api_key` nor its env var is set, a placeholder is sent, since
the SDK insists on one; a server that does check keys answers 401, mapped to `AuthError`.
`HARPOON_UPSTREAM_CLIENT=wire` (the default) calls it with `wire.WireProvider`.
"""

from __future__ import annotations

from ..catalog import ProviderConfig
from ..errors import ConfigError
from ..settings import Settings
from .credentials import optional
from .openai import sdk_client
from .openai_sdk import OpenAIStyleProvider
from .wire import WireProvider

NO_KEY = "no-key"


class CompatibleProvider(OpenAIStyleProvider):
    pass


def create(config: ProviderConfig, settings: Settings) -> CompatibleProvider | WireProvider:
    if not config.base_url:
        raise ConfigError(
            f"provider {config.name!r} (openai_compatible) needs `base_url` under "
            f"[providers.{config.name}], e.g. http://127.0.0.1:8000/v1",
            param=f"providers.{config.name}.base_url",
        )
    key = optional(config, "api_key") or NO_KEY
    if settings.upstream_client == "wire":
        url = config.base_url.rstrip("/") + "/chat/completions"
        return WireProvider(config.name, url, key, settings)
    import openai as sdk  # only on this path: see openai.py

    return CompatibleProvider(config.name, sdk_client(key, config.base_url, settings), sdk)


def at_test_server(config: ProviderConfig, base_url: str) -> ProviderConfig:
    return config.model_copy(update={"base_url": f"{base_url}/v1", "api_key": "test-key"})
