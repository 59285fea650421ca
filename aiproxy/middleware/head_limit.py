"""Bounds the request head: at most so many headers, and so many bytes of them.

The outermost layer of every proxied stack, so a head beyond the bounds is
refused (431, in the caller's API shape) before anything does per-header work:
key auth looks for the key among the headers, the permission check for the
client's name, the relay for the session id and the headers to forward. It
costs one len() and one sum over the headers' lengths (run in C by
`map`/`chain`): no per-header Python code, nothing built.

The bytes counted are the names and values (what the ASGI scope holds), not
the ": " and CRLF around them. A server in front may refuse larger heads
itself; its bound should be above this one, so callers get this answer in
their own API's shape rather than a bare one from the server.
"""

from __future__ import annotations

from itertools import chain

from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import error_response
from ..formats.dialect import Dialect

STATUS = 431  # Request Header Fields Too Large (RFC 6585)
# The same head gets the same answer: the official SDKs and Claude Code stop retrying on this.
_FINAL = {"x-should-retry": "false"}


class HeadLimitMiddleware:
    def __init__(self, app: ASGIApp, *, dialect: Dialect, max_count: int, max_bytes: int) -> None:
        self.app = app
        self.dialect = dialect
        self.max_count = max_count
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope["headers"]
            count = len(headers)
            if count > self.max_count:
                message = f"request has {count} headers; at most {self.max_count} are accepted"
                await error_response(self.dialect, STATUS, message, _FINAL)(scope, receive, send)
                return
            size = sum(map(len, chain.from_iterable(headers)))
            if size > self.max_bytes:
                message = f"request headers are {size} bytes; at most {self.max_bytes} are accepted"
                await error_response(self.dialect, STATUS, message, _FINAL)(scope, receive, send)
                return
        await self.app(scope, receive, send)
