"""Key auth: finds the caller's gateway key and resolves it to an ApiKey.

The key may come as `x-api-key` (Anthropic), `Authorization: Bearer` (OpenAI,
Claude Code's auth token), `x-goog-api-key` or `?key=` (Gemini).
"""

from __future__ import annotations

from typing import Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from ..context import context
from ..errors import error_response
from ..formats.dialect import Dialect
from ..security.api_keys import hash_api_key
from ..stores.entities import ApiKey
from ..stores.key_cache import KeyStoreUnavailable

KeyLookup = Callable[[str], Awaitable["ApiKey | None"]]


def presented_key(scope: Scope) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"x-api-key" or name == b"x-goog-api-key":
            return value.decode("latin-1").strip() or None
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    query: bytes = scope.get("query_string", b"")
    if b"key=" in query:
        for k, v in parse_qsl(query.decode("latin-1")):
            if k == "key" and v:
                return v
    return None


class KeyAuthMiddleware:
    def __init__(self, app: ASGIApp, *, lookup: KeyLookup, dialect: Dialect) -> None:
        self.app = app
        self.lookup = lookup  # key hash -> ApiKey (cached; see stores.key_cache)
        self.dialect = dialect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = presented_key(scope)
        if key is None:
            message = "missing API key: send it as x-api-key, Authorization: Bearer, x-goog-api-key or ?key="
            await error_response(self.dialect, 401, message)(scope, receive, send)
            return
        try:
            api_key = await self.lookup(hash_api_key(key))
        except KeyStoreUnavailable:
            # A key not in the cache while the database is down: the caller may retry.
            message = "the gateway cannot check API keys right now; try again shortly"
            await error_response(self.dialect, 503, message, {"retry-after": "5"})(scope, receive, send)
            return
        if api_key is None:
            await error_response(self.dialect, 401, "invalid API key")(scope, receive, send)
            return
        context(scope).key = api_key
        await self.app(scope, receive, send)
