"""The admin REST API as a Starlette sub-application (mounted at /admin/api).

JSON in, JSON out, bearer JWT from POST /login. Each resource lives in its
own module; this one only puts their routes and the error handlers together,
over stores whose calls are bounded in time (db_guard: a database that hangs
or is down answers 503 database_unavailable, on every endpoint, login too).
See docs/admin-api.md for the contract.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from ..security_headers import API_HEADERS, SecurityHeaders
from .accounts import AccountEndpoints
from .context import AdminContext
from .db_guard import guarded_context
from .errors import handle_http_exception, handle_unexpected
from .keys import KeyEndpoints
from .oauth import OAuthEndpoints
from .session import SessionEndpoints
from .usage import UsageEndpoints
from .users import UserEndpoints


def create_admin_app(ctx: AdminContext, *, db_timeout: float = 5.0) -> Starlette:
    # Every store call, and the pool's reload (a store read), within db_timeout.
    ctx = guarded_context(ctx, db_timeout)
    routes: list[BaseRoute] = []
    for endpoints in (
        SessionEndpoints(ctx),
        UserEndpoints(ctx),
        AccountEndpoints(ctx),
        OAuthEndpoints(ctx),
        KeyEndpoints(ctx),
        UsageEndpoints(ctx),
    ):
        routes.extend(endpoints.routes())
    return Starlette(
        routes=routes,
        # nosniff and no framing on every JSON answer (aiproxy/security_headers.py).
        middleware=[Middleware(SecurityHeaders, headers=API_HEADERS)],
        exception_handlers={
            # ApiError is an HTTPException, and so are the router's 404/405.
            HTTPException: handle_http_exception,
            # Anything else: logged with its trace, answered as a JSON 500.
            Exception: handle_unexpected,
        },
    )
