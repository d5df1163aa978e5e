"""Model providers behind one protocol, and the pool that hands them out.

    pool = ProviderPool(catalog, settings)
    provider = pool.for_model(catalog.get("groq/llama-3.3-70b"))
    response = await provider.complete(request, spec)

Built-in kinds: openai, groq, cloudflare, openai_compatible, simulated. Add your own with
`register_provider_kind`.
"""

from .base import Provider
from .credentials import MissingCredential
from .registry import ProviderKind, ProviderPool, provider_kinds, register_provider_kind
from .simulated import SimulatedProvider, Simulation

__all__ = [
    "MissingCredential",
    "Provider",
    "ProviderKind",
    "ProviderPool",
    "SimulatedProvider",
    "Simulation",
    "provider_kinds",
    "register_provider_kind",
]
