"""Patterns over real HTTP: the openai/groq SDKs against the project's test server."""

from __future__ import annotations

import json

import pytest

from harpoon_ray.patterns import LocalRuntime
from harpoon_ray.patterns import prompts as P
from harpoon_ray.providers.registry import ProviderPool
from harpoon_ray.routing.router import Router
from harpoon_ray.schemas import CovenantStatus, EventType, Pattern
from harpoon_ray.settings import Settings

from .helpers import assert_well_formed, of_type

PLAN = json.dumps(
    {
        "steps": [
            {"id": "a", "title": "Audience", "instruction": "Describe who the launch is for."},
            {"id": "b", "title": "Channels", "instruction": "Pick the launch channels."},
        ]
    }
)


@pytest.fixture
async def http_router(catalog, test_server):
    settings = Settings(simulated_speed=0.01, backoff_base_s=0.0, force_simulated=False)
    pool = ProviderPool.for_test_server(catalog, test_server.base_url, settings)
    test_server.reset()
    yield Router(catalog, pool, settings)
    await pool.aclose()


async def test_smart_answers_over_http_and_is_not_simulated(http_router, covenant_for):
    """One routed call through a real SDK: the answer and its usage come off the wire."""
    cov = covenant_for(http_router, "What is the tallest mountain in Wales?")
    rt = LocalRuntime(cov, http_router)
    await rt.run()
    assert_well_formed(rt.events)
    [action] = of_type(rt.events, EventType.ACTION)
    assert action.payload["simulated"] is False
    assert action.payload["input_tokens"] > 0 and action.payload["output_tokens"] > 0
    assert cov.result and cov.simulated is False


async def test_a_malformed_plan_over_http_is_re_asked_to_the_same_model(
    http_router, covenant_for, catalog, test_server
):
    """The planner's model answers junk, then a plan: the covenant completes."""
    cov = covenant_for(
        http_router, "Plan the launch of a small open-source library", pattern=Pattern.WORKERS
    )
    planner = catalog.get(http_router.decide(P.plan(cov, 4)).model)
    test_server.script(planner.provider_model, [{"text": "I think we should..."}, {"text": PLAN}])
    rt = LocalRuntime(cov, http_router)
    await rt.run()
    assert_well_formed(rt.events)
    assert cov.status == CovenantStatus.COMPLETED
    assert [s.id for s in cov.plan.steps] == ["a", "b"]
    assert test_server.calls()[planner.provider_model] >= 2
    planners = [
        e for e in of_type(rt.events, EventType.AGENT_SPAWNED) if e.payload["role"] == "planner"
    ]
    assert len(planners) == 2
