"""Usage: one record per request that reached the routes, handed to a sink when it ends.

The meter goes on `scope["state"]` for the relay to fill in (account, model,
tokens); this middleware adds what only the outside sees: the status sent,
time to first byte, total duration. The record is written even when the
client disconnected or the app raised, with what was seen until then, and left
on `scope["state"]` for the quota middleware outside this one to count.
"""

from __future__ import annotations

import time
from typing import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..stores.entities import UsageRecord
from ..usage.meter import STATE_KEY as USAGE_STATE
from ..usage.meter import Pricer, UsageMeter
from .auth import STATE_KEY as KEY_STATE
from .quota import RECORD_STATE


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
        state = scope.setdefault("state", {})
        meter = UsageMeter(platform=self.platform, endpoint=scope.get("path", ""))
        state[USAGE_STATE] = meter

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
            record = meter.to_record(state.get(KEY_STATE), self.price)
            state[RECORD_STATE] = record
            self.sink(record)
