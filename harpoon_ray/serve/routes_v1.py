"""OpenAI-compatible `/v1`: chat completions (streamed or not) and the model list.

The official `openai` SDK pointed here by `base_url` works unchanged. Harpoon's choice
of model, its cost and whether it was simulated travel in an extra `harpoon` field of
the body (the final chunk when streaming) and in `x-harpoon-*` headers.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response, StreamingResponse

from ..errors import HarpoonError
from ..schemas import Completion, StreamChunk
from .auth import TenantResolver
from .context import GatewayContext
from .openai_types import (
    AUTO_MODEL,
    ChatCompletionRequest,
    ChunkWriter,
    completion_response,
)

CHAT_COMPLETIONS = "/v1/chat/completions"

log = logging.getLogger("harpoon.serve.v1")


class ChatCompletions:
    """The one implementation of `POST /v1/chat/completions`: the fast ASGI path
    (`v1_ingress.ChatCompletionsIngress`) and the documented FastAPI route both call it."""

    def __init__(self, ctx: GatewayContext) -> None:
        self.ctx = ctx

    async def complete(
        self, body: ChatCompletionRequest
    ) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """A non-streamed answer: its JSON body and raw headers."""
        done = await self.ctx.router.complete(
            body.to_request(), body.constraints, body.routed_model()
        )
        return completion_response(done)

    async def stream(self, body: ChatCompletionRequest) -> StreamingResponse:
        """A streamed answer. The model is decided and the first item awaited before the
        response starts, so an unknown model or a chain that fails before any output is
        a status code, not a broken stream."""
        request = body.to_request()
        model = body.routed_model()
        decision = self.ctx.local_router.decide(request, body.constraints, model)
        stream = self.ctx.router.stream(request, body.constraints, model)
        first = await anext(stream)
        writer = ChunkWriter("chatcmpl-" + uuid.uuid4().hex[:24], decision.model)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        headers = {
            "x-harpoon-routed-model": decision.model,
            "x-harpoon-simulated": "true" if first.simulated else "false",
            "cache-control": "no-cache",
        }
        return StreamingResponse(
            _sse(writer, first, stream, include_usage),
            media_type="text/event-stream",
            headers=headers,
        )


def v1_routes(ctx: GatewayContext, tenant: TenantResolver, chat: ChatCompletions) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["openai"], dependencies=[Depends(tenant)])

    @router.post(
        CHAT_COMPLETIONS.removeprefix("/v1"),
        summary="OpenAI-compatible chat completion (set `stream` for SSE)",
        response_model=None,
    )
    async def chat_completions(body: ChatCompletionRequest) -> Response:
        # Served by the fast ASGI path in the app; declared here for the OpenAPI document
        # and for apps built without that path.
        if body.stream:
            return await chat.stream(body)
        payload, headers = await chat.complete(body)
        return Response(payload, headers={k.decode(): v.decode() for k, v in headers})

    @router.get("/models", summary="The catalog as OpenAI models, plus tiers and auto")
    async def list_models() -> dict[str, Any]:
        created = int(ctx.started_at)
        data = [_model(AUTO_MODEL, "harpoon", created)]
        data += [_model(str(t), "harpoon", created) for t in ctx.catalog.tiers()]
        data += [_model(m.id, m.provider, created, m.tier) for m in ctx.catalog.models]
        return {"object": "list", "data": data}

    return router


def _model(model_id: str, owner: str, created: int, tier: Any = None) -> dict[str, Any]:
    entry = {"id": model_id, "object": "model", "created": created, "owned_by": owner}
    if tier is not None:
        entry["tier"] = str(tier)
    return entry


async def _sse(
    writer: ChunkWriter,
    first: StreamChunk | Completion,
    rest: AsyncIterator[StreamChunk | Completion],
    include_usage: bool,
) -> AsyncIterator[bytes]:
    role_sent = False
    started = time.monotonic()
    try:
        item: StreamChunk | Completion | None = first
        while item is not None:
            if isinstance(item, Completion):
                if not role_sent:
                    yield writer.delta("", role=True)
                yield writer.finish(item)
                if include_usage:
                    yield writer.usage_chunk(item)
                yield writer.done()
                return
            if item.delta or not role_sent:
                yield writer.delta(item.delta, role=not role_sent)
                role_sent = True
            item = await anext(rest, None)
        # The router always ends with a Completion; reaching here means it did not.
        yield writer.error(_error("stream_interrupted", "the stream ended without usage"))
    except HarpoonError as exc:
        log.info("stream failed after %.2fs: %s", time.monotonic() - started, exc.message)
        yield writer.error({"error": {**exc.to_dict(), "code": exc.http_status}})
    finally:
        aclose = getattr(rest, "aclose", None)
        if aclose is not None:
            await aclose()


def _error(type_: str, message: str) -> dict[str, Any]:
    return {"error": {"type": type_, "message": message, "param": None, "code": 502}}
