"""create_app(): the gateway as an ASGI app, assembled from named parts.

The parts and their lifetime are a `Gateway` (gateway.py); the middleware in
front of each platform's routes is a declared list of layers (stack.py); the
routes come from routes/, the admin API from admin/, the console from
console/. This module only puts them together.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator, Awaitable, Callable, Sequence

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, request_response
from starlette.types import ASGIApp

from .accounts import ACCOUNT_TYPES, AccountTypes
from .admin.api import create_admin_app
from .console import console_app
from .errors import error_body_for_path
from .formats import wire
from .formats.dialect import ANTHROPIC, GEMINI, OPENAI, Dialect
from .gateway import AdapterFactory, Gateway
from .routes.claude import claude_router
from .routes.gemini import gemini_chat_routes, gemini_router
from .routes.key_usage import KeyUsageEndpoint
from .routes.openai import openai_router, responses_routes
from .settings import Settings
from .stack import KEY_USAGE_MIDDLEWARE, MIDDLEWARE, Layer, Place, compose
from .state import ResilientState, SharedState, state_status
from .stores.protocols import Stores
from .usage.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE

__all__ = ["create_app", "gateway_app"]


def create_app(
    stores: Stores,
    settings: Settings | None = None,
    *,
    http_client: httpx.AsyncClient | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    state: SharedState | None = None,
    account_types: AccountTypes = ACCOUNT_TYPES,
    adapters: AdapterFactory | None = None,
    middleware: Sequence[Layer] = MIDDLEWARE,
) -> Starlette:
    """Build the gateway as an ASGI app: a `Gateway` of these inputs behind `gateway_app`.

    Every argument but `middleware` is the Gateway's (see its docstring);
    `middleware` is the stack in front of each platform's routes, outermost
    first (stack.py). The app's lifespan runs the gateway (`async with`); the
    gateway is `Gateway.of(app)` (also `app.state.gateway`).
    """
    gateway = Gateway(
        stores,
        settings,
        http_client=http_client,
        transport=transport,
        state=state,
        account_types=account_types,
        adapters=adapters,
    )
    return gateway_app(gateway, middleware=middleware)


def gateway_app(gateway: Gateway, *, middleware: Sequence[Layer] = MIDDLEWARE) -> Starlette:
    """The routes, the admin API and the console in front of `gateway`; its lifespan enters the gateway.

    A host that mounts this app runs the gateway from its own lifespan
    (`async with gateway:`): Starlette runs no mounted app's lifespan.
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with gateway:
            yield

    app = Starlette(
        exception_handlers={404: not_found},
        routes=[
            Route("/health", health_endpoint(gateway)),
            Route("/api/usage", key_usage_app(gateway)),
            Route("/metrics", metrics_endpoint(gateway), methods=["GET"]),
            *platform_routes(gateway, middleware),
            Mount("/admin/api", app=admin_app(gateway)),
            # The web console (prebuilt files, aiproxy/console); after the API
            # mount, which must win. /admin itself redirects to /admin/.
            Mount("/admin", app=console_app()),
        ],
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return app


def admin_app(gateway: Gateway) -> ASGIApp:
    """The admin REST API, on the gateway's stores with change hooks into its key cache and pool."""
    return create_admin_app(gateway.admin_context(), db_timeout=gateway.settings.admin_db_timeout_seconds)


def platform_routes(gateway: Gateway, middleware: Sequence[Layer]) -> list[BaseRoute]:
    """Each platform's routes behind its own stack, so every answer the gateway itself gives is in that API's shape."""
    relay, max_body = gateway.relay, gateway.settings.max_request_bytes

    def behind(platform: str, dialect: Dialect, reaches: frozenset[str] = frozenset()) -> Callable[[ASGIApp], ASGIApp]:
        place = Place(platform, dialect, reaches)
        return lambda app: compose(app, middleware, gateway, place)

    # Each client may be served by accounts of the other platforms too (formats/bridges).
    claude_reaches = relay.platforms_reached(wire.ANTHROPIC_MESSAGES)
    openai_reaches = relay.platforms_reached(wire.OPENAI_CHAT) | relay.platforms_reached(wire.OPENAI_RESPONSES)
    responses_reach = relay.platforms_reached(wire.OPENAI_RESPONSES)
    gemini_reaches = relay.platforms_reached(wire.GEMINI)
    return [
        Mount("/claude", app=behind("claude", ANTHROPIC, claude_reaches)(claude_router(relay))),
        Mount("/openai", app=behind("openai", OPENAI, openai_reaches)(openai_router(relay))),
        # Codex CLI pointed at the bare host calls /responses (or /v1/responses).
        *responses_routes(relay, behind("openai", OPENAI, responses_reach)),
        # /gemini/v1/chat speaks OpenAI's chat format, its errors included; listed
        # before the /gemini mount, which would otherwise take it.
        *gemini_chat_routes(relay, behind("gemini", OPENAI), max_request_bytes=max_body),
        Mount("/gemini", app=behind("gemini", GEMINI, gemini_reaches)(gemini_router(relay, max_request_bytes=max_body))),
    ]


def key_usage_app(gateway: Gateway) -> ASGIApp:
    """`GET /api/usage`: a key's own status and usage (docs/clients.md), asked with the key itself.

    Errors in OpenAI's shape. Not proxied: no permission, quota or usage record.
    """
    endpoint = request_response(KeyUsageEndpoint(gateway.state, gateway.stores))
    return compose(endpoint, KEY_USAGE_MIDDLEWARE, gateway, Place(platform="", dialect=OPENAI))


def health_endpoint(gateway: Gateway) -> Callable[[Request], Awaitable[Response]]:
    state, pool = gateway.state, gateway.pool

    async def health(request: Request) -> Response:
        # Still 200 while Redis is unreachable: the gateway serves (on
        # process-local state), and a balancer that pulled every instance
        # out over a shared Redis's outage would turn it into a full outage.
        # "status" and "state" say it for monitoring. A due probe of Redis is
        # made here, so recovery shows without traffic; while Redis is up,
        # no round trip.
        if isinstance(state, ResilientState) and state.degraded:
            await state.check()
        status = state_status(state)
        return JSONResponse(
            {"status": "degraded" if status["state"] == "degraded" else "ok", "accounts": len(pool.accounts), **status}
        )

    return health


def metrics_endpoint(gateway: Gateway) -> Callable[[Request], Awaitable[Response]]:
    metrics = gateway.metrics

    async def metrics_text(request: Request) -> Response:
        # Not behind key auth: operators firewall it or put it behind their proxy.
        return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)

    return metrics_text


async def not_found(request: Request, exc: Exception) -> Response:
    # Paths no route matches (a newline in a path never matches a route's
    # pattern, for one) still get an answer in the API shape their prefix names.
    return Response(error_body_for_path(request.url.path, 404, "no such route"), 404, media_type="application/json")
