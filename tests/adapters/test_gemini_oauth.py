"""The gemini-oauth adapter: the exact Code Assist requests it sends, and the native answers it hands back."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator

import httpx
import pytest

from aiproxy.adapters.base import UpstreamCall
from aiproxy.adapters.gemini_oauth import GeminiOAuthAdapter
from aiproxy.oauth.providers import oauth_providers
from aiproxy.oauth.tokens import TokenManager
from aiproxy.stores.entities import Account
from tests.fakes.code_assist_upstream import (
    CODE_ASSIST,
    GOOGLE_TOKEN_HOST,
    PROJECT,
    FakeCodeAssist,
    FakeGoogleToken,
    gemini_oauth_settings,
)
from tests.fakes.gemini_upstream import stream_chunks, words
from tests.fakes.oauth_provider import HostRouter

pytestmark = pytest.mark.anyio

MODEL = "gemini-2.5-pro"
BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": {"temperature": 0.1}}


def account(**fields: Any) -> Account:
    fields.setdefault("options", {})
    return Account(name="google-1", platform="gemini", type="gemini-oauth", id=7, **fields)


def fresh(token: str = "at-google") -> dict[str, Any]:
    return {"access_token": token, "refresh_token": "rt-google", "expires_at": int(time.time()) + 3600}


def call(method: str, *, query: str = "", body: dict | None = None) -> UpstreamCall:
    data = BODY if body is None else body
    return UpstreamCall(method="POST", path=f"/v1beta/models/{MODEL}:{method}", query=query,
                        headers=[(b"content-type", b"application/json"), (b"user-agent", b"GeminiCLI/0.9")],
                        body=json.dumps(data).encode(), json=data, model=MODEL, stream=method.startswith("stream"))


@dataclass
class Rig:
    adapter: GeminiOAuthAdapter
    upstream: FakeCodeAssist
    tokens: FakeGoogleToken
    saved: list[dict[str, Any]]


@pytest.fixture
async def rig(anyio_backend: str) -> AsyncIterator[Rig]:
    upstream, tokens, saved = FakeCodeAssist(), FakeGoogleToken(), []

    async def save(account_id: int, credentials: dict[str, Any]) -> None:
        saved.append(credentials)

    transport = HostRouter({GOOGLE_TOKEN_HOST: tokens.transport()}, httpx.ASGITransport(app=upstream.app()))
    async with httpx.AsyncClient(transport=transport) as client:
        manager = TokenManager(oauth_providers(gemini_oauth_settings()), client, save)
        yield Rig(GeminiOAuthAdapter(client, CODE_ASSIST, manager), upstream, tokens, saved)


async def read(response: httpx.Response) -> bytes:
    try:
        return b"".join([chunk async for chunk in response.aiter_bytes()])
    finally:
        await response.aclose()


async def test_generate_content_wrapped_with_discovered_project(rig: Rig):
    response = await rig.adapter.send(account(), fresh(), call("generateContent"))
    body = json.loads(await read(response))
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    assert body["candidates"][0]["content"]["parts"][1]["text"] == "Hello, world!"
    assert body["usageMetadata"]["promptTokenCount"] == 120 and "response" not in body

    load, generate = rig.upstream.requests
    assert (load.method, load.path, load.query) == ("POST", "/v1internal:loadCodeAssist", "")
    assert load.json["metadata"]["pluginType"] == "GEMINI"
    assert (generate.path, generate.query) == ("/v1internal:generateContent", "")
    assert generate.headers["authorization"] == "Bearer at-google"
    assert generate.headers["user-agent"] == "GeminiCLI/0.9"
    sent = generate.json
    assert (sent["model"], sent["project"], sent["request"]) == (MODEL, PROJECT, BODY)
    assert sent["user_prompt_id"]

    # The project is asked for once per account (and login), concurrent requests included.
    await asyncio.gather(*[read(await rig.adapter.send(account(), fresh(), call("generateContent")))
                           for _ in range(5)])
    assert len(rig.upstream.of("loadCodeAssist")) == 1
    assert {s.json["project"] for s in rig.upstream.of("generateContent")} == {PROJECT}


async def test_configured_project_skips_discovery(rig: Rig):
    response = await rig.adapter.send(account(options={"project_id": "my-proj"}), fresh(), call("generateContent"))
    await read(response)
    [generate] = rig.upstream.requests
    assert generate.json["project"] == "my-proj"


@pytest.mark.parametrize("sse", [True, False], ids=["alt=sse", "json-array"])
async def test_stream_unwrapped_for_both_client_shapes(rig: Rig, sse: bool):
    query = "alt=sse" if sse else ""
    response = await rig.adapter.send(account(), fresh(), call("streamGenerateContent", query=query))
    assert response.status_code == 200
    raw = await read(response)
    stream = rig.upstream.of("streamGenerateContent")[0]
    assert stream.query == "alt=sse"  # Code Assist is always asked for SSE
    assert stream.json["request"] == BODY and stream.json["project"] == PROJECT
    if sse:
        assert response.headers["content-type"] == "text/event-stream"
        events = [json.loads(e[len(b"data: "):]) for e in raw.split(b"\r\n\r\n") if e]
    else:
        assert response.headers["content-type"].startswith("application/json")
        assert raw.startswith(b"[") and raw.endswith(b"]")
        events = json.loads(raw)
    assert events == stream_chunks(MODEL)


async def test_count_tokens_wrapped_without_project(rig: Rig):
    response = await rig.adapter.send(account(), fresh(), call("countTokens", body={"contents": BODY["contents"]}))
    assert json.loads(await read(response)) == {"totalTokens": words(BODY["contents"])}
    [count] = rig.upstream.requests  # no project needed, none discovered
    assert count.path == "/v1internal:countTokens"
    assert count.json == {"request": {"model": f"models/{MODEL}", "contents": BODY["contents"]}}


async def test_expiring_token_refreshed_form_encoded_first(rig: Rig):
    credentials = {**fresh("at-old"), "expires_at": int(time.time()) + 30}
    rig.upstream.valid_tokens = {"at-google-r1"}
    await read(await rig.adapter.send(account(), credentials, call("generateContent")))
    [refresh] = rig.tokens.requests
    assert refresh["grant_type"] == "refresh_token" and refresh["refresh_token"] == "rt-google"
    assert rig.tokens.content_types == ["application/x-www-form-urlencoded"]
    assert {s.headers["authorization"] for s in rig.upstream.requests} == {"Bearer at-google-r1"}
    # Google keeps the refresh token: the saved credentials still carry it.
    [saved] = rig.saved
    assert (saved["access_token"], saved["refresh_token"]) == ("at-google-r1", "rt-google")


async def test_refused_token_refreshed_once_and_retried(rig: Rig):
    rig.upstream.valid_tokens = {"at-google-r1"}
    response = await rig.adapter.send(account(options={"project_id": "p"}), fresh("at-revoked"),
                                      call("generateContent"))
    assert response.status_code == 200, await read(response)
    await read(response)
    assert [s.headers["authorization"] for s in rig.upstream.requests] == ["Bearer at-revoked", "Bearer at-google-r1"]
    assert len(rig.tokens.refresh_requests) == 1


async def test_refused_refresh_answers_google_shaped_401(rig: Rig):
    rig.tokens.refused_refresh_tokens.add("rt-google")
    credentials = {**fresh("at-old"), "expires_at": int(time.time()) - 10}
    response = await rig.adapter.send(account(), credentials, call("generateContent"))
    error = json.loads(await read(response))["error"]
    assert response.status_code == 401 and error["status"] == "UNAUTHENTICATED"
    assert "needs re-authorization" in error["message"] and rig.upstream.requests == []


async def test_no_project_from_discovery_says_what_to_do(rig: Rig):
    rig.upstream.project = None
    response = await rig.adapter.send(account(), fresh(), call("generateContent"))
    error = json.loads(await read(response))["error"]
    assert response.status_code == 403 and "options.project_id" in error["message"]


async def test_upstream_errors_and_unknown_methods(rig: Rig):
    c = call("generateContent")
    c.path = "/v1beta/models/fail-429:generateContent"
    response = await rig.adapter.send(account(options={"project_id": "p"}), fresh(), c)
    assert response.status_code == 429
    assert json.loads(await read(response))["error"]["status"] == "RESOURCE_EXHAUSTED"

    c = call("embedContent")
    response = await rig.adapter.send(account(), fresh(), c)
    assert response.status_code == 501 and "Code Assist" in json.loads(await read(response))["error"]["message"]


async def test_model_listing_answered_locally(rig: Rig):
    def get(path: str) -> UpstreamCall:
        return UpstreamCall(method="GET", path=path, query="", headers=[], body=b"")

    response = await rig.adapter.send(account(), fresh(), get("/v1beta/models"))
    names = [m["name"] for m in json.loads(await read(response))["models"]]
    assert "models/gemini-2.5-pro" in names
    mine = account(models=["gemini-2.5-flash"], model_mapping={"fast": "gemini-2.5-flash-lite"})
    response = await rig.adapter.send(mine, fresh(), get("/v1beta/models"))
    assert [m["name"] for m in json.loads(await read(response))["models"]] == ["models/gemini-2.5-flash", "models/fast"]
    response = await rig.adapter.send(mine, fresh(), get("/v1beta/models/gemini-2.5-flash"))
    assert json.loads(await read(response))["supportedGenerationMethods"] == [
        "generateContent", "streamGenerateContent", "countTokens"]
    response = await rig.adapter.send(mine, fresh(), get("/v1beta/models/gemini-1.0-pro"))
    assert response.status_code == 404
    assert rig.upstream.requests == [] and rig.tokens.requests == []


async def test_refresh_without_client_settings_names_them(anyio_backend: str):
    async def save(account_id: int, credentials: dict[str, Any]) -> None:
        raise AssertionError("nothing to save")

    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(500))) as client:
        settings = gemini_oauth_settings(gemini_client_id="", gemini_client_secret="")
        adapter = GeminiOAuthAdapter(client, CODE_ASSIST, TokenManager(oauth_providers(settings), client, save))
        credentials = {**fresh(), "expires_at": int(time.time()) - 10}
        response = await adapter.send(account(), credentials, call("generateContent"))
        message = json.loads(await read(response))["error"]["message"]
    assert response.status_code == 502
    assert "AIPROXY_GEMINI_OAUTH_CLIENT_ID" in message and "AIPROXY_GEMINI_OAUTH_CLIENT_SECRET" in message


async def test_concurrent_first_requests_share_one_discovery(rig: Rig):
    responses = await asyncio.gather(*[rig.adapter.send(account(), fresh(), call("generateContent"))
                                       for _ in range(5)])
    for response in responses:
        assert response.status_code == 200
        await read(response)
    assert len(rig.upstream.of("loadCodeAssist")) == 1 and len(rig.upstream.of("generateContent")) == 5
    # A new login of the account (another refresh token) is asked anew.
    await read(await rig.adapter.send(account(), {**fresh(), "refresh_token": "rt-other"}, call("generateContent")))
    assert len(rig.upstream.of("loadCodeAssist")) == 2
