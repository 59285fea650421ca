"""The openai-responses adapter: the exact request it sends to the Codex backend with a ChatGPT
login (Bearer, chatgpt-account-id, stream true / store false forced, a non-stream answer
collected from the stream), and the plain Responses relay with an API key."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from aiproxy.accounts.openai_responses import OPENAI_RESPONSES
from aiproxy.adapters.base import UpstreamCall
from aiproxy.adapters.openai_responses import OpenAIResponsesAdapter
from aiproxy.oauth.providers import oauth_providers
from aiproxy.oauth.tokens import TokenManager
from aiproxy.stores.entities import Account
from tests.fakes.oauth_provider import HostRouter
from tests.fakes.openai_oauth import (
    AUTH_HOST,
    CODEX_BASE,
    CODEX_HOST,
    FakeCodex,
    FakeOpenAIAuth,
    id_token,
    openai_oauth_settings,
)
from tests.fakes.openai_upstream import RESPONSES_USAGE, TEXT, message_item

pytestmark = pytest.mark.anyio

API_BASE = "https://api.openai.test"
ACCOUNT = Account(name="codex-1", platform="openai", type="openai-responses", id=5)
BODY = {"model": "gpt-5-codex", "instructions": "be brief", "input": [{"role": "user", "content": "hi"}],
        "prompt_cache_key": "conv-1"}
CODEX_HEADERS = [(b"content-type", b"application/json"), (b"originator", b"codex_cli_rs"),
                 (b"session_id", b"conv-1"), (b"user-agent", b"codex_cli_rs/0.50.0 (Linux; x86_64)"),
                 (b"version", b"0.50.0"), (b"accept", b"*/*"), (b"openai-organization", b"org-client")]


def fresh(**extra: Any) -> dict[str, Any]:
    return {"access_token": "oat-live", "refresh_token": "ort-live", "expires_at": int(time.time()) + 3600,
            "id_token": id_token("acct-live"), "chatgpt_account_id": "acct-live", **extra}


def call(body: dict[str, Any], *, path: str = "/v1/responses", query: str = "") -> UpstreamCall:
    return UpstreamCall(method="POST", path=path, query=query, headers=list(CODEX_HEADERS),
                        body=json.dumps(body).encode(), json=body, model=body.get("model"),
                        stream=body.get("stream") is True)


class Upstreams:
    def __init__(self) -> None:
        self.auth = FakeOpenAIAuth()
        self.codex = FakeCodex()
        self.api: list[httpx.Request] = []

    def api_handler(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.api.append(request)
        return httpx.Response(200, json={"object": "response", "status": "completed"})

    async def send(self, c: UpstreamCall, credentials: dict[str, Any], account: Account = ACCOUNT
                   ) -> tuple[httpx.Response, bytes]:
        transport = HostRouter({AUTH_HOST: self.auth.transport(), CODEX_HOST: httpx.ASGITransport(app=self.codex.app())},
                               httpx.MockTransport(self.api_handler))
        async with httpx.AsyncClient(transport=transport) as client:
            tokens = TokenManager(oauth_providers(openai_oauth_settings()), client, _no_save)
            adapter = OpenAIResponsesAdapter(client, API_BASE, CODEX_BASE, tokens)
            response = await adapter.send(account, credentials, c)
            body = await response.aread()
            await response.aclose()
        return response, body


async def _no_save(account_id: int, credentials: dict[str, Any]) -> None:
    return None


@pytest.fixture
def up() -> Upstreams:
    return Upstreams()


async def test_stream_request_goes_to_codex_with_bearer_and_account_id(up: Upstreams):
    response, body = await up.send(call({**BODY, "stream": True}), fresh())
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    assert b"event: response.completed" in body
    [seen] = up.codex.requests
    assert seen.path == "/backend-api/codex/responses" and seen.query == ""
    h = seen.headers
    assert h["authorization"] == "Bearer oat-live"
    assert h["chatgpt-account-id"] == "acct-live"
    assert h["accept"] == "text/event-stream" and h["accept-encoding"] == "identity"
    # Codex's own headers pass through; the client's OpenAI organization does not.
    assert (h["originator"], h["session_id"], h["version"]) == ("codex_cli_rs", "conv-1", "0.50.0")
    assert h["user-agent"] == "codex_cli_rs/0.50.0 (Linux; x86_64)"
    assert "openai-organization" not in h
    assert seen.json == {**BODY, "stream": True, "store": False}
    assert "ort-live" not in str(h) and up.api == []


async def test_codex_body_kept_byte_for_byte_when_already_right(up: Upstreams):
    c = call({**BODY, "stream": True, "store": False})
    await up.send(c, fresh())
    assert up.codex.requests[0].body == c.body


async def test_non_stream_request_is_streamed_upstream_and_answered_as_json(up: Upstreams):
    response, body = await up.send(call({**BODY, "store": True}), fresh())
    [seen] = up.codex.requests
    assert seen.json["stream"] is True and seen.json["store"] is False
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-codex-primary-used-percent"] == "12"
    answer = json.loads(body)
    assert answer["object"] == "response" and answer["status"] == "completed"
    assert answer["output"] == [message_item(TEXT)]  # taken from output_item.done: completed had none
    assert answer["usage"] == RESPONSES_USAGE


async def test_codex_error_passed_on_as_it_came(up: Upstreams):
    response, body = await up.send(call({**BODY, "model": "limited"}), fresh())
    assert response.status_code == 429
    assert json.loads(body)["error"]["type"] == "usage_limit_reached"


async def test_refused_token_refreshed_once_with_the_new_account_id(up: Upstreams):
    up.codex.refused.add("oat-live")
    response, _ = await up.send(call({**BODY, "stream": True}), fresh())
    assert response.status_code == 200
    first, second = up.codex.requests
    assert first.headers["authorization"] == "Bearer oat-live" and first.headers["chatgpt-account-id"] == "acct-live"
    assert second.headers["authorization"] == "Bearer oat-refresh1"
    assert second.headers["chatgpt-account-id"] == "acct-refresh1"
    assert len(up.auth.refresh_requests) == 1


async def test_expired_token_without_refresh_token_answers_openai_401(up: Upstreams):
    credentials = {"access_token": "oat-old", "expires_at": int(time.time()) - 10, "chatgpt_account_id": "a"}
    response, body = await up.send(call(BODY), credentials)
    assert response.status_code == 401 and up.codex.requests == []
    error = json.loads(body)["error"]
    assert error["type"] == "authentication_error" and "'codex-1' (id 5) needs re-authorization" in error["message"]


async def test_api_key_form_is_a_plain_responses_relay(up: Upstreams):
    c = call(BODY)
    response, _ = await up.send(c, {"api_key": "sk-proj-secret"})
    assert response.status_code == 200 and up.codex.requests == []
    [request] = up.api
    assert str(request.url) == f"{API_BASE}/v1/responses"
    assert request.headers["authorization"] == "Bearer sk-proj-secret"
    assert "chatgpt-account-id" not in request.headers and "openai-organization" not in request.headers
    assert request.headers["originator"] == "codex_cli_rs"
    assert request.content == c.body  # nothing forced: store and stream as the client sent them


async def test_api_key_form_with_an_account_base_url(up: Upstreams):
    account = Account(name="relay", platform="openai", type="openai-responses", id=6,
                      base_url="https://relay.test/v1")
    await up.send(call(BODY, query="x=1"), {"api_key": "k"}, account)
    assert str(up.api[0].url) == "https://relay.test/v1/responses?x=1"


async def test_other_paths_refused_in_openai_shape(up: Upstreams):
    response, body = await up.send(call(BODY, path="/v1/chat/completions"), fresh())
    assert response.status_code == 400 and up.codex.requests == [] and up.api == []
    assert "only the Responses API" in json.loads(body)["error"]["message"]
    # The relay keeps these accounts off other routes: the type declares the one path it serves.
    assert OPENAI_RESPONSES.paths == ("/v1/responses",)
