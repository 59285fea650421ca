"""Usage: one record per request that reached the routes, handed to a sink when it ends.

The meter goes on the request's context (`context.RequestContext.meter`) for
the relay to fill in (account, model, tokens); this middleware adds what only
the outside sees: the status sent, time to first byte, total duration. The
record is written even when the client disconnected or the app raised, with
what was seen until then, and left on the context (`record`) for the quota
middleware outside this one to count.
"""

from __future__ import annotations

import time
from typing import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..context import context
from ..stores.entities import UsageRecord
from ..usage.meter import Pricer, UsageMeter


class UsageMiddleware:
    def __init__(
        self, app: ASGIApp, *, platform: str, sink: Callable[[UsageRecord], None], price: Pricer | None = None
    ) -> None:
        self.app = app
        self.platform = platform
        self.sink = sink
        self.price = price  # each record's cost; None: records cost 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ctx = context(scope)
        meter = ctx.meter = UsageMeter(platform=self.platform, endpoint=scope.get("path", ""))

        async def metered_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                meter.status = message["status"]
            elif meter.first_byte is None and message.get("body"):
                meter.first_byte = time.perf_counter()
            await send(message)

        try:
            await self.app(scope, receive, metered_send)
        except BaseException as exc:
            meter.error = meter.error or f"{type(exc).__name__}: {exc}"
            raise
        finally:
            record = ctx.record = meter.to_record(ctx.key, self.price)
            self.sink(record)
