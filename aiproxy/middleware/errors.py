"""Turns an unexpected exception into a 500 in the caller's API shape, never a trace
(a 503 when it says the database is unavailable)."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..backoff import describe
from ..errors import error_response
from ..formats.dialect import Dialect
from ..stores.sql_errors import is_unavailable

log = logging.getLogger("aiproxy.errors")


class ErrorShieldMiddleware:
    def __init__(self, app: ASGIApp, *, dialect: Dialect) -> None:
        self.app = app
        self.dialect = dialect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if not started and is_unavailable(exc):
                # The database is down (a store read off the usual cached
                # path): the caller may retry; one line, not a trace per request.
                log.warning("%s %s: unavailable: %s", scope.get("method"), scope.get("path"), describe(exc))
                message = "the gateway is temporarily unavailable; try again shortly"
                await error_response(self.dialect, 503, message, {"retry-after": "5"})(scope, receive, send)
                return
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # too late for an error answer; the server closes the connection
            await error_response(self.dialect, 500, "internal gateway error")(scope, receive, send)
