"""/responses, /v1/responses and /openai/v1/responses through an openai-responses account:
a ChatGPT login served by the (fake) Codex backend, streamed or answered as JSON from the
collected stream, with tokens recorded; chat completions served on such an account through Messages;
an expiring login refreshed and stored; the API-key form as a plain Responses relay."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, AsyncIterator

import httpx
import pytest

from aiproxy.security.cipher import CredentialCipher
from aiproxy.settings import UpstreamURLs
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
from tests.fakes.openai_upstream import RESPONSES_USAGE, TEXT, FakeOpenAI, message_item
from tests.harness import ENCRYPTION_KEY, UPSTREAM, Harness, start_harness

pytestmark = pytest.mark.anyio

OPENAI_BASE = "http://openai.test"
RESPONSES_TOKENS = (24, 9, 0, 16)  # RESPONSES_USAGE normalised: input, output, cache creation, cache read
BODY = {"model": "gpt-5-codex", "instructions": "be brief", "input": [{"role": "user", "content": "hi"}]}


class Upstreams:
    def __init__(self) -> None:
        self.auth = FakeOpenAIAuth()
        self.codex = FakeCodex()
        self.openai = FakeOpenAI()


@pytest.fixture
def up() -> Upstreams:
    return Upstreams()


@pytest.fixture
async def gw(up: Upstreams, fake_anthropic: Any, anyio_backend: str) -> AsyncIterator[Harness]:
    transport = HostRouter({AUTH_HOST: up.auth.transport(), CODEX_HOST: httpx.ASGITransport(app=up.codex.app()),
                            "openai.test": httpx.ASGITransport(app=up.openai.app())},
                           httpx.ASGITransport(app=fake_anthropic.app()))
    async with start_harness(transport, upstream=UpstreamURLs(anthropic=UPSTREAM, openai=OPENAI_BASE,
                                                              codex=CODEX_BASE),
                             oauth=openai_oauth_settings()) as h:
        yield h


async def add_codex(h: Harness, expires_in: float = 3600, **fields: Any) -> int:
    credentials = fields.pop("credentials", None) or {
        "access_token": "oat-old", "refresh_token": "ort-old", "expires_at": int(time.time() + expires_in),
        "id_token": id_token("acct-old"), "chatgpt_account_id": "acct-old"}
    fields.setdefault("name", "codex-1")
    account = await h.add_account(credentials, platform="openai", type="openai-responses", **fields)
    assert account.id is not None
    return account.id


def codex_headers(key: str) -> dict[str, str]:
    # What Codex CLI sends with a custom provider whose env_key holds the gateway key.
    return {"authorization": f"Bearer {key}", "originator": "codex_exec", "session_id": "conv-7",
            "user-agent": "codex_exec/0.50.0 (Linux; x86_64)", "accept": "text/event-stream"}


def tokens(rec: Any) -> tuple[int, int, int, int]:
    return rec.input_tokens, rec.output_tokens, rec.cache_creation_tokens, rec.cache_read_tokens


@pytest.mark.parametrize("path", ["/responses", "/v1/responses", "/openai/v1/responses"])
async def test_codex_stream_relayed_and_tokens_recorded(gw: Harness, up: Upstreams, path: str):
    account_id = await add_codex(gw)
    body = {**BODY, "stream": True, "store": False, "prompt_cache_key": "conv-7"}
    r = await gw.http.post(path, json=body, headers=codex_headers(gw.key))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    assert "event: response.completed" in r.text and "Hello" in r.text
    assert r.headers["x-codex-primary-used-percent"] == "12"

    [seen] = up.codex.requests
    assert seen.headers["authorization"] == "Bearer oat-old"
    assert seen.headers["chatgpt-account-id"] == "acct-old"
    assert seen.headers["originator"] == "codex_exec" and seen.headers["session_id"] == "conv-7"
    assert gw.key not in str(seen.headers)
    assert seen.json == body

    [record] = await gw.records()
    assert record.account_id == account_id and record.status == 200 and record.stream
    assert record.endpoint == "responses" and record.model == "gpt-5-codex"
    assert tokens(record) == RESPONSES_TOKENS


async def test_non_stream_request_answered_as_json_from_the_stream(gw: Harness, up: Upstreams):
    await add_codex(gw)
    r = await gw.http.post("/openai/v1/responses", json=BODY, headers={"authorization": f"Bearer {gw.key}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    answer = r.json()
    assert answer["status"] == "completed" and answer["output"] == [message_item(TEXT)]
    assert answer["usage"] == RESPONSES_USAGE
    assert int(r.headers["content-length"]) == len(r.content)
    [seen] = up.codex.requests
    assert seen.json == {**BODY, "stream": True, "store": False}
    [record] = await gw.records()
    assert record.status == 200 and not record.stream and tokens(record) == RESPONSES_TOKENS


async def test_codex_limit_passed_on_and_recorded(gw: Harness):
    await add_codex(gw)
    r = await gw.http.post("/responses", json={**BODY, "model": "limited"}, headers=codex_headers(gw.key))
    assert r.status_code == 429
    [record] = await gw.records()
    assert record.status == 429 and "usage limit" in (record.error or "")


async def test_chat_completions_on_a_responses_only_account_go_through_messages(gw: Harness, up: Upstreams):
    # Issue 13: chat -> Messages -> Responses; the Codex backend's forced stream is collected
    # into the one completion the client asked for.
    codex_id = await add_codex(gw)
    chat = {"model": "gpt-5-codex", "messages": [{"role": "user", "content": "hi"}]}
    r = await gw.http.post("/openai/v1/chat/completions", json=chat, headers={"authorization": f"Bearer {gw.key}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    answer = r.json()
    assert answer["object"] == "chat.completion" and answer["model"] == "gpt-5-codex"
    assert answer["choices"][0]["message"]["content"] == TEXT and answer["choices"][0]["finish_reason"] == "stop"
    [seen] = up.codex.requests
    assert (seen.json["stream"], seen.json["store"]) == (True, False)
    assert seen.json["input"] == [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]
    [record] = await gw.records()
    assert (record.client_format, record.upstream_format) == ("openai-chat", "openai-responses")
    assert tokens(record) == RESPONSES_TOKENS and not record.stream

    # With an ordinary openai account beside it at the same priority, a new conversation
    # (the one above is bound to the Codex account) goes there: no translation on the
    # way. Responses still go to the Codex one.
    codex = await gw.stores.accounts.get(codex_id)
    assert codex is not None
    await gw.add_account({"api_key": "sk-plain"}, name="plain", platform="openai", type="openai",
                         priority=codex.priority)
    other = {**chat, "messages": [{"role": "user", "content": "something else"}]}
    r = await gw.http.post("/openai/v1/chat/completions", json=other, headers={"authorization": f"Bearer {gw.key}"})
    assert r.status_code == 200, r.text
    assert [s.path for s in up.openai.requests] == ["/v1/chat/completions"]
    r = await gw.http.post("/responses", json=BODY, headers=codex_headers(gw.key))
    assert r.status_code == 200 and len(up.codex.requests) == 2


async def test_expiring_login_refreshed_once_and_stored(gw: Harness, up: Upstreams):
    account_id = await add_codex(gw, expires_in=60)
    r = await gw.http.post("/responses", json={**BODY, "stream": True}, headers=codex_headers(gw.key))
    assert r.status_code == 200, r.text
    [refresh] = up.auth.refresh_requests
    assert refresh["refresh_token"] == "ort-old" and refresh["scope"] == "openid profile email"
    [seen] = up.codex.requests
    assert seen.headers["authorization"] == "Bearer oat-refresh1"
    assert seen.headers["chatgpt-account-id"] == "acct-refresh1"

    stored = await gw.stores.accounts.get(account_id)
    assert stored is not None
    saved = CredentialCipher(ENCRYPTION_KEY).decrypt(stored.credentials)
    assert (saved["access_token"], saved["refresh_token"]) == ("oat-refresh1", "ort-refresh1")
    assert saved["chatgpt_account_id"] == "acct-refresh1" and saved["id_token"] == id_token("acct-refresh1")

    assert (await gw.http.post("/responses", json=BODY, headers=codex_headers(gw.key))).status_code == 200
    assert len(up.auth.refresh_requests) == 1
    assert up.codex.requests[-1].headers["authorization"] == "Bearer oat-refresh1"


async def test_api_key_account_is_a_plain_responses_relay(gw: Harness, up: Upstreams):
    await add_codex(gw, credentials={"api_key": "sk-resp"}, name="resp-key")
    r = await gw.http.post("/openai/v1/responses", json={"model": "gpt-5", "input": "hi"},
                           headers={"authorization": f"Bearer {gw.key}"})
    assert r.status_code == 200, r.text
    assert r.json()["output"] == [message_item(TEXT)]
    [seen] = up.openai.requests
    assert seen.url == f"{OPENAI_BASE}/v1/responses"
    assert seen.headers["authorization"] == "Bearer sk-resp"
    assert json.loads(seen.body) == {"model": "gpt-5", "input": "hi"}
    assert up.codex.requests == []
    [record] = await gw.records()
    assert tokens(record) == RESPONSES_TOKENS


async def test_twenty_concurrent_requests_share_one_refresh(gw: Harness, up: Upstreams):
    await add_codex(gw, expires_in=10)
    up.auth.delay = 0.05
    responses = await asyncio.gather(*[
        gw.http.post("/responses", json={**BODY, "stream": True}, headers=codex_headers(gw.key)) for _ in range(20)])
    assert [r.status_code for r in responses] == [200] * 20
    assert len(up.auth.refresh_requests) == 1
    assert {s.headers["authorization"] for s in up.codex.requests} == {"Bearer oat-refresh1"}
    assert {s.headers["chatgpt-account-id"] for s in up.codex.requests} == {"acct-refresh1"}
