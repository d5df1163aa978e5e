"""The model catalog: models, tiers, prices and speeds, loaded from TOML data.

The shipped file is `harpoon_ray/data/catalog.toml`; a user file (HARPOON_CATALOG_PATH)
is merged over it by id. Everything the router knows about a model comes from here.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigError, NotFound
from .schemas import TIERS_IN_ORDER, ModelSpec, Tier


class ProviderConfig(BaseModel):
    """How to reach one provider. Keys come from the environment unless given here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: str  # openai | groq | cloudflare | openai_compatible | simulated
    api_key: str | None = None
    api_key_env: str | None = None
    base_url: str | None = None
    account_id: str | None = None
    account_id_env: str | None = None
    gateway: str | None = None
    gateway_env: str | None = None


class Catalog:
    """An immutable view over the catalog data."""

    def __init__(
        self,
        models: list[ModelSpec],
        providers: dict[str, ProviderConfig],
        flagship_reference: str,
    ) -> None:
        self._models = {m.id: m for m in models}
        self.providers = providers
        if flagship_reference not in self._models:
            raise ConfigError(
                f"flagship_reference {flagship_reference!r} is not a model of the catalog",
                param="flagship_reference",
            )
        self.flagship = self._models[flagship_reference]
        for m in models:
            if m.provider not in providers:
                raise ConfigError(
                    f"model {m.id!r} names provider {m.provider!r}, which is not configured",
                    param=f"models.{m.id}.provider",
                )

    @property
    def models(self) -> list[ModelSpec]:
        return list(self._models.values())

    def get(self, model_id: str) -> ModelSpec:
        try:
            return self._models[model_id]
        except KeyError:
            raise NotFound(
                f"unknown model {model_id!r}; see `harpoon models` for the catalog",
                param="model",
            ) from None

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._models

    def by_tier(self, tier: Tier) -> list[ModelSpec]:
        """Models of a tier, cheapest first (blended price, 1:3 input:output)."""
        return sorted(
            (m for m in self._models.values() if m.tier == tier),
            key=blended_price,
        )

    def tiers(self) -> list[Tier]:
        present = {m.tier for m in self._models.values()}
        return [t for t in TIERS_IN_ORDER if t in present]

    def to_dict(self) -> dict[str, Any]:
        return {
            "flagship_reference": self.flagship.id,
            "models": [m.model_dump(mode="json") for m in self._models.values()],
        }


def blended_price(m: ModelSpec) -> float:
    """Price per 1M tokens for a typical 1:3 input:output mix, for ordering by cost."""
    return (m.input_price_per_m + 3 * m.output_price_per_m) / 4


def _read_toml(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}", param=origin) from None


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    models = {m["id"]: m for m in base.get("models", [])}
    for m in extra.get("models", []):
        if "id" not in m:
            raise ConfigError("every [[models]] entry needs an `id`", param="models.id")
        models[m["id"]] = {**models.get(m["id"], {}), **m}
    providers = {**base.get("providers", {})}
    for name, p in extra.get("providers", {}).items():
        providers[name] = {**providers.get(name, {}), **p}
    return {
        "flagship_reference": extra.get("flagship_reference", base.get("flagship_reference")),
        "providers": providers,
        "models": list(models.values()),
    }


def load_catalog(user_path: Path | str | None = None) -> Catalog:
    """The shipped catalog, with `user_path` merged over it when given."""
    data = _read_toml(
        resources.files("harpoon_ray").joinpath("data/catalog.toml").read_text(), "catalog.toml"
    )
    if user_path is not None:
        path = Path(user_path)
        if not path.is_file():
            raise ConfigError(f"catalog file {str(path)!r} does not exist", param="catalog_path")
        data = _merge(data, _read_toml(path.read_text(), str(path)))
    try:
        models = [ModelSpec.model_validate(m) for m in data.get("models", [])]
        providers = {
            name: ProviderConfig.model_validate({"name": name, **p})
            for name, p in data.get("providers", {}).items()
        }
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"catalog: {where}: {first['msg']}", param=where) from None
    return Catalog(models, providers, data.get("flagship_reference", ""))


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    """The process-wide catalog, honouring HARPOON_CATALOG_PATH."""
    from .settings import get_settings

    return load_catalog(get_settings().catalog_path)
