"""`POST /v1/chat/completions` answered at the ASGI layer, ahead of FastAPI's routing.

This is the gateway's hot path, so it does only what the answer needs: the tenant check,
one body read, one pydantic validation of the JSON (`model_validate_json`, no dict in
between), the routed call, one JSON encode, two ASGI sends. A profile of the FastAPI
route put most of a request's gateway CPU around the call rather than in it: the auth
dependency is a plain function, so FastAPI ran it in a worker thread for every request,
then its dependency solving, body parsing and response classes. Everything a client can
see is the same as the FastAPI route's (`routes_v1.py`, still declared for the OpenAPI
document): the same errors in the same shape (`errors.py`), the same headers, the same
body; the app's body limit and catch-all still wrap this path.
"""

from __future__ import annotations

import logging

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import HarpoonError
from .auth import TenantResolver
from .errors import error_response, validation_error
from .openai_types import ChatCompletionRequest
from .routes_v1 import CHAT_COMPLETIONS, ChatCompletions

log = logging.getLogger("harpoon.serve.v1")


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


class ChatCompletionsIngress:
    """ASGI middleware serving `POST /v1/chat/completions`; everything else passes on."""

    def __init__(self, app: ASGIApp, chat: ChatCompletions, tenant: TenantResolver) -> None:
        self.app = app
        self.chat = chat
        self.tenant = tenant

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or _route_path(scope) != CHAT_COMPLETIONS
        ):
            await self.app(scope, receive, send)
            return
        try:
            self.tenant.resolve(HTTPConnection(scope))
            body = ChatCompletionRequest.model_validate_json(await _read_body(receive))
            if body.stream:
                response = await self.chat.stream(body)
                await response(scope, receive, send)
                return
            payload, headers = await self.chat.complete(body)
        except ClientGone:
            return
        except ValidationError as exc:
            status, error = validation_error(RequestValidationError(exc.errors()))
            await JSONResponse(error, status_code=status)(scope, receive, send)
            return
        except HarpoonError as exc:
            if exc.http_status >= 500:
                log.warning("request failed: %s: %s", exc.error_type, exc.message)
            await error_response(exc)(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def _route_path(scope: Scope) -> str:
    """The path below the app's mount point (Serve sets `root_path` to a route prefix)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :]
    return path


async def _read_body(receive: Receive) -> bytes:
    """The whole request body (the app's `BodyLimit` has already bounded it)."""
    message = await receive()
    if message["type"] != "http.request":
        raise ClientGone
    body = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    parts = [body]
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)
