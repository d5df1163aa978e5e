"""Helpers shared by the provider tests: requests and test-only catalog entries."""

from __future__ import annotations

from harpoon_ray.catalog import Catalog, ProviderConfig, load_catalog
from harpoon_ray.schemas import Message, ModelRequest, ModelSpec, Tier


def request(text: str = "Explain how Ray actors keep state", **kw) -> ModelRequest:
    return ModelRequest(messages=[Message(role="user", content=text)], **kw)


def local_spec(provider: str = "local", model: str = "local-model", **kw) -> ModelSpec:
    """A catalog entry for a model that only tests know about."""
    values = dict(
        id=f"{provider}/{model}",
        provider=provider,
        provider_model=model,
        tier=Tier.EDGE,
        context_window=8192,
        input_price_per_m=0.1,
        output_price_per_m=0.2,
        ttft_s=0.5,
        tokens_per_s=100,
        quality=0.3,
        prices_read="2025-08-01",
    )
    return ModelSpec(**{**values, **kw})


def local_catalog(extra: dict[str, ProviderConfig], models: list[ModelSpec]) -> Catalog:
    """The shipped catalog plus test-only providers and models."""
    base = load_catalog()
    return Catalog(base.models + models, {**base.providers, **extra}, base.flagship.id)
