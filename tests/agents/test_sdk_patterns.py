"""Patterns on Ray with every model call going through the real SDKs to the test server."""

from __future__ import annotations

import json

import pytest

from harpoon_ray.schemas import CovenantStatus, EventType, QueryRequest

from .helpers import script_every_model

pytestmark = pytest.mark.ray

PLAN = json.dumps(
    {
        "steps": [
            {"id": "a", "title": "Costs", "instruction": "Compare the costs."},
            {"id": "b", "title": "Risks", "instruction": "Compare the risks."},
        ]
    }
)


@pytest.mark.parametrize("pattern", ["parallel", "optimize", "smart"])
async def test_patterns_complete_through_the_sdks(sdk_client, server, pattern):
    """A covenant completes with every model call made over HTTP by the SDK clients."""
    q = QueryRequest(query="Compare two ways to deploy a web app.", pattern=pattern)
    cov = await sdk_client.submit("ivy", q)
    done = await sdk_client.wait(cov.id, timeout_s=60)
    assert done.status is CovenantStatus.COMPLETED, done.error
    assert not done.simulated
    events = await sdk_client.events(cov.id, limit=100_000)
    actions = [e for e in events if e.type is EventType.ACTION]
    assert sum(server.calls().values()) == len(actions)


async def test_malformed_planner_output_is_re_asked(sdk_client, server):
    """A planner reply that is not JSON is rejected with a thought, re-asked, then used."""
    script_every_model(server, [{"text": "Sure! Here is my plan: do it well."}, {"text": PLAN}])
    cov = await sdk_client.submit(
        "jo", QueryRequest(query="Plan a product launch.", pattern="workers")
    )
    done = await sdk_client.wait(cov.id, timeout_s=60)
    assert done.status is CovenantStatus.COMPLETED, done.error
    assert [s.id for s in done.plan.steps] == ["a", "b"]
    events = await sdk_client.events(cov.id, limit=100_000)
    rejected = [e for e in events if e.type is EventType.THOUGHT and e.payload.get("invalid")]
    assert len(rejected) == 1 and "JSON" in rejected[0].payload["text"]


async def test_a_planner_that_never_answers_json_fails_the_covenant_clearly(sdk_client, server):
    """When every planner reply is malformed the covenant fails with a typed error event."""
    script_every_model(server, [{"text": "no plan, sorry"}] * 3)
    cov = await sdk_client.submit("kim", QueryRequest(query="Plan a wedding.", pattern="workers"))
    done = await sdk_client.wait(cov.id, timeout_s=60)
    assert done.status is CovenantStatus.FAILED
    events = await sdk_client.events(cov.id, limit=100_000)
    errors = [e.payload for e in events if e.type is EventType.ERROR]
    assert errors and errors[0]["type"] == "malformed_output"
    assert events[-1].payload["status"] == "failed"
