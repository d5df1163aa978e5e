"""A driver for the whole-Ray-restart test: runs in its own process with its own Ray.

`start`: submit a 12-agent covenant, wait until some sub-agents completed, print the
log so far as JSON, and shut Ray down (every actor and task dies with it).
`resume`: start a new Ray on the same data dir, wake the shards, wait for the covenant,
print how it ended and its whole log.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import ray
from helpers import agent_events, agent_settings, wait_for

from harpoon_ray.agents.client import HarpoonClient
from harpoon_ray.local_ray import init_local_ray
from harpoon_ray.schemas import EventType, QueryRequest


async def start(client: HarpoonClient) -> dict:
    q = QueryRequest(query="Summarise the history of the bicycle.", pattern="parallel", agents=12)
    cov = await client.submit("restarter", q)

    async def some_completed():
        events = await client.events(cov.id, limit=100_000)
        done = agent_events(events, EventType.COMPLETED)
        spawned = agent_events(events, EventType.AGENT_SPAWNED)
        return events if done and len(spawned) > len(done) else None

    events = await wait_for(some_completed, timeout_s=60)
    return {"covenant_id": cov.id, "events": [e.model_dump(mode="json") for e in events]}


async def resume(client: HarpoonClient, covenant_id: str) -> dict:
    woke = await client.ready()
    done = await client.wait(covenant_id, timeout_s=90)
    events = await client.events(covenant_id, limit=100_000)
    return {
        "resumed": [r.get("resumed", []) for r in woke],
        "covenant": done.model_dump(mode="json"),
        "events": [e.model_dump(mode="json") for e in events],
    }


def main() -> None:
    phase, data_dir, base_url = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    settings = agent_settings(data_dir, "harpoon-restart", orchestrator_shards=1)
    # a Ray of its own, on loopback like every Ray Harpoon starts
    init_local_ray(
        settings, num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="harpoon"
    )
    try:
        client = HarpoonClient(settings, provider_base_url=base_url)
        if phase == "start":
            out = asyncio.run(start(client))
        else:
            out = asyncio.run(resume(client, sys.argv[4]))
    finally:
        ray.shutdown()
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()
