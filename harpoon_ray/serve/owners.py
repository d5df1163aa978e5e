"""Which tenant owns a covenant, looked up once per replica.

Every socket that follows a covenant must be checked against the covenant's tenant, and
that is a call to the covenant's shard. A crowd following one covenant (1,000 browsers
on a shared run) made 1,000 such calls to a shard busy with the covenant itself: in
bench_ws they held the sockets' subscriptions back by ~0.7 s. A covenant's tenant never
changes, so the answer is kept, and callers asking at once share the one call in flight.
Failures and unknown covenants are not kept: a covenant may exist a moment later.

`check` is the one ownership test of every route that names a covenant (REST and both
sockets): it used to load the covenant with all its agents for each REST call (a page of
events of a 10,000-agent covenant read 10,000 agent rows to learn one tenant).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from ..errors import NotFound

KEEP = 10_000  # covenants remembered per replica (a few hundred KB)
MAX_ID_CHARS = 64


class CovenantOwners:
    def __init__(self, lookup: Callable[[str], Awaitable[str]], keep: int = KEEP) -> None:
        self._lookup = lookup
        self._keep = keep
        self._known: OrderedDict[str, asyncio.Future[str]] = OrderedDict()

    async def tenant(self, covenant_id: str) -> str:
        """The covenant's tenant; raises what the lookup raises (NotFound, ...)."""
        pending = self._known.get(covenant_id)
        if pending is None:
            pending = asyncio.ensure_future(self._lookup(covenant_id))
            self._known[covenant_id] = pending
            pending.add_done_callback(lambda done: self._settle(covenant_id, done))
            while len(self._known) > self._keep:
                self._known.popitem(last=False)
        else:
            self._known.move_to_end(covenant_id)
        # One caller going away (its socket closed) must not cancel the others' answer.
        return await asyncio.shield(pending)

    async def check(self, covenant_id: str, tenant_id: str) -> None:
        """Raise NotFound unless `tenant_id` owns the covenant: another tenant's covenant
        is as unknown as none, and an id that cannot be one is refused without a lookup."""
        if not covenant_id.startswith("cov_") or len(covenant_id) > MAX_ID_CHARS:
            raise NotFound(f"unknown covenant {covenant_id!r}", param="covenant_id")
        if await self.tenant(covenant_id) != tenant_id:
            raise NotFound(f"unknown covenant {covenant_id!r}", param="covenant_id")

    def _settle(self, covenant_id: str, done: asyncio.Future[str]) -> None:
        failed = done.cancelled() or done.exception() is not None
        if failed and self._known.get(covenant_id) is done:
            del self._known[covenant_id]
