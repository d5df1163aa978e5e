"""Schemathesis over /openapi.json: whatever the generated input, no 5xx.

Driven through hypothesis directly (schemathesis' pytest plugin does not load under the
installed pytest 9), one bounded run per operation.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

pytestmark = pytest.mark.serve

MAX_EXAMPLES = 20
# Routes that start covenants: fuzzed apart, with the width the fuzzer picks (up to 100,000
# agents, on a shared 2-core machine) cut to a few agents and `?wait=true` to a short wait.
STARTS_COVENANTS = r"^/api/(orchestrate|agents/mediator)/"
MAX_FUZZED_AGENTS = 3
MAX_FUZZED_WAIT_S = 5


def _fuzz(operation, base_url: str, prepare=lambda case: None) -> list[int]:
    """One bounded run over `operation`; returns the statuses it got."""
    statuses: list[int] = []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def fuzz(case) -> None:
        prepare(case)
        response = case.call_and_validate(
            base_url=base_url, checks=[not_a_server_error], timeout=60
        )
        statuses.append(response.status_code)

    fuzz()
    return statuses


def _bounded(case) -> None:
    """Keep a generated covenant small and a generated wait short; every other field, the
    body's shape and types included, stays as generated."""
    body = case.body
    agents = body.get("agents") if isinstance(body, dict) else None
    # a number of either kind: 9774.0 is a valid width too
    if isinstance(agents, int | float) and not isinstance(agents, bool):
        body["agents"] = min(agents, MAX_FUZZED_AGENTS)
    if isinstance(case.query, dict) and "timeout_s" in case.query:
        case.query["timeout_s"] = MAX_FUZZED_WAIT_S


def test_no_generated_request_gets_a_server_error(serve_app: str) -> None:
    """Every operation answers generated input with a 2xx or 4xx, never a 5xx."""
    schema = schemathesis.openapi.from_url(serve_app + "/openapi.json")
    operations = [r.ok() for r in schema.exclude(path_regex=STARTS_COVENANTS).get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        _fuzz(operation, serve_app)


def test_no_generated_covenant_request_gets_a_server_error(serve_app: str) -> None:
    """The routes that start covenants (orchestrate, the mediator's command) answer
    generated input with a 2xx or 4xx too, at a few agents each; some of it is accepted,
    so the handlers ran and not only the validation in front of them."""
    schema = schemathesis.openapi.from_url(serve_app + "/openapi.json")
    operations = [r.ok() for r in schema.include(path_regex=STARTS_COVENANTS).get_all_operations()]
    assert len(operations) == 2
    for operation in operations:
        statuses = _fuzz(operation, serve_app, prepare=_bounded)
        assert any(200 <= s < 300 for s in statuses), (operation.label, statuses)


def test_server_alive_after_fuzzing(http: httpx.Client) -> None:
    """After the fuzzing run the app still answers."""
    assert http.get("/api/health").status_code == 200
