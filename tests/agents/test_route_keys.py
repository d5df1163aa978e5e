"""Sub-agents that share a route key are routed once per chunk, fallbacks included."""

from __future__ import annotations

import asyncio

from harpoon_ray.agents.chunk import Chunk
from harpoon_ray.agents.routing import build_router
from harpoon_ray.agents.sharding import AgentConfig
from harpoon_ray.patterns.runtime import SubAgentSpec
from harpoon_ray.routing.router import Router
from harpoon_ray.schemas import Constraints, Message, ModelRequest
from harpoon_ray.settings import Settings


class CountingRouter(Router):
    """A real router that counts its routing decisions."""

    decisions = 0

    def decide(self, *args, **kwargs):
        self.decisions += 1
        return super().decide(*args, **kwargs)


def _spec(i: int, key: str | None) -> SubAgentSpec:
    request = ModelRequest(
        messages=[Message(role="user", content=f"List three facts about tides (take {i}).")],
        max_tokens=40,
    )
    return SubAgentSpec(agent_id=f"c1:w{i}", covenant_id="c1", request=request, route_key=key)


async def test_takes_of_one_step_are_routed_once_and_keep_the_chain(tmp_path):
    """Five keyed sub-agents: one decision, every call on its model with its fallbacks."""
    settings = Settings(data_dir=tmp_path, force_simulated=True, simulated_speed=0.01)
    built = build_router(AgentConfig(settings=settings))
    router = CountingRouter(built.catalog, built.pool, settings)
    chunk = Chunk(AgentConfig(settings=settings), "local", Constraints(), router=router)
    await asyncio.gather(*(chunk.run_agent(_spec(i, "step0/again")) for i in range(5)))
    assert router.decisions == 1
    [decision] = chunk.routes.values()
    assert all(r.ok for r in chunk.results)
    assert decision.fallbacks, "a decision, not a pin: the fallback chain comes along"
    assert {r.completion.model for r in chunk.results} == {decision.model}
    await router.pool.aclose()


async def test_unkeyed_sub_agents_are_routed_each_on_their_own(tmp_path):
    """Without a key the chunk keeps no decision: each call routes itself."""
    settings = Settings(data_dir=tmp_path, force_simulated=True, simulated_speed=0.01)
    built = build_router(AgentConfig(settings=settings))
    router = CountingRouter(built.catalog, built.pool, settings)
    chunk = Chunk(AgentConfig(settings=settings), "local", Constraints(), router=router)
    await asyncio.gather(*(chunk.run_agent(_spec(i, None)) for i in range(3)))
    assert chunk.routes == {} and router.decisions == 0
    assert all(r.ok for r in chunk.results)
    await router.pool.aclose()
