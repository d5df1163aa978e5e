"""The provider pool: which provider serves a model, when it is simulated, and kinds."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

from harpoon_ray.catalog import ProviderConfig
from harpoon_ray.errors import ConfigError
from harpoon_ray.providers import (
    MissingCredential,
    ProviderKind,
    ProviderPool,
    SimulatedProvider,
    provider_kinds,
    register_provider_kind,
)
from harpoon_ray.providers.cloudflare import endpoint
from harpoon_ray.providers.credentials import credential
from harpoon_ray.settings import Settings

from .helpers import local_catalog, local_spec, request

KEY_VARS = ("OPENAI_API_KEY", "GROQ_API_KEY", "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID")


@pytest.fixture
def no_keys(monkeypatch):
    for var in KEY_VARS:
        monkeypatch.delenv(var, raising=False)


async def test_without_keys_every_model_is_simulated(catalog, settings, no_keys):
    """With no keys anywhere, each model is served by the simulated provider."""
    pool = ProviderPool(catalog, settings)
    assert all(pool.is_simulated(m) for m in catalog.models)
    reply = await pool.for_model(catalog.flagship).complete(request(), catalog.flagship)
    assert reply.simulated
    await pool.aclose()


def test_status_says_why_a_provider_is_simulated(catalog, settings, no_keys):
    """status() names the env var and config key that would make a provider real."""
    status = ProviderPool(catalog, settings).status()
    assert status["groq"]["simulated"] and status["groq"]["models"] > 0
    assert "GROQ_API_KEY" in status["groq"]["reason"]
    assert "api_key" in status["groq"]["reason"]


async def test_key_from_env_makes_a_real_provider_reused(catalog, settings, no_keys, monkeypatch):
    """A key in the provider's env var gives a real SDK provider, built once and reused."""
    monkeypatch.setenv("GROQ_API_KEY", "gsk-test")
    pool = ProviderPool(catalog, settings)
    groq_models = [m for m in catalog.models if m.provider == "groq"]
    first = pool.for_model(groq_models[0])
    assert not first.simulated and first.name == "groq"
    assert all(pool.for_model(m) is first for m in groq_models)
    assert pool.is_simulated(catalog.flagship)  # openai still has no key
    await pool.aclose()


async def test_force_simulated_ignores_keys(catalog, no_keys, monkeypatch):
    """force_simulated simulates a provider even when its key is set."""
    monkeypatch.setenv("GROQ_API_KEY", "gsk-test")
    pool = ProviderPool(catalog, Settings(force_simulated=True))
    groq_model = next(m for m in catalog.models if m.provider == "groq")
    assert pool.is_simulated(groq_model)
    assert "FORCE_SIMULATED" in pool.status()["groq"]["reason"]


def test_missing_key_names_both_ways_and_pickles():
    """The missing-key error names the env var and the config key, and pickles."""
    config = ProviderConfig(name="groq", kind="groq", api_key_env="HARPOON_TEST_NO_SUCH_KEY")
    with pytest.raises(MissingCredential) as info:
        credential(config, "api_key")
    message = info.value.message
    assert "HARPOON_TEST_NO_SUCH_KEY" in message and "[providers.groq]" in message
    assert isinstance(info.value, ConfigError)
    assert pickle.loads(pickle.dumps(info.value)).message == message


def test_cloudflare_endpoint_direct_or_through_gateway():
    """Workers AI is reached directly, or through the AI Gateway when one is set."""
    direct = ProviderConfig(name="cf", kind="cloudflare", account_id="acc")
    gateway = direct.model_copy(update={"gateway": "gw"})
    assert endpoint(direct) == "https://api.cloudflare.com/client/v4/accounts/acc/ai/v1"
    assert endpoint(gateway) == "https://gateway.ai.cloudflare.com/v1/acc/gw/workers-ai/v1"


async def test_cloudflare_needs_an_account_id_too(no_keys, monkeypatch, settings):
    """A Cloudflare token without an account id is still simulated, and says why."""
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "cf-token")
    from harpoon_ray.catalog import load_catalog

    pool = ProviderPool(load_catalog(), settings)
    assert "CLOUDFLARE_ACCOUNT_ID" in pool.status()["cloudflare"]["reason"]


def test_compatible_without_base_url_is_a_config_error(settings):
    """An openai_compatible provider must say where its server is."""
    catalog = local_catalog(
        {"local": ProviderConfig(name="local", kind="openai_compatible")}, [local_spec()]
    )
    with pytest.raises(ConfigError, match="base_url"):
        ProviderPool(catalog, settings).for_model(catalog.get("local/local-model"))


def test_unknown_kind_lists_the_registered_ones(settings):
    """A provider of an unregistered kind is a ConfigError naming the known kinds."""
    catalog = local_catalog({"local": ProviderConfig(name="local", kind="nope")}, [local_spec()])
    with pytest.raises(ConfigError, match="openai_compatible"):
        ProviderPool(catalog, settings).for_model(catalog.get("local/local-model"))


async def test_a_registered_kind_serves_its_models(settings):
    """A third-party kind registered as data serves the models of its providers."""
    built = []

    def create(config, settings):
        provider = SimulatedProvider(settings, name=config.name, seed=99)
        built.append(provider)
        return provider

    register_provider_kind(ProviderKind("echo-test", create=create), replace=True)
    catalog = local_catalog(
        {"mine": ProviderConfig(name="mine", kind="echo-test")}, [local_spec("mine", "m")]
    )
    pool = ProviderPool(catalog, settings)
    spec = catalog.get("mine/m")
    assert pool.for_model(spec) is built[0] and pool.for_model(spec) is built[0]
    assert "echo-test" in provider_kinds()
    with pytest.raises(ConfigError, match="already registered"):
        register_provider_kind(ProviderKind("echo-test", create=create))


def test_builtin_kinds_are_registered_like_any_other():
    """The built-in kinds are entries of the same registry a third party uses."""
    assert {"openai", "groq", "cloudflare", "openai_compatible", "simulated"} <= set(
        provider_kinds()
    )


async def test_for_test_server_reaches_the_server_for_every_kind(catalog, server, settings):
    """for_test_server points each provider at the test server (counted per model)."""
    pool = ProviderPool.for_test_server(catalog, server.base_url, settings)
    specs = {m.provider: m for m in catalog.models}.values()
    for spec in specs:
        await pool.for_model(spec).complete(request(), spec)
    assert server.calls() == {spec.provider_model: 1 for spec in specs}
    await pool.aclose()


def test_preload_imports_each_configured_kinds_sdk_before_any_call():
    """A fresh process imports no provider SDK until a call needs it, or until `preload`."""
    code = (
        "import sys\n"
        "from harpoon_ray.catalog import load_catalog\n"
        "from harpoon_ray.providers.registry import ProviderPool\n"
        "pool = ProviderPool(load_catalog())\n"
        "names = ['harpoon_ray.providers.openai', 'harpoon_ray.providers.groq']\n"
        "print([n in sys.modules for n in names])\n"
        "pool.preload()\n"
        "print([n in sys.modules for n in names])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split("\n")
    assert out[:2] == ["[False, False]", "[True, True]"]
