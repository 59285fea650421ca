"""The claude-official adapter: the exact request it sends upstream with an OAuth token."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from aiproxy.adapters.base import UpstreamCall
from aiproxy.adapters.claude_official import ClaudeOfficialAdapter, with_beta_query, with_oauth_beta
from aiproxy.oauth.providers import oauth_providers
from aiproxy.oauth.tokens import TokenManager
from aiproxy.stores.entities import Account
from tests.fakes.oauth_provider import FakeTokenEndpoint, oauth_settings

pytestmark = pytest.mark.anyio

BASE = "https://api.anthropic.test"
BODY = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
ACCOUNT = Account(name="max-1", platform="claude", type="claude-official", id=3)


def fresh() -> dict[str, Any]:
    return {"access_token": "at-live", "refresh_token": "rt-live", "expires_at": int(time.time()) + 3600}


def call(path: str = "/v1/messages", *, query: str = "", method: str = "POST",
         extra: list[tuple[bytes, bytes]] | None = None) -> UpstreamCall:
    body = json.dumps(BODY).encode() if method == "POST" else b""
    headers = [(b"content-type", b"application/json"), (b"user-agent", b"claude-cli/2.0 (external, cli)"),
               *(extra or [])]
    return UpstreamCall(method=method, path=path, query=query, headers=headers, body=body,
                        json=BODY if method == "POST" else None, model="claude-sonnet-4-5")


async def send(c: UpstreamCall, credentials: dict[str, Any] | None = None,
               token_endpoint: FakeTokenEndpoint | None = None,
               refuse: set[str] = frozenset()) -> tuple[httpx.Response, list[httpx.Request]]:
    """Send `c`; the fake upstream answers 401 to a Bearer token in `refuse`."""
    seen: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        if request.headers["authorization"].removeprefix("Bearer ") in refuse:
            return httpx.Response(401, json={"type": "error", "error": {"type": "authentication_error",
                                                                         "message": "invalid token"}})
        return httpx.Response(200, json={"ok": True})

    token_endpoint = token_endpoint or FakeTokenEndpoint()

    async def route(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            return await token_endpoint.handle(request)
        return upstream(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(route)) as client:
        tokens = TokenManager(oauth_providers(oauth_settings()), client, _no_save)
        response = await ClaudeOfficialAdapter(client, BASE, tokens).send(ACCOUNT, credentials or fresh(), c)
        await response.aread()
        await response.aclose()
    return response, seen


async def _no_save(account_id: int, credentials: dict[str, Any]) -> None:
    return None


async def test_messages_sent_with_bearer_oauth_beta_and_beta_query():
    c = call(extra=[(b"anthropic-beta", b"claude-code-20250219,oauth-2025-04-20"),
                    (b"anthropic-beta", b"interleaved-thinking-2025-05-14, claude-code-20250219")])
    _, [request] = await send(c)
    assert str(request.url) == f"{BASE}/v1/messages?beta=true"
    headers = request.headers
    assert headers["authorization"] == "Bearer at-live"
    assert "x-api-key" not in headers
    assert headers.get_list("anthropic-beta") == [
        "claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14"]
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["accept-encoding"] == "identity"
    assert headers["user-agent"] == "claude-cli/2.0 (external, cli)"
    assert json.loads(request.content) == BODY
    assert "rt-live" not in str(headers.raw)


async def test_oauth_beta_added_once_and_client_version_kept():
    c = call(query="beta=true", extra=[(b"anthropic-version", b"2023-01-01"), (b"anthropic-beta", b"x-1")])
    _, [request] = await send(c)
    assert str(request.url) == f"{BASE}/v1/messages?beta=true"
    assert request.headers["anthropic-beta"] == "x-1,oauth-2025-04-20"
    assert request.headers.get_list("anthropic-version") == ["2023-01-01"]


async def test_no_client_betas_still_sends_oauth_beta():
    _, [request] = await send(call())
    assert request.headers["anthropic-beta"] == "oauth-2025-04-20"


async def test_count_tokens_gets_beta_query_and_models_pass_through():
    _, [request] = await send(call("/v1/messages/count_tokens", query="x=1"))
    assert str(request.url) == f"{BASE}/v1/messages/count_tokens?x=1&beta=true"
    _, [request] = await send(call("/v1/models", method="GET", query="limit=5"))
    assert str(request.url) == f"{BASE}/v1/models?limit=5"
    assert request.headers["authorization"] == "Bearer at-live"


async def test_expiring_token_is_refreshed_before_sending():
    endpoint = FakeTokenEndpoint()
    _, [request] = await send(call(), {**fresh(), "expires_at": int(time.time()) + 5}, endpoint)
    assert request.headers["authorization"] == "Bearer at-refresh1"
    assert len(endpoint.refresh_requests) == 1


async def test_refused_refresh_answers_anthropic_401_naming_the_account():
    endpoint = FakeTokenEndpoint(refused_refresh_tokens={"rt-live"})
    response, seen = await send(call(), {**fresh(), "expires_at": int(time.time()) - 5}, endpoint)
    assert seen == []  # nothing went upstream
    assert response.status_code == 401
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
    assert "'max-1' (id 3) needs re-authorization" in body["error"]["message"]


def test_helpers():
    assert with_beta_query("/v1/messages", "") == "beta=true"
    assert with_beta_query("/v1/messages", "beta=false") == "beta=false"
    assert with_beta_query("/v1/models", "") == ""
    assert with_oauth_beta([(b"Anthropic-Beta", b"oauth-2025-04-20")]) == [(b"anthropic-beta", b"oauth-2025-04-20")]


async def test_token_refused_upstream_is_refreshed_and_the_request_resent():
    endpoint = FakeTokenEndpoint()
    response, [first, second] = await send(call(), fresh(), endpoint, refuse={"at-live"})
    assert response.status_code == 200
    assert first.headers["authorization"] == "Bearer at-live"
    assert second.headers["authorization"] == "Bearer at-refresh1"
    assert second.content == first.content and str(second.url) == str(first.url)
    assert len(endpoint.refresh_requests) == 1


async def test_token_refused_upstream_without_refresh_token_asks_for_reauthorization():
    response, [_] = await send(call(), {"access_token": "at-live"}, refuse={"at-live"})
    assert response.status_code == 401
    message = response.json()["error"]["message"]
    assert "needs re-authorization" in message and "refused by the upstream" in message


async def test_refreshed_token_refused_too_is_answered_as_is():
    endpoint = FakeTokenEndpoint()
    response, seen = await send(call(), fresh(), endpoint, refuse={"at-live", "at-refresh1"})
    assert response.status_code == 401 and len(seen) == 2  # one retry, no loop
    assert response.json()["error"]["message"] == "invalid token"
