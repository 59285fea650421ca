"""Fakes for ChatGPT logins (openai-responses accounts), for httpx.MockTransport / ASGITransport:
auth.openai.com's token endpoint (form-encoded code exchange, JSON refresh, id tokens
carrying the ChatGPT account id) and the Codex backend (streams only, store false)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from aiproxy.oauth.providers import OPENAI_AUTH_CLAIM, OPENAI_CLIENT_ID
from aiproxy.settings import OAuthSettings
from tests.fakes.anthropic_upstream import Seen
from tests.fakes.openai_upstream import (
    RESPONSES_USAGE,
    TEXT,
    TEXT_PIECES,
    compact,
    message_item,
    response_object,
    responses_tool_stream,
    tool_to_call,
)

AUTH_HOST = "auth.openai.test"
TOKEN_URL = f"https://{AUTH_HOST}/oauth/token"
AUTHORIZE_URL = f"https://{AUTH_HOST}/oauth/authorize"
REDIRECT_URI = "http://localhost:1455/auth/callback"
GOOD_CODE = "openai-code"
LIFETIME = 10 * 24 * 3600
CODEX_HOST = "chatgpt.test"
CODEX_BASE = f"https://{CODEX_HOST}/backend-api/codex"
_SIGNING_KEY = "only-a-test-key-signatures-are-not-checked-here"


def openai_oauth_settings(**overrides: Any) -> OAuthSettings:
    return OAuthSettings(openai_authorize_url=AUTHORIZE_URL, openai_token_url=TOKEN_URL, **overrides)


def id_token(account_id: str, email: str = "dev@example.test") -> str:
    """An id token as auth.openai.com gives: the ChatGPT account under its auth claim."""
    claims = {"email": email, OPENAI_AUTH_CLAIM: {"chatgpt_account_id": account_id, "chatgpt_plan_type": "pro"}}
    return jwt.encode(claims, _SIGNING_KEY, algorithm="HS256")


@dataclass
class FakeOpenAIAuth:
    requests: list[dict[str, Any]] = field(default_factory=list)
    encodings: list[str] = field(default_factory=list)  # content-type of each request
    refused_refresh_tokens: set[str] = field(default_factory=set)
    delay: float = 0.0
    refreshes: int = 0

    @property
    def refresh_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r.get("grant_type") == "refresh_token"]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/oauth/token", request.url
        content_type = request.headers["content-type"]
        self.encodings.append(content_type)
        if content_type.startswith("application/json"):
            body = json.loads(request.content)
        else:
            assert content_type == "application/x-www-form-urlencoded", content_type
            body = dict(parse_qsl(request.content.decode()))
        self.requests.append(body)
        if self.delay:
            await asyncio.sleep(self.delay)
        if body.get("client_id") != OPENAI_CLIENT_ID:
            return httpx.Response(400, json={"error": "invalid_client"})
        if body["grant_type"] == "authorization_code":
            # As auth.openai.com does it: a form, with the PKCE verifier and no state.
            if not content_type.startswith("application/x-www-form-urlencoded") or "state" in body:
                return httpx.Response(400, json={"error": "invalid_request"})
            if body.get("code") != GOOD_CODE or not body.get("code_verifier"):
                return httpx.Response(400, json={"error": "invalid_grant", "error_description": "bad code"})
            if body.get("redirect_uri") != REDIRECT_URI:
                return httpx.Response(400, json={"error": "invalid_grant", "error_description": "redirect_uri"})
            return httpx.Response(200, json=self._tokens("login"))
        if body["grant_type"] == "refresh_token":
            if not content_type.startswith("application/json") or body.get("scope") != "openid profile email":
                return httpx.Response(400, json={"error": "invalid_request"})
            if body.get("refresh_token") in self.refused_refresh_tokens:
                return httpx.Response(400, json={"error": "invalid_grant", "error_description": "revoked"})
            self.refreshes += 1
            return httpx.Response(200, json=self._tokens(f"refresh{self.refreshes}"))
        return httpx.Response(400, json={"error": "unsupported_grant_type"})

    @staticmethod
    def _tokens(tag: str) -> dict[str, Any]:
        return {
            "id_token": id_token(f"acct-{tag}"),
            "access_token": f"oat-{tag}",
            "refresh_token": f"ort-{tag}",
            "expires_in": LIFETIME,
            "token_type": "Bearer",
            "scope": "openid profile email offline_access",
        }


def codex_stream(model: str) -> list[bytes]:
    """A Responses stream as the Codex backend sends it; its `response.completed`
    carries the usage but an empty `output` (the items come in output_item.done)."""
    seq = 0

    def ev(kind: str, **data: Any) -> bytes:
        nonlocal seq
        payload = {"type": kind, "sequence_number": seq, **data}
        seq += 1
        return f"event: {kind}\ndata: {compact(payload)}\n\n".encode()

    events = [ev("response.created", response=response_object(model, "in_progress", [], None)),
              ev("response.output_item.added", output_index=0, item=message_item("", "in_progress"))]
    for piece in TEXT_PIECES:
        events.append(ev("response.output_text.delta", item_id="msg_fake", output_index=0, content_index=0,
                         delta=piece))
    events += [
        ev("response.output_item.done", output_index=0, item=message_item(TEXT)),
        ev("response.completed", response={**response_object(model, "completed", [], RESPONSES_USAGE),
                                           "store": False}),
    ]
    return events


# "Unsupported parameter" on the ChatGPT backend, though the public API takes them.
UNSUPPORTED = ("max_output_tokens", "temperature", "top_p", "safety_identifier")


@dataclass
class FakeCodex:
    """The ChatGPT backend's Codex endpoint: Bearer + chatgpt-account-id, stream true, store false.

    Tokens in `refused` get a 401; model "limited" gets a usage-limit 429. It refuses,
    as the real backend does, the fields it does not take (`UNSUPPORTED`: what an
    Anthropic request translated for it must drop). A request offering tools and not
    ending with a tool's output gets a call of its first tool, as the OpenAI fake does."""

    requests: list[Seen] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/backend-api/codex/responses", self.responses, methods=["POST"])])

    async def responses(self, request: Request) -> Response:
        seen = Seen(request.method, request.url.path, request.url.query, dict(request.headers), await request.body())
        self.requests.append(seen)
        if request.headers.get("authorization", "").removeprefix("Bearer ") in self.refused:
            return JSONResponse({"detail": "Unauthorized"}, status_code=401)
        body = seen.json
        if body.get("store") is not False:
            return JSONResponse({"detail": "Store must be set to false"}, status_code=400)
        if body.get("stream") is not True:
            return JSONResponse({"detail": "Stream must be set to true"}, status_code=400)
        for name in UNSUPPORTED:
            if name in body:
                return JSONResponse({"detail": f"Unsupported parameter: {name}"}, status_code=400)
        if body.get("model") == "limited":
            return JSONResponse({"error": {"type": "usage_limit_reached", "message": "The usage limit has been reached",
                                           "resets_in_seconds": 3600}}, status_code=429)
        tool = tool_to_call(body)
        events = responses_tool_stream(body.get("model", ""), tool) if tool else codex_stream(body.get("model", ""))
        return StreamingResponse(iter(events), media_type="text/event-stream",
                                 headers={"x-codex-primary-used-percent": "12"})
