"""Provider kinds, and the pool that holds one provider (one client) per configured provider.

A provider *kind* (openai, groq, cloudflare, openai_compatible, simulated) is registered
as data: a `ProviderKind` with a factory. The built-ins are registered below exactly the
way a third party would register its own, so nothing here branches on a provider's name:

    register_provider_kind(ProviderKind("mine", create=my_factory))

The pool builds each provider on first use and keeps it, so its connection pool is
reused. A provider whose key is missing (`MissingCredential`) is replaced by the one
shared `SimulatedProvider`, and `status()` says why.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..catalog import Catalog, ProviderConfig
from ..errors import ConfigError
from ..schemas import ModelSpec
from ..settings import Settings, get_settings
from .base import Provider
from .credentials import MissingCredential
from .simulated import SimulatedProvider

ProviderFactory = Callable[[ProviderConfig, Settings], Provider]
TestServerConfig = Callable[[ProviderConfig, str], ProviderConfig]


@dataclass(frozen=True)
class ProviderKind:
    """How to build providers of one kind.

    `create` raises `MissingCredential` when a key is missing (the pool then simulates);
    `at_test_server` rewrites a config to reach `harpoon_ray.testing.server` at a base
    URL (None: the kind never talks HTTP). `preload` imports what `create` will need
    (an SDK takes ~0.2 s to import): a long-lived process calls it off its event loop at
    start, so the first call of that kind does not stall everything else on the loop.
    """

    name: str
    create: ProviderFactory
    at_test_server: TestServerConfig | None = None
    preload: Callable[[], Any] | None = None


_KINDS: dict[str, ProviderKind] = {}


def register_provider_kind(kind: ProviderKind, *, replace: bool = False) -> None:
    """Make `kind.name` usable as `kind = "..."` in a catalog's `[providers.*]`."""
    if kind.name in _KINDS and not replace:
        raise ConfigError(
            f"provider kind {kind.name!r} is already registered; pass replace=True to override",
            param="kind",
        )
    _KINDS[kind.name] = kind


def provider_kinds() -> dict[str, ProviderKind]:
    """Every registered kind, by name."""
    return dict(_KINDS)


def _from_module(kind: str, module: str) -> ProviderKind:
    """A built-in kind whose module (and SDK) is imported only when first used."""

    def load() -> Any:
        return importlib.import_module(f"{__package__}.{module}")

    return ProviderKind(
        kind,
        create=lambda config, settings: load().create(config, settings),
        at_test_server=lambda config, base_url: load().at_test_server(config, base_url),
        preload=load,
    )


for _kind, _module in (
    ("openai", "openai"),
    ("groq", "groq"),
    ("cloudflare", "cloudflare"),
    ("openai_compatible", "compatible"),
):
    register_provider_kind(_from_module(_kind, _module))
register_provider_kind(
    ProviderKind("simulated", create=lambda config, settings: SimulatedProvider(settings))
)


class ProviderPool:
    """One provider per configured provider name, built on first use and reused."""

    def __init__(
        self,
        catalog: Catalog,
        settings: Settings | None = None,
        *,
        configs: dict[str, ProviderConfig] | None = None,
    ) -> None:
        self.catalog = catalog
        self.settings = settings or get_settings()
        self._configs = dict(configs if configs is not None else catalog.providers)
        self._providers: dict[str, Provider] = {}
        self._reasons: dict[str, str] = {}
        self._simulated: SimulatedProvider | None = None

    @classmethod
    def for_test_server(
        cls, catalog: Catalog, base_url: str, settings: Settings | None = None
    ) -> ProviderPool:
        """A pool whose every HTTP provider talks to the test server at `base_url`."""
        base = base_url.rstrip("/")
        configs = {}
        for name, config in catalog.providers.items():
            kind = _kind_of(config)
            configs[name] = kind.at_test_server(config, base) if kind.at_test_server else config
        return cls(catalog, settings, configs=configs)

    def simulated_provider(self) -> SimulatedProvider:
        """The one simulated provider standing in for every provider without a key."""
        if self._simulated is None:
            self._simulated = SimulatedProvider(self.settings)
        return self._simulated

    def for_model(self, spec: ModelSpec) -> Provider:
        """The provider that serves `spec` (built once, then reused)."""
        provider = self._providers.get(spec.provider)
        if provider is None:
            provider = self._providers[spec.provider] = self._build(spec.provider)
        return provider

    def preload(self) -> None:
        """Import every configured kind's module now (blocking: run it in a thread)."""
        for config in self._configs.values():
            kind = _KINDS.get(config.kind)
            if kind is not None and kind.preload is not None:
                kind.preload()

    def is_simulated(self, spec: ModelSpec) -> bool:
        return self.for_model(spec).simulated

    def _build(self, name: str) -> Provider:
        config = self._configs.get(name)
        if config is None:
            raise ConfigError(
                f"provider {name!r} is not configured; add [providers.{name}] to the catalog",
                param=f"providers.{name}",
            )
        if self.settings.force_simulated:
            self._reasons[name] = "HARPOON_FORCE_SIMULATED is set"
            return self.simulated_provider()
        kind = _kind_of(config)
        try:
            provider = kind.create(config, self.settings)
        except MissingCredential as exc:
            self._reasons[name] = exc.message
            return self.simulated_provider()
        if provider.simulated:
            self._reasons[name] = f"kind {config.kind!r} is simulated"
        return provider

    def status(self) -> dict[str, dict[str, Any]]:
        """Per provider: its kind, whether it is simulated and why, how many models use it."""
        out: dict[str, dict[str, Any]] = {}
        for name, config in self._configs.items():
            models = [m.id for m in self.catalog.models if m.provider == name]
            provider = self._providers.get(name)
            if provider is None and models:
                provider = self.for_model(self.catalog.get(models[0]))
            out[name] = {
                "kind": config.kind,
                "simulated": bool(provider and provider.simulated),
                "reason": self._reasons.get(name),
                "models": len(models),
            }
        return out

    async def aclose(self) -> None:
        """Close every provider's client (each once)."""
        seen: set[int] = set()
        providers = [*self._providers.values(), *([self._simulated] if self._simulated else [])]
        for provider in providers:
            if id(provider) not in seen:
                seen.add(id(provider))
                await provider.aclose()
        self._providers.clear()
        self._simulated = None


def _kind_of(config: ProviderConfig) -> ProviderKind:
    try:
        return _KINDS[config.kind]
    except KeyError:
        raise ConfigError(
            f"provider {config.name!r} has unknown kind {config.kind!r}; "
            f"registered kinds: {', '.join(sorted(_KINDS))}",
            param=f"providers.{config.name}.kind",
        ) from None
