"""Groq through the official `groq` SDK (`AsyncGroq`), one client per provider.

Key: `api_key` in the provider's config or the env var it names (`GROQ_API_KEY` in the
shipped catalog). The SDK's own exception classes are mapped like OpenAI's. Its `create`
has no `stream_options`, so the usage request goes in the body; Groq also reports usage
in `x_groq.usage` on the last chunk, which the adapter reads as well.
`HARPOON_UPSTREAM_CLIENT=wire` (the default) calls the same API with `wire.WireProvider`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..catalog import ProviderConfig
from ..settings import Settings
from .credentials import credential
from .openai_sdk import OpenAIStyleProvider
from .transport import Transport, groq_http_client
from .wire import WireProvider

if TYPE_CHECKING:  # the SDK is imported only when it is used (~0.3 s per process)
    import groq

DEFAULT_URL = "https://api.groq.com"


class GroqProvider(OpenAIStyleProvider):
    stream_options_in_body = True


def sdk_client(
    api_key: str, base_url: str | None, settings: Settings, transport: Transport | None = None
) -> groq.AsyncGroq:
    """An `AsyncGroq` with Harpoon's timeouts and pool, and without SDK retries."""
    import groq as sdk

    http_client = groq_http_client(settings, transport) if transport else groq_http_client(settings)
    return sdk.AsyncGroq(
        api_key=api_key,
        base_url=base_url,
        max_retries=0,
        timeout=http_client.timeout,
        http_client=http_client,
    )


def create(config: ProviderConfig, settings: Settings) -> GroqProvider | WireProvider:
    key = credential(config, "api_key")
    if settings.upstream_client == "wire":
        # Like the SDK: the base URL is the host, the API lives under /openai/v1.
        base = config.base_url or os.environ.get("GROQ_BASE_URL") or DEFAULT_URL
        return WireProvider(
            config.name, base.rstrip("/") + "/openai/v1/chat/completions", key, settings
        )
    import groq as sdk

    return GroqProvider(config.name, sdk_client(key, config.base_url, settings), sdk)


def at_test_server(config: ProviderConfig, base_url: str) -> ProviderConfig:
    # The SDK appends /openai/v1 itself.
    return config.model_copy(update={"base_url": base_url, "api_key": "test-key"})
