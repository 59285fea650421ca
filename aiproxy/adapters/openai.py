"""OpenAI accounts: an OpenAI API key against api.openai.com, or any OpenAI-compatible base URL.

The base URL is the one without `/v1` (`https://api.openai.com`), since route
paths carry it; a base URL that ends in `/v1` (`https://host/v1`, as most
OpenAI-compatible servers document theirs) is accepted without doubling it.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..stores.entities import Account
from . import upstream
from .base import UpstreamCall

# The client's OpenAI-Organization / OpenAI-Project name the client's own
# billing scope; upstream, the account's key decides it (and OpenAI rejects a
# key sent with an organization it does not belong to), so they are replaced
# (or, for upstreams that have no such scope, dropped).
SCOPE_HEADERS = frozenset({b"openai-organization", b"openai-project"})


def upstream_url(base: str, path: str, query: str) -> str:
    base = base.rstrip("/")
    if base.endswith("/v1") and (path == "/v1" or path.startswith("/v1/")):
        path = path[3:]
    return upstream.url(base, path, query)


class OpenAIAdapter:

    def __init__(self, client: httpx.AsyncClient, base_url: str) -> None:
        self._client = client
        self._base_url = base_url

    async def send(self, account: Account, credentials: dict[str, Any], call: UpstreamCall) -> httpx.Response:
        url = upstream_url(account.base_url or self._base_url, call.path, call.query)
        headers = [(k, v) for k, v in call.headers if k.lower() not in SCOPE_HEADERS]
        headers.append((b"authorization", b"Bearer " + str(credentials.get("api_key", "")).encode()))
        if credentials.get("organization"):
            headers.append((b"openai-organization", str(credentials["organization"]).encode()))
        if credentials.get("project"):
            headers.append((b"openai-project", str(credentials["project"]).encode()))
        return await upstream.send(self._client, call.method, url, headers, call.body)
