"""A fake OAuth token endpoint (Claude's shape) for httpx.MockTransport, and a
transport that sends each host to its own fake, so nothing leaves the machine."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import httpx

from aiproxy.settings import OAuthSettings

TOKEN_HOST = "auth.test"
TOKEN_URL = f"http://{TOKEN_HOST}/v1/oauth/token"
AUTHORIZE_URL = "http://login.test/oauth/authorize"
REDIRECT_URI = "http://login.test/oauth/code/callback"
GOOD_CODE = "the-code"
LIFETIME = 8 * 3600


def oauth_settings(**overrides: Any) -> OAuthSettings:
    return OAuthSettings(
        claude_authorize_url=AUTHORIZE_URL,
        claude_token_url=TOKEN_URL,
        claude_redirect_uri=REDIRECT_URI,
        **overrides,
    )


@dataclass
class FakeTokenEndpoint:
    requests: list[dict[str, Any]] = field(default_factory=list)
    refused_refresh_tokens: set[str] = field(default_factory=set)
    delay: float = 0.0  # seconds each answer takes, so concurrent callers overlap
    fail_with: int | None = None  # answer every request with this status (a 5xx outage)
    refreshes: int = 0

    @property
    def refresh_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r.get("grant_type") == "refresh_token"]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/oauth/token", request.url
        assert request.headers["content-type"] == "application/json"
        body = json.loads(request.content)
        self.requests.append(body)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_with:
            return httpx.Response(self.fail_with, json={"error": {"type": "api_error", "message": "down"}})
        if body.get("client_id") != "9d1c250a-e61b-44d9-88ed-5944d1962f5e":
            return httpx.Response(400, json={"error": "invalid_client"})
        if body["grant_type"] == "authorization_code":
            if body.get("code") != GOOD_CODE:
                return httpx.Response(400, json={"error": "invalid_grant", "error_description": "bad code"})
            return httpx.Response(200, json=self._tokens("login"))
        if body["grant_type"] == "refresh_token":
            if body.get("refresh_token") in self.refused_refresh_tokens:
                return httpx.Response(400, json={"error": "invalid_grant", "error_description": "revoked"})
            self.refreshes += 1
            return httpx.Response(200, json=self._tokens(f"refresh{self.refreshes}"))
        return httpx.Response(400, json={"error": "unsupported_grant_type"})

    @staticmethod
    def _tokens(tag: str) -> dict[str, Any]:
        return {
            "token_type": "Bearer",
            "access_token": f"at-{tag}",
            "refresh_token": f"rt-{tag}",
            "expires_in": LIFETIME,
            "scope": "user:inference user:profile",
            "organization": {"uuid": "org-1", "name": "Acme"},
            "account": {"uuid": "acc-1", "email_address": "a@acme.test"},
        }


class HostRouter(httpx.AsyncBaseTransport):
    """Sends each request to the transport of its host."""

    def __init__(self, routes: Mapping[str, httpx.AsyncBaseTransport], default: httpx.AsyncBaseTransport) -> None:
        self._routes = routes
        self._default = default

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._routes.get(request.url.host, self._default)
        return await transport.handle_async_request(request)
