"""Every failure's HTTP face, decided in one place.

    HarpoonError (harpoon_ray.errors)  -> its own `http_status` and `to_dict()`
    RequestValidationError             -> 422 naming the field (400 for malformed JSON)
    StarletteHTTPException             -> its status (404 unknown route, 405 ...)
    anything else                      -> 500, a generic body, logged with its trace here

The body is always `{"error": {"type", "message", "param", "code"}}`: Harpoon's shape and
OpenAI's at once, so `/v1` clients (the `openai` SDK) parse it as they would OpenAI's.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import HarpoonError, UserError

log = logging.getLogger("harpoon.serve")

_STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class Unauthorized(UserError):
    """A bearer token is required (HARPOON_API_KEY is set) and was missing or wrong."""

    http_status = 401
    error_type = "authentication_error"


class SocketUnauthorized(Unauthorized):
    """`Unauthorized` on a WebSocket: the socket is accepted, told why in an `error`
    frame, then closed with 1008 (policy violation). Refused at the handshake instead, a
    browser would see only close code 1006, with no reason."""

    close_code = 1008


class PayloadTooLarge(UserError):
    http_status = 413
    error_type = "request_too_large"


def error_body(
    type_: str, message: str, param: str | None = None, code: str | int | None = None
) -> dict[str, Any]:
    return {"error": {"type": type_, "message": message, "param": param, "code": code}}


def error_response(exc: HarpoonError) -> JSONResponse:
    body = exc.to_dict()
    body.setdefault("code", exc.http_status)
    headers = {}
    retry_after = getattr(exc, "retry_after_s", None)
    if retry_after is not None:
        headers["retry-after"] = str(max(1, round(retry_after)))
    if exc.http_status == 401:
        headers["www-authenticate"] = "Bearer"
    return JSONResponse({"error": body}, status_code=exc.http_status, headers=headers)


def validation_error(exc: RequestValidationError) -> tuple[int, dict[str, Any]]:
    """The first problem, with the offending field as a dotted path ('messages.0.role')."""
    errors = exc.errors()
    first = errors[0] if errors else {"type": "invalid", "loc": (), "msg": "invalid request"}
    if first.get("type") == "json_invalid":
        detail = (first.get("ctx") or {}).get("error", "")
        return 400, error_body(
            "invalid_request_error",
            f"request body is not valid JSON: {detail}".strip(),
            "body",
            400,
        )
    loc = [str(p) for p in first.get("loc", ())]
    if loc and loc[0] in ("body", "query", "path", "header", "cookie"):
        loc = loc[1:]
    tag = (first.get("ctx") or {}).get("discriminator")
    if first.get("type", "").startswith("union_tag") and tag:
        loc.append(str(tag).strip("'\""))
    param = ".".join(loc) or None
    where = f"{param}: " if param else ""
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return 422, error_body("invalid_request_error", f"{where}{first['msg']}{more}", param, 422)


def install_error_handlers(app: FastAPI) -> None:
    """Register the mapping above on a FastAPI app."""

    async def on_harpoon(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HarpoonError)
        if exc.http_status >= 500:
            log.warning("request failed: %s: %s", exc.error_type, exc.message)
        return error_response(exc)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        status, body = validation_error(exc)
        return JSONResponse(body, status_code=status)

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        type_ = _STATUS_TYPES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = "no such route; see /docs for the API"
        return JSONResponse(
            error_body(type_, message, None, exc.status_code),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    async def on_socket_refused(ws: WebSocket, exc: Exception) -> None:
        assert isinstance(exc, SocketUnauthorized)
        await ws.accept()
        await ws.send_text(json.dumps({"type": "error", "error": exc.to_dict()}))
        await ws.close(exc.close_code, exc.message[:120])

    app.add_exception_handler(HarpoonError, on_harpoon)
    app.add_exception_handler(SocketUnauthorized, on_socket_refused)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


class CatchAll:
    """ASGI middleware: an unexpected exception becomes a generic 500, its trace a log line.

    Starlette's own handler for `Exception` re-raises after answering; this one does not,
    so nothing of the failure reaches the client or Serve's replica wrapper. A
    CancelledError that is not this request's own cancellation (a callee's: an awaited
    future cancelled elsewhere) is such a failure too: let through, it reached the client
    as uvicorn's plain-text 500 with no trace anywhere.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] in ("http.response.start", "websocket.accept"):
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise  # this request is being cancelled: its client left, or shutdown
            await self._fail(scope, receive, send, started=started)
        except Exception:
            await self._fail(scope, receive, send, started=started)

    async def _fail(self, scope: Scope, receive: Receive, send: Send, *, started: bool) -> None:
        log.exception("unexpected error on %s %s", scope.get("type"), scope.get("path"))
        if scope["type"] != "http" or started:
            return
        body = error_body("internal_error", "internal server error; see the server log")
        await JSONResponse(body, status_code=500)(scope, receive, send)
