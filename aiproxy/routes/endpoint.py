"""A route's ASGI endpoint: hands the request to the relay with the route's spec."""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

from ..errors import error_response
from ..formats.dialect import Dialect
from ..relay import Relay, RouteSpec


class RelayEndpoint:
    def __init__(self, relay: Relay, spec: RouteSpec) -> None:
        self.relay = relay
        self.spec = spec

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.relay.serve(self.spec, scope, receive, send)


class NotFound:
    """The routers' default: 404 in the platform's error shape, not Starlette's plain text."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"no such endpoint: {scope.get('method', '')} {scope.get('path', '')}"
        await error_response(self.dialect, 404, message)(scope, receive, send)
