"""OpenAI through the official `openai` SDK (`AsyncOpenAI`), one client per provider.

Key: `api_key` in the provider's config or the env var it names (`OPENAI_API_KEY` in the
shipped catalog). `base_url` in the config points the SDK elsewhere (a proxy, the test
server). `HARPOON_UPSTREAM_CLIENT=wire` (the default) calls the same API with
`wire.WireProvider` instead of the SDK; `sdk` keeps the SDK.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..catalog import ProviderConfig
from ..settings import Settings
from .credentials import credential
from .openai_sdk import OpenAIStyleProvider
from .transport import Transport, openai_http_client
from .wire import WireProvider

if TYPE_CHECKING:  # the SDK is imported only when it is used (~0.5 s per process)
    import openai

DEFAULT_URL = "https://api.openai.com/v1"


class OpenAIProvider(OpenAIStyleProvider):
    # OpenAI deprecated `max_tokens` for chat; its newer models accept only this one.
    max_tokens_param = "max_completion_tokens"


def sdk_client(
    api_key: str, base_url: str | None, settings: Settings, transport: Transport | None = None
) -> openai.AsyncOpenAI:
    """An `AsyncOpenAI` with Harpoon's timeouts and pool, and without SDK retries."""
    import openai as sdk

    http_client = (
        openai_http_client(settings, transport) if transport else openai_http_client(settings)
    )
    return sdk.AsyncOpenAI(
        api_key=api_key,
        base_url=base_url,
        max_retries=0,
        timeout=http_client.timeout,
        http_client=http_client,
    )


def create(config: ProviderConfig, settings: Settings) -> OpenAIProvider | WireProvider:
    key = credential(config, "api_key")
    if settings.upstream_client == "wire":
        # The SDK's own default: OPENAI_BASE_URL, else OpenAI's API.
        base = config.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_URL
        url = base.rstrip("/") + "/chat/completions"
        param = OpenAIProvider.max_tokens_param
        return WireProvider(config.name, url, key, settings, max_tokens_param=param)
    import openai as sdk

    return OpenAIProvider(config.name, sdk_client(key, config.base_url, settings), sdk)


def at_test_server(config: ProviderConfig, base_url: str) -> ProviderConfig:
    return config.model_copy(update={"base_url": f"{base_url}/v1", "api_key": "test-key"})
