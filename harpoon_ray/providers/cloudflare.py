"""Cloudflare Workers AI through its OpenAI-compatible endpoint, with the `openai` SDK.

Direct: `https://api.cloudflare.com/client/v4/accounts/{account_id}/ai/v1`. With an AI
Gateway set (`gateway` or the env var it names), calls go through the gateway instead:
`https://gateway.ai.cloudflare.com/v1/{account_id}/{gateway}/workers-ai/v1`, which adds
the gateway's caching, logging and rate limits. A `base_url` in the config wins over both.
Needs an API token and an account id, each from the config or the env var it names
(`CLOUDFLARE_API_TOKEN`, `CLOUDFLARE_ACCOUNT_ID`, `CLOUDFLARE_AI_GATEWAY`).
`HARPOON_UPSTREAM_CLIENT=wire` (the default) calls it with `wire.WireProvider`.
"""

from __future__ import annotations

from ..catalog import ProviderConfig
from ..settings import Settings
from .credentials import credential, optional
from .openai import sdk_client
from .openai_sdk import OpenAIStyleProvider
from .wire import WireProvider

DIRECT_URL = "https://api.cloudflare.com/client/v4/accounts/{account}/ai/v1"
GATEWAY_URL = "https://gateway.ai.cloudflare.com/v1/{account}/{gateway}/workers-ai/v1"


class CloudflareProvider(OpenAIStyleProvider):
    pass


def endpoint(config: ProviderConfig) -> str:
    """The base URL this config reaches: its own, the AI Gateway's, or the direct one."""
    if config.base_url:
        return config.base_url
    account = credential(config, "account_id", what="account id")
    gateway = optional(config, "gateway")
    if gateway:
        return GATEWAY_URL.format(account=account, gateway=gateway)
    return DIRECT_URL.format(account=account)


def create(config: ProviderConfig, settings: Settings) -> CloudflareProvider | WireProvider:
    token = credential(config, "api_key", what="API token")
    if settings.upstream_client == "wire":
        url = endpoint(config).rstrip("/") + "/chat/completions"
        return WireProvider(config.name, url, token, settings)
    import openai as sdk  # only on this path: see openai.py

    return CloudflareProvider(config.name, sdk_client(token, endpoint(config), settings), sdk)


def at_test_server(config: ProviderConfig, base_url: str) -> ProviderConfig:
    account = "test-account"
    return config.model_copy(
        update={
            "base_url": f"{base_url}/client/v4/accounts/{account}/ai/v1",
            "account_id": account,
            "api_key": "test-key",
        }
    )
