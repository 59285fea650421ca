"""Turns an unexpected exception into a 500 in the caller's API shape, never a trace."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import error_response
from ..formats.dialect import Dialect

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
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # too late for an error answer; the server closes the connection
            await error_response(self.dialect, 500, "internal gateway error")(scope, receive, send)
