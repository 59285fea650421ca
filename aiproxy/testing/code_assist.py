"""A fake Code Assist (cloudcode-pa `v1internal`) and a fake Google token endpoint.

Code Assist answers the native fake's answers (aiproxy/testing/gemini.py)
inside its envelope, streams only as SSE (and refuses a stream without
`alt=sse`), takes only the Bearer tokens it is told are valid, and wants the
project in every generate call; a maxOutputTokens above the model's cap is
refused as the native fake refuses it. The token endpoint is form-encoded and checks
the client id and secret, as Google's does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, AsyncIterator
from urllib.parse import parse_qs

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from aiproxy.settings import OAuthSettings

from .anthropic import Seen
from .gemini import answer_for, chunks_for, error, limit_refused, words
from .upstream import FakeUpstream

CODE_ASSIST = "http://code-assist.test"
PROJECT = "proj-discovered"

GOOGLE_TOKEN_HOST = "google-token.test"
GOOGLE_TOKEN_URL = f"http://{GOOGLE_TOKEN_HOST}/token"
GOOGLE_AUTHORIZE_URL = "http://google-login.test/o/oauth2/v2/auth"
GOOGLE_REDIRECT_URI = "http://google-login.test/authcode"
CLIENT_ID = "test-client.apps.example"
CLIENT_SECRET = "test-client-secret"
GOOD_CODE = "google-code"
LIFETIME = 3599


def gemini_oauth_settings(**overrides: Any) -> OAuthSettings:
    values: dict[str, Any] = dict(
        gemini_authorize_url=GOOGLE_AUTHORIZE_URL,
        gemini_token_url=GOOGLE_TOKEN_URL,
        gemini_redirect_uri=GOOGLE_REDIRECT_URI,
        gemini_client_id=CLIENT_ID,
        gemini_client_secret=CLIENT_SECRET,
    )
    values.update(overrides)
    return OAuthSettings(**values)


def wrapped_sse_pieces(model: str, request: dict[str, Any] | None = None) -> list[bytes]:
    return [b"data: " + json.dumps({"response": c, "traceId": "trace-s"}).encode() + b"\r\n\r\n"
            for c in chunks_for(model, request)]


@dataclass
class FakeCodeAssist(FakeUpstream):
    valid_tokens: set[str] = field(default_factory=lambda: {"at-google"})
    project: str | None = PROJECT
    requests: list[Seen] = field(default_factory=list)

    def of(self, method: str) -> list[Seen]:
        return [s for s in self.requests if s.path == f"/v1internal:{method}"]

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{rest:path}", self.handle, methods=["GET", "POST"])])

    async def handle(self, request: Request) -> Response:
        seen = Seen(request.method, request.url.path, request.url.query, dict(request.headers), await request.body())
        self.requests.append(seen)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.valid_tokens:
            return error(401, "Request had invalid authentication credentials.")
        prefix, _, method = request.url.path.partition(":")
        if prefix != "/v1internal" or request.method != "POST":
            return error(404, "not found")
        body = json.loads(seen.body)
        if method == "loadCodeAssist":
            answer: dict[str, Any] = {"currentTier": {"id": "free-tier"}, "allowedTiers": []}
            if self.project:
                answer["cloudaicompanionProject"] = self.project
            return JSONResponse(answer)
        if method == "countTokens":
            # Its count request has a model and contents, nothing else (gemini-cli's CaCountTokenRequest).
            request_fields = set(body.get("request") or {})
            if set(body) != {"request"} or request_fields - {"model", "contents"}:
                return error(400, f"Invalid JSON payload received. Unknown name in {sorted(request_fields)}")
            if not str(body["request"].get("model", "")).startswith("models/"):
                return error(400, "model must name models/{model}")
            return JSONResponse({"totalTokens": words(body["request"].get("contents"))})
        if not body.get("project"):
            return error(403, "no project")
        model = body["model"]
        if model.startswith("fail-"):
            status = int(model.split("-")[1])
            return error(status, f"fake {status}")
        refused = limit_refused(model, body.get("request"))
        if refused is not None:
            return refused
        if method == "generateContent":
            return JSONResponse({"response": answer_for(model, body.get("request")), "traceId": "trace-1"})
        if method == "streamGenerateContent":
            if request.query_params.get("alt") != "sse":
                return error(400, "Code Assist streams only as SSE")
            return StreamingResponse(_each(wrapped_sse_pieces(model, body.get("request"))),
                                     media_type="text/event-stream")
        return error(404, f"method {method} not found")


async def _each(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


@dataclass
class FakeGoogleToken:
    requests: list[dict[str, str]] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    refused_refresh_tokens: set[str] = field(default_factory=set)
    refreshes: int = 0

    @property
    def refresh_requests(self) -> list[dict[str, str]]:
        return [r for r in self.requests if r.get("grant_type") == "refresh_token"]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/token", request.url
        self.content_types.append(request.headers["content-type"])
        fields = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.requests.append(fields)
        if (fields.get("client_id"), fields.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return httpx.Response(401, json={"error": "invalid_client", "error_description": "Unauthorized"})
        if fields.get("grant_type") == "authorization_code":
            if fields.get("code") != GOOD_CODE or not fields.get("code_verifier"):
                return httpx.Response(400, json={"error": "invalid_grant", "error_description": "Bad Request"})
            return httpx.Response(200, json=self._tokens("at-google", refresh_token="rt-google"))
        if fields.get("grant_type") == "refresh_token":
            if fields.get("refresh_token") in self.refused_refresh_tokens:
                return httpx.Response(400, json={"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
            self.refreshes += 1
            # Google does not rotate refresh tokens: a refresh answer has none.
            return httpx.Response(200, json=self._tokens(f"at-google-r{self.refreshes}"))
        return httpx.Response(400, json={"error": "unsupported_grant_type"})

    @staticmethod
    def _tokens(access: str, **extra: str) -> dict[str, Any]:
        return {"access_token": access, "expires_in": LIFETIME, "token_type": "Bearer", "id_token": "x.y.z",
                "scope": "https://www.googleapis.com/auth/cloud-platform openid", **extra}
