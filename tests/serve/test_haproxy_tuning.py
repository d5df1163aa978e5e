"""The launcher's HAProxy defaults: threads no more than the cores, Serve's per-request
metrics log off (both measured on the gateway benchmark)."""

from __future__ import annotations

import os

from harpoon_ray.serve.launcher import haproxy_tuning


def test_haproxy_threads_match_the_cores() -> None:
    """HAProxy gets one thread per core, between 1 and Ray's default of 4."""
    threads = int(haproxy_tuning()["RAY_SERVE_HAPROXY_NBTHREAD"])
    assert threads == max(1, min(4, os.cpu_count() or 1))


def test_haproxy_per_request_metrics_are_off() -> None:
    """Serve's per-request HAProxy metrics (a log line parsed per request) are turned off."""
    assert haproxy_tuning()["RAY_SERVE_HAPROXY_METRICS_ENABLED"] == "0"
