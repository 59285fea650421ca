"""Gemini API accounts: a Google AI Studio API key against generativelanguage.googleapis.com.

The base URL is the one without the API version (route paths carry
`/v1beta/...` or `/v1/...`); one that ends in the version the path starts with
(`https://host/v1beta`, as mirrors often document theirs) is not doubled.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..stores.entities import Account
from . import upstream
from .base import UpstreamCall


def upstream_url(base: str, path: str, query: str) -> str:
    base = base.rstrip("/")
    version = "/" + path.lstrip("/").split("/", 1)[0]
    if base.endswith(version) and path.startswith(version + "/"):
        path = path[len(version):]
    # A route may fix query parameters of its own (alt=sse for translated streams).
    path, _, fixed = path.partition("?")
    return upstream.url(base, path, fixed, query)


class GeminiApiAdapter:

    def __init__(self, client: httpx.AsyncClient, base_url: str) -> None:
        self._client = client
        self._base_url = base_url

    async def send(self, account: Account, credentials: dict[str, Any], call: UpstreamCall) -> httpx.Response:
        # call.query is the client's query minus its `key=` (alt=sse stays).
        url = upstream_url(account.base_url or self._base_url, call.path, call.query)
        headers = list(call.headers)
        headers.append((b"x-goog-api-key", str(credentials.get("api_key", "")).encode()))
        return await upstream.send(self._client, call.method, url, headers, call.body)
