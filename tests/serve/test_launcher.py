"""The launcher's ingress switches and printed URLs (its Ray start runs in the benchmarks)."""

from __future__ import annotations

import os

import pytest

from harpoon_ray.errors import ConfigError
from harpoon_ray.serve.launcher import Ingress, ingress_env, urls


def test_haproxy_ingress_sets_the_switches_ray_reads_at_start() -> None:
    """HAProxy mode turns on Serve's HAProxy and throughput-optimised replicas."""
    env = ingress_env("haproxy")
    assert env == {"RAY_SERVE_ENABLE_HA_PROXY": "1", "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"}


def test_proxy_ingress_sets_nothing() -> None:
    """The Serve proxy is Ray's default: no switch needed."""
    assert ingress_env(Ingress.PROXY) == {}


def test_unknown_ingress_is_a_config_error_listing_the_choices() -> None:
    """A misspelt mode names the valid ones."""
    with pytest.raises(ConfigError) as info:
        ingress_env("nginx")
    assert info.value.param == "ingress"
    assert "haproxy" in info.value.message


def test_urls_point_at_ui_api_and_docs() -> None:
    """The printed URLs are the UI, the REST API, /v1 and the docs on the chosen port."""
    assert urls("127.0.0.1", 8123) == {
        "ui": "http://127.0.0.1:8123/",
        "api": "http://127.0.0.1:8123/api",
        "v1": "http://127.0.0.1:8123/v1",
        "docs": "http://127.0.0.1:8123/docs",
    }


def test_each_launcher_haproxy_has_ports_and_files_of_its_own(monkeypatch) -> None:
    """Two Harpoons on one machine: the HAProxy a launcher's Ray starts gets free loopback
    stats and metrics ports (not Ray's fixed 8404 and 9101, which a second instance found
    taken) and a folder of its own for its files, removed after; exported values win."""
    from harpoon_ray.serve.launcher import _haproxy_of_its_own

    monkeypatch.setenv("RAY_SERVE_HAPROXY_METRICS_PORT", "19101")
    monkeypatch.delenv("RAY_SERVE_HAPROXY_STATS_PORT", raising=False)
    monkeypatch.delenv("RAY_SERVE_HAPROXY_SOCKET_PATH", raising=False)
    with _haproxy_of_its_own() as first, _haproxy_of_its_own() as second:
        assert first != second and first.is_dir() and second.is_dir()
        stats = int(os.environ["RAY_SERVE_HAPROXY_STATS_PORT"])
        assert stats not in (8404, 9101) and stats > 1024
        assert os.environ["RAY_SERVE_HAPROXY_METRICS_PORT"] == "19101"
        assert os.environ["RAY_SERVE_HAPROXY_SOCKET_PATH"] == f"{first}/admin.sock"
    assert not first.exists() and not second.exists()
    assert "RAY_SERVE_HAPROXY_STATS_PORT" not in os.environ
    assert "RAY_SERVE_HAPROXY_SOCKET_PATH" not in os.environ
    assert os.environ["RAY_SERVE_HAPROXY_METRICS_PORT"] == "19101"
