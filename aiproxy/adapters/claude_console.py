"""Claude Console accounts: an Anthropic API key against api.anthropic.com (or a base URL)."""

from __future__ import annotations

from typing import Any

import httpx

from ..stores.entities import Account
from . import upstream
from .base import UpstreamCall

DEFAULT_ANTHROPIC_VERSION = b"2023-06-01"


class ClaudeConsoleAdapter:

    def __init__(self, client: httpx.AsyncClient, base_url: str) -> None:
        self._client = client
        self._base_url = base_url.rstrip("/")

    def auth_headers(self, credentials: dict[str, Any]) -> list[tuple[bytes, bytes]]:
        """The headers that carry the account's key (subclasses for other relays add their own)."""
        return [(b"x-api-key", str(credentials.get("api_key", "")).encode())]

    async def send(self, account: Account, credentials: dict[str, Any], call: UpstreamCall) -> httpx.Response:
        return await self.forward(account, call, self.auth_headers(credentials))

    async def forward(self, account: Account, call: UpstreamCall, auth_headers: list[tuple[bytes, bytes]],
                      auth: httpx.Auth | None = None) -> httpx.Response:
        """`call` sent to the Messages API at the account's base URL, with `auth_headers` (or an `auth` flow)."""
        headers = list(call.headers)
        if not any(k.lower() == b"anthropic-version" for k, _ in headers):
            headers.append((b"anthropic-version", DEFAULT_ANTHROPIC_VERSION))
        headers.extend(auth_headers)
        target = upstream.url(account.base_url or self._base_url, call.path, call.query)
        return await upstream.send(self._client, call.method, target, headers, call.body, auth)
