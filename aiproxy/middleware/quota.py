"""Quota: is this key still within its limits?

Today the one limit is the key's expiry date; rate, token and cost budgets
plug in here.
"""

from __future__ import annotations

from typing import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import error_response
from ..formats.dialect import Dialect
from ..stores.entities import ApiKey, utcnow
from .auth import STATE_KEY as KEY_STATE


class QuotaMiddleware:
    def __init__(self, app: ASGIApp, *, dialect: Dialect, now: Callable[[], object] = utcnow) -> None:
        self.app = app
        self.dialect = dialect
        self.now = now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key: ApiKey = scope["state"][KEY_STATE]
        if key.expires_at is not None and key.expires_at <= self.now():  # type: ignore[operator]
            message = f"API key expired at {key.expires_at.isoformat()}Z"
            await error_response(self.dialect, 403, message)(scope, receive, send)
            return
        await self.app(scope, receive, send)
