"""A covenant's tenant is looked up once per replica, however many sockets ask."""

from __future__ import annotations

import asyncio

import pytest

from harpoon_ray.errors import NotFound
from harpoon_ray.serve.owners import CovenantOwners


class Shard:
    """Answers tenant lookups after a short wait, counting them."""

    def __init__(self, tenants: dict[str, str]) -> None:
        self.tenants = tenants
        self.calls: list[str] = []

    async def lookup(self, covenant_id: str) -> str:
        self.calls.append(covenant_id)
        await asyncio.sleep(0.01)
        if covenant_id not in self.tenants:
            raise NotFound(f"unknown covenant {covenant_id!r}", param="covenant_id")
        return self.tenants[covenant_id]


async def test_a_crowd_asking_at_once_shares_one_lookup() -> None:
    """1,000 sockets following one covenant cost its shard one call."""
    shard = Shard({"cov_a": "acme"})
    owners = CovenantOwners(shard.lookup)
    got = await asyncio.gather(*(owners.tenant("cov_a") for _ in range(1000)))
    assert set(got) == {"acme"} and shard.calls == ["cov_a"]
    assert await owners.tenant("cov_a") == "acme" and len(shard.calls) == 1


async def test_an_unknown_covenant_is_asked_again_next_time() -> None:
    """A failed lookup raises to every caller and is not remembered."""
    shard = Shard({})
    owners = CovenantOwners(shard.lookup)
    for _ in range(2):
        with pytest.raises(NotFound):
            await owners.tenant("cov_new")
    shard.tenants["cov_new"] = "local"
    assert await owners.tenant("cov_new") == "local"
    assert shard.calls == ["cov_new"] * 3


async def test_a_caller_that_goes_away_does_not_cancel_the_others() -> None:
    """Cancelling one waiting caller leaves the shared lookup running for the rest."""
    shard = Shard({"cov_a": "acme"})
    owners = CovenantOwners(shard.lookup)
    first = asyncio.create_task(owners.tenant("cov_a"))
    second = asyncio.create_task(owners.tenant("cov_a"))
    await asyncio.sleep(0)
    first.cancel()
    assert await second == "acme"


async def test_only_the_most_recent_covenants_are_kept() -> None:
    """Past `keep` covenants the least recently asked one is forgotten."""
    shard = Shard({f"cov_{i}": "local" for i in range(3)})
    owners = CovenantOwners(shard.lookup, keep=2)
    for cid in ("cov_0", "cov_1", "cov_0", "cov_2", "cov_0", "cov_1"):
        await owners.tenant(cid)
    assert shard.calls == ["cov_0", "cov_1", "cov_2", "cov_1"]


async def test_another_tenants_covenant_is_as_unknown_as_none() -> None:
    """The ownership check answers NotFound for another tenant's covenant, for a covenant
    that does not exist, and for an id that cannot be one (without asking the shard)."""
    shard = Shard({"cov_a": "acme"})
    owners = CovenantOwners(shard.lookup)
    await owners.check("cov_a", "acme")
    for covenant_id, tenant in (("cov_a", "local"), ("cov_zzz", "acme"), ("nope", "acme")):
        with pytest.raises(NotFound) as caught:
            await owners.check(covenant_id, tenant)
        assert caught.value.param == "covenant_id" and covenant_id in caught.value.message
    assert "nope" not in shard.calls
