"""How covenants cross actor calls: JSON bytes, not pickled pydantic models.

Ray pickles arguments and results with cloudpickle, whose per-object reducer hooks run
in Python: a covenant with its conversation took ~1.8 ms of a loaded shard's CPU to
pickle (py-spy, 1,000 concurrent covenants), pydantic-core's JSON ~0.01 ms to write and
~0.02 ms to read back. Callers outside this package never see the bytes: the client
and the shards decode them at the edge.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import to_json

from ..schemas import Covenant, QueryRequest

CovenantWire = bytes | Covenant


def pack(cov: Covenant) -> bytes:
    return to_json(cov)


def unpack(data: CovenantWire) -> Covenant:
    """A covenant from its bytes; a `Covenant` (an older caller) passes as is."""
    if isinstance(data, Covenant):
        return data
    return Covenant.model_validate_json(data)


def pack_request(request: QueryRequest) -> bytes:
    return to_json(request)


def request_data(request: QueryRequest | dict[str, Any] | bytes) -> QueryRequest | dict[str, Any]:
    """What `draft_covenant` takes; bytes are validated there, with its typed errors."""
    if isinstance(request, bytes):
        return QueryRequest.model_validate_json(request)
    return request
