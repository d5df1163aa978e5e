"""The auth seam: one dependency that turns a connection into a tenant id.

Today every caller is tenant `local`; when HARPOON_API_KEY is set, every API route and
WebSocket needs `Authorization: Bearer <key>` (a browser's WebSocket cannot set headers,
so sockets may pass `?token=<key>` instead; a refused socket is told why in an `error`
frame and closed with 1008). Multi-tenancy proper will map keys to tenants here, and
nowhere else.
"""

from __future__ import annotations

import hmac

from starlette.requests import HTTPConnection

from .errors import SocketUnauthorized, Unauthorized

DEFAULT_TENANT = "local"


class TenantResolver:
    """Callable FastAPI dependency; holds the key so nothing reads the environment per call."""

    def __init__(self, api_key: str | None) -> None:
        self._key = api_key.encode() if api_key else None

    async def __call__(self, conn: HTTPConnection) -> str:
        """Async so that FastAPI runs it on the loop. A plain function went to the thread
        pool for every request and socket: a thread hand-off each, and anyio's lookup of
        the root task walked every task of the replica, so with 10,000 sockets open each
        new one cost milliseconds and opening them took minutes of the replica's CPU."""
        return self.resolve(conn)

    def resolve(self, conn: HTTPConnection) -> str:
        """The tenant of a request or socket; raises (Socket)Unauthorized."""
        if self._key is None:
            return DEFAULT_TENANT
        token = _bearer(conn.headers.get("authorization"))
        if token is None and conn.scope["type"] == "websocket":
            token = conn.query_params.get("token")
        if token is not None and hmac.compare_digest(token.encode(), self._key):
            return DEFAULT_TENANT
        message = (
            "missing bearer token: send `Authorization: Bearer <HARPOON_API_KEY>`"
            if token is None
            else "the bearer token does not match HARPOON_API_KEY"
        )
        if conn.scope["type"] == "websocket":
            raise SocketUnauthorized(message + " (or `?token=` on a socket)", param="token")
        raise Unauthorized(message, param="authorization")


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
