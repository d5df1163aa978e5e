"""Builds one replica's FastAPI app from its context: routes, errors, limits, UI.

Kept apart from the Serve deployment so the app is a plain function of its context and
the deployment class only wires Ray to it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .. import __version__
from .auth import TenantResolver
from .context import GatewayContext
from .errors import CatchAll, install_error_handlers
from .limits import BodyLimit, HttpAdmission
from .routes_agents import agents_routes
from .routes_api import api_routes
from .routes_v1 import ChatCompletions, v1_routes
from .routes_ws import ws_routes
from .static import mount_ui
from .v1_ingress import ChatCompletionsIngress

DESCRIPTION = """Harpoon: a multi-provider LLM gateway and multi-agent orchestrator on Ray.

- `/api/*`: routing, chat, batch, metrics, covenants and agents (JSON).
- `/v1/*`: OpenAI-compatible; point any OpenAI SDK here (`model="harpoon/auto"`).
- WebSockets: `/api/agents/mediator/{user_id}/ws`, `/api/agents/orchestrator/{task_id}/ws`
  (resume with `?after=SEQ`).

When HARPOON_API_KEY is set, send `Authorization: Bearer <key>`.
"""


def create_app(ctx: GatewayContext) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await ctx.aclose()

    app = FastAPI(title="Harpoon", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    tenant = TenantResolver(ctx.settings.api_key)
    install_error_handlers(app)
    app.include_router(api_routes(ctx, tenant))
    chat = ChatCompletions(ctx)
    app.include_router(v1_routes(ctx, tenant, chat))
    app.include_router(agents_routes(ctx, tenant))
    app.include_router(ws_routes(ctx, tenant))
    mount_ui(app, ctx.args.ui_dir)
    # Outermost first on the way in: catch-all, the body limit, then the /v1 hot path
    # (`v1_ingress.py`), which answers chat completions before FastAPI's routing.
    app.add_middleware(ChatCompletionsIngress, chat=chat, tenant=tenant)
    app.add_middleware(BodyLimit, max_bytes=ctx.settings.max_body_bytes)
    # HTTP admission (limits.py): Serve's slots are sized for WebSockets, so HTTP gets
    # its own bound here; sockets pass through it.
    app.add_middleware(
        HttpAdmission,
        max_ongoing=ctx.settings.http_max_ongoing,
        max_queued=ctx.settings.http_max_queued,
    )
    app.add_middleware(CatchAll)

    return app
