"""/openai (and root /responses) against a fake OpenAI upstream: what the upstream saw,
what the client got, what was recorded."""

from __future__ import annotations

import json
from typing import AsyncIterator

import httpx
import pytest

from aiproxy.settings import UpstreamURLs
from tests.fakes.openai_upstream import (
    FakeOpenAI,
    chat_completion,
    chat_stream,
    responses_stream,
)
from tests.harness import UPSTREAM, Harness, start_harness

pytestmark = pytest.mark.anyio

OPENAI_BASE = "http://openai.test"
OPENAI_KEY = "sk-proj-upstream-secret"
CHAT = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}
RESPONSE = {"model": "gpt-5", "input": "hi"}
# CHAT_USAGE / RESPONSES_USAGE of the fake, normalised: (input, output, cache_creation, cache_read)
CHAT_TOKENS = (20, 7, 0, 10)
RESPONSES_TOKENS = (24, 9, 0, 16)


@pytest.fixture
def fake_openai() -> FakeOpenAI:
    return FakeOpenAI()


async def add_openai_account(h: Harness, **fields: object) -> None:
    credentials = fields.pop("credentials", {"api_key": OPENAI_KEY})
    fields.setdefault("name", "openai-1")
    await h.add_account(credentials=credentials, platform="openai", type="openai", **fields)  # type: ignore[arg-type]


@pytest.fixture
async def oa(fake_openai: FakeOpenAI, anyio_backend: str) -> AsyncIterator[Harness]:
    """The gateway with an OpenAI account (and the harness's Claude one), upstream the fake OpenAI API."""
    async with start_harness(httpx.ASGITransport(app=fake_openai.app()),
                             upstream=UpstreamURLs(anthropic=UPSTREAM, openai=OPENAI_BASE)) as h:
        await add_openai_account(h)
        yield h


def auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def tokens(rec) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    return rec.input_tokens, rec.output_tokens, rec.cache_creation_tokens, rec.cache_read_tokens


def assert_openai_error(response: httpx.Response, status: int, kind: str, words: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == kind and error["param"] is None
    assert words in error["message"], error["message"]


def assert_upstream_auth(seen, h: Harness) -> None:  # type: ignore[no-untyped-def]
    assert seen.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert seen.headers["accept-encoding"] == "identity"
    assert h.key not in str(seen.headers) and h.key not in seen.url


async def test_chat_completion_relayed_with_account_key_and_usage_recorded(oa: Harness, fake_openai: FakeOpenAI):
    r = await oa.http.post("/openai/v1/chat/completions", json=CHAT, headers={**auth(oa.key), "user-agent": "t/1"})
    assert r.status_code == 200, r.text
    assert r.json() == chat_completion("gpt-4.1")
    assert r.headers["x-request-id"] == "req_fake" and r.headers["x-ratelimit-remaining-requests"] == "99"

    [seen] = fake_openai.requests
    assert seen.url == f"{OPENAI_BASE}/v1/chat/completions"
    assert_upstream_auth(seen, oa)
    assert seen.headers["user-agent"] == "t/1"
    assert seen.json == CHAT  # not streamed: no stream_options injected

    [rec] = await oa.records()
    assert tokens(rec) == CHAT_TOKENS
    assert rec.platform == "openai" and rec.endpoint == "chat_completions" and rec.model == "gpt-4.1"
    assert rec.status == 200 and rec.stream is False and rec.error is None
    assert rec.user_id == oa.user.id and rec.account_id is not None


async def stream_post(h: Harness, path: str, body: dict) -> tuple[httpx.Response, bytes]:
    async with h.http.stream("POST", path, json=body, headers=auth(h.key)) as r:
        data = b"".join([chunk async for chunk in r.aiter_raw()])
    return r, data


async def test_chat_stream_without_include_usage_hides_the_injected_usage_chunk(oa: Harness, fake_openai: FakeOpenAI):
    r, body = await stream_post(oa, "/openai/v1/chat/completions", {**CHAT, "stream": True})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    upstream_events = chat_stream("gpt-4.1", include_usage=True)
    usage_chunk = upstream_events[-2]
    assert b'"choices":[]' in usage_chunk
    assert body == b"".join(e for e in upstream_events if e is not usage_chunk)
    assert b'"prompt_tokens"' not in body

    [seen] = fake_openai.requests
    assert seen.json == {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    assert_upstream_auth(seen, oa)
    [rec] = await oa.records()
    assert rec.stream is True and rec.status == 200 and tokens(rec) == CHAT_TOKENS


async def test_chat_stream_with_include_usage_relayed_unchanged(oa: Harness, fake_openai: FakeOpenAI):
    ask = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    r, body = await stream_post(oa, "/openai/v1/chat/completions", ask)
    assert body == b"".join(chat_stream("gpt-4.1", include_usage=True))
    assert fake_openai.requests[0].json == ask
    [rec] = await oa.records()
    assert tokens(rec) == CHAT_TOKENS


async def test_chat_stream_keeps_other_stream_options(oa: Harness, fake_openai: FakeOpenAI):
    ask = {**CHAT, "stream": True, "stream_options": {"include_obfuscation": False, "include_usage": False}}
    r, body = await stream_post(oa, "/openai/v1/chat/completions", ask)
    assert fake_openai.requests[0].json["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert b'"prompt_tokens"' not in body
    [rec] = await oa.records()
    assert tokens(rec) == CHAT_TOKENS


async def test_azure_style_stream_counts_from_the_usage_chunk(oa: Harness):
    r, body = await stream_post(oa, "/openai/v1/chat/completions", {**CHAT, "model": "azure-gpt-4o", "stream": True})
    assert body.startswith(b'data: {"choices":[],"created":0')  # the filter results chunk is relayed
    assert b'"prompt_tokens"' not in body
    [rec] = await oa.records()
    assert tokens(rec) == CHAT_TOKENS and rec.model == "azure-gpt-4o"


@pytest.mark.parametrize("path", ["/openai/v1/responses", "/responses", "/v1/responses"])
async def test_responses_relayed_and_usage_recorded(oa: Harness, fake_openai: FakeOpenAI, path: str):
    r = await oa.http.post(path, json=RESPONSE, headers=auth(oa.key))
    assert r.status_code == 200, r.text
    assert r.json()["output"][0]["content"][0]["text"] == "Hello, world!"
    r, body = await stream_post(oa, path, {**RESPONSE, "stream": True, "store": False})
    assert body == b"".join(responses_stream("gpt-5"))

    assert [s.url for s in fake_openai.requests] == [f"{OPENAI_BASE}/v1/responses"] * 2
    assert fake_openai.requests[0].json == RESPONSE
    assert fake_openai.requests[1].json == {**RESPONSE, "stream": True, "store": False}  # no stream_options here
    for seen in fake_openai.requests:
        assert_upstream_auth(seen, oa)
    recs = await oa.records()
    assert [(r.platform, r.endpoint, r.stream, r.status, r.model) for r in recs] == [
        ("openai", "responses", False, 200, "gpt-5"), ("openai", "responses", True, 200, "gpt-5")]
    assert [tokens(r) for r in recs] == [RESPONSES_TOKENS, RESPONSES_TOKENS]


async def test_failed_response_stream_records_error_and_usage(oa: Harness):
    r, body = await stream_post(oa, "/openai/v1/responses", {**RESPONSE, "model": "stream-failed", "stream": True})
    assert r.status_code == 200 and b"response.failed" in body
    [rec] = await oa.records()
    assert rec.error == "server_error: fake failure" and tokens(rec) == RESPONSES_TOKENS


async def test_models(oa: Harness, fake_openai: FakeOpenAI):
    r = await oa.http.get("/openai/v1/models", headers=auth(oa.key))
    assert r.status_code == 200
    assert [m["id"] for m in r.json()["data"]] == ["gpt-4.1", "gpt-5"]
    [seen] = fake_openai.requests
    assert seen.method == "GET" and seen.url == f"{OPENAI_BASE}/v1/models"
    assert_upstream_auth(seen, oa)
    [rec] = await oa.records()
    assert rec.endpoint == "models" and rec.platform == "openai" and rec.status == 200


async def test_upstream_error_passed_through(oa: Harness):
    r = await oa.http.post("/openai/v1/chat/completions", json={**CHAT, "model": "fail-429"}, headers=auth(oa.key))
    assert r.status_code == 429
    assert r.json() == {"error": {"message": "fake 429", "type": "rate_limit_error", "param": None,
                                  "code": "fake_429"}}
    assert r.headers["x-request-id"] == "req_fake"
    [rec] = await oa.records()
    assert rec.status == 429 and "fake 429" in (rec.error or "")


@pytest.mark.parametrize("path", ["/openai/v1/chat/completions", "/responses"])
async def test_gateway_errors_in_openai_shape(oa: Harness, fake_openai: FakeOpenAI, path: str):
    r = await oa.http.post(path, json=CHAT)
    assert_openai_error(r, 401, "authentication_error", "missing API key")
    r = await oa.http.post(path, json=CHAT, headers=auth("ap-nope"))
    assert_openai_error(r, 401, "authentication_error", "invalid API key")

    claude_only, _ = await oa.add_key(platforms=["claude"])
    r = await oa.http.post(path, json=CHAT, headers=auth(claude_only))
    assert_openai_error(r, 403, "permission_error", "openai platform")
    mini_only, _ = await oa.add_key(models=["gpt-4.1-mini*"])
    r = await oa.http.post(path, json=CHAT, headers=auth(mini_only))
    assert_openai_error(r, 403, "permission_error", "gpt-4.1")

    r = await oa.http.post(path, content=b"{nope", headers=auth(oa.key))
    assert_openai_error(r, 400, "invalid_request_error", "not valid JSON")
    r = await oa.http.post(path, content=b"[1]", headers=auth(oa.key))
    assert_openai_error(r, 400, "invalid_request_error", "JSON object")
    r = await oa.http.get(path, headers=auth(oa.key))
    assert_openai_error(r, 405, "invalid_request_error", "POST")
    assert fake_openai.requests == []


async def test_unknown_openai_path_404(oa: Harness):
    r = await oa.http.get("/openai/v1/nope", headers=auth(oa.key))
    assert_openai_error(r, 404, "not_found_error", "/openai/v1/nope")


async def test_no_openai_account_503(oa: Harness):
    for account in await oa.stores.accounts.list():
        if account.platform == "openai":
            await oa.stores.accounts.delete(account.id)
    await oa.app.state.gateway.pool.reload()
    r = await oa.http.post("/openai/v1/chat/completions", json=CHAT, headers=auth(oa.key))
    assert_openai_error(r, 503, "server_error", "no enabled openai account serves model gpt-4.1")
    [rec] = await oa.records()
    assert rec.status == 503 and rec.account_id is None and rec.platform == "openai"


async def test_claude_account_never_serves_openai_routes(fake_openai: FakeOpenAI, anyio_backend: str):
    # The harness seeds only a Claude account here.
    async with start_harness(httpx.ASGITransport(app=fake_openai.app())) as h:
        r = await h.http.post("/responses", json=RESPONSE, headers=auth(h.key))
        assert_openai_error(r, 503, "server_error", "no enabled openai account")
    assert fake_openai.requests == []


async def test_health_and_admin_still_reachable_beside_root_routes(oa: Harness):
    assert (await oa.http.get("/health")).json()["status"] == "ok"
    r = await oa.http.get("/admin/api/accounts")
    assert r.status_code == 401 and "error" in r.json()  # the admin API's answer, not an OpenAI route's


@pytest.mark.parametrize("base_url", ["https://relay.example/openai", "https://relay.example/openai/v1/"])
async def test_account_base_url_with_or_without_v1(base_url: str, anyio_backend: str):
    seen: list[httpx.Request] = []

    def capture(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=chat_completion("gpt-4.1"))

    async with start_harness(httpx.MockTransport(capture)) as h:
        await add_openai_account(h, base_url=base_url, credentials={
            "api_key": OPENAI_KEY, "organization": "org-team", "project": "proj_abc"})
        r = await h.http.post("/openai/v1/chat/completions?trace=1", json=CHAT,
                              headers={**auth(h.key), "openai-organization": "org-client", "OpenAI-Project": "p2"})
        assert r.status_code == 200
        [request] = seen
        assert str(request.url) == "https://relay.example/openai/v1/chat/completions?trace=1"
        assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
        assert request.headers.get_list("openai-organization") == ["org-team"]
        assert request.headers.get_list("openai-project") == ["proj_abc"]
        [rec] = await h.records()
        assert tokens(rec) == CHAT_TOKENS


async def test_default_base_url_and_no_scope_headers_without_credentials_for_them(anyio_backend: str):
    seen: list[httpx.Request] = []

    def capture(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"object": "list", "data": []})

    async with start_harness(httpx.MockTransport(capture)) as h:
        await add_openai_account(h)
        r = await h.http.get("/openai/v1/models", headers={**auth(h.key), "openai-organization": "org-client"})
        assert r.status_code == 200
        assert str(seen[0].url) == "https://api.openai.com/v1/models"
        assert "openai-organization" not in seen[0].headers and "openai-project" not in seen[0].headers


async def test_model_mapping_applies_and_stream_options_still_injected(oa: Harness, fake_openai: FakeOpenAI):
    for account in await oa.stores.accounts.list():
        if account.platform == "openai":
            await oa.stores.accounts.delete(account.id)
    await add_openai_account(oa, model_mapping={"gpt-4.1": "gpt-4.1-2025-04-14"})
    r, body = await stream_post(oa, "/openai/v1/chat/completions", {**CHAT, "stream": True})
    assert fake_openai.requests[0].json == {**CHAT, "model": "gpt-4.1-2025-04-14", "stream": True,
                                            "stream_options": {"include_usage": True}}
    assert b'"prompt_tokens"' not in body
    [rec] = await oa.records()
    assert rec.model == "gpt-4.1" and tokens(rec) == CHAT_TOKENS


async def test_stream_broken_midway_ends_with_openai_error_line(anyio_backend: str):
    events = chat_stream("gpt-4.1", include_usage=True)

    class Broken(httpx.AsyncByteStream):
        async def __aiter__(self):  # type: ignore[no-untyped-def]
            yield events[0]
            raise httpx.ReadError("reset")

    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Broken())

    async with start_harness(httpx.MockTransport(broken)) as h:
        await add_openai_account(h)
        r, body = await stream_post(h, "/openai/v1/chat/completions", {**CHAT, "stream": True})
        assert body.startswith(events[0])
        last = body[len(events[0]):]
        assert last.startswith(b"data: ") and json.loads(last[6:])["error"]["type"] == "server_error"
        [rec] = await h.records()
        assert "upstream stream broke" in (rec.error or "")


async def test_chat_body_forwarded_byte_for_byte_unless_usage_must_be_asked(oa: Harness, fake_openai: FakeOpenAI):
    raw = b'{"model": "gpt-4.1",\n  "messages": [{"role": "user", "content": "hi"}]}'
    r = await oa.http.post("/openai/v1/chat/completions", content=raw, headers=auth(oa.key))
    assert r.status_code == 200
    assert fake_openai.requests[-1].body == raw
    raw_stream = b'{"model": "gpt-4.1", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
    r = await oa.http.post("/openai/v1/chat/completions", content=raw_stream, headers=auth(oa.key))
    assert fake_openai.requests[-1].body != raw_stream
    assert json.loads(fake_openai.requests[-1].body)["stream_options"] == {"include_usage": True}
