"""/gemini against a fake Gemini upstream: what the upstream saw, what the client got, what was recorded."""

from __future__ import annotations

import json
from typing import AsyncIterator

import httpx
import pytest

from aiproxy.settings import UpstreamURLs
from tests.fakes.gemini_upstream import RECORDED, TEXT_PIECES, FakeGemini, array_pieces, fake_count, sse_pieces
from tests.harness import UPSTREAM, Harness, start_harness

pytestmark = pytest.mark.anyio

GEMINI_UPSTREAM = "http://gemini.test"
GEMINI_KEY = "AIza-upstream-secret"
MODEL = "gemini-2.5-flash"
BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"thinkingConfig": {"includeThoughts": True}}}
CHAT = {"model": MODEL, "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        "max_tokens": 50}


@pytest.fixture
def fake() -> FakeGemini:
    return FakeGemini()


async def gemini_harness(transport: httpx.AsyncBaseTransport, **account: object) -> AsyncIterator[Harness]:
    upstream = UpstreamURLs(anthropic=UPSTREAM, gemini=GEMINI_UPSTREAM)
    async with start_harness(transport, upstream=upstream) as h:
        await h.add_account(name="gemini-1", platform="gemini", type="gemini-api",
                            credentials={"api_key": GEMINI_KEY}, **account)
        yield h


@pytest.fixture
async def h(fake: FakeGemini, anyio_backend: str) -> AsyncIterator[Harness]:
    async for harness in gemini_harness(httpx.ASGITransport(app=fake.app())):
        yield harness


def goog(key: str) -> dict[str, str]:
    return {"x-goog-api-key": key}


def url(method: str, model: str = MODEL, version: str = "v1beta") -> str:
    return f"/gemini/{version}/models/{model}:{method}"


def assert_google_error(r: httpx.Response, status: int, name: str, words: str) -> None:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == status and error["status"] == name and words in error["message"], error


def assert_openai_error(r: httpx.Response, status: int, words: str) -> None:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert words in error["message"] and "type" in error and "status" not in error, error


def tokens(rec) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {name: getattr(rec, name) for name in RECORDED}


async def test_generate_content_relayed_with_account_key(h: Harness, fake: FakeGemini):
    raw = json.dumps(BODY, indent=1).encode()
    r = await h.http.post(url("generateContent"), content=raw, headers={**goog(h.key), "x-goog-api-client": "t/1"})
    assert r.status_code == 200, r.text
    assert r.json()["candidates"][0]["content"]["parts"][1]["text"] == "".join(TEXT_PIECES)

    [seen] = fake.requests
    assert (seen.method, seen.path, seen.query) == ("POST", f"/v1beta/models/{MODEL}:generateContent", "")
    assert seen.headers["x-goog-api-key"] == GEMINI_KEY
    assert seen.headers["x-goog-api-client"] == "t/1"
    assert seen.headers["accept-encoding"] == "identity"
    assert seen.body == raw  # forwarded byte for byte
    assert h.key not in str(seen.headers)

    [rec] = await h.records()
    assert tokens(rec) == RECORDED
    assert (rec.platform, rec.endpoint, rec.model, rec.stream, rec.status) == (
        "gemini", "generateContent", MODEL, False, 200)
    assert rec.account_id is not None and rec.key_id is not None


@pytest.mark.parametrize("sse", [True, False], ids=["alt=sse", "json-array"])
async def test_stream_both_shapes_relayed_and_counted(h: Harness, fake: FakeGemini, sse: bool):
    target = url("streamGenerateContent") + ("?alt=sse" if sse else "")
    async with h.http.stream("POST", target, json=BODY, headers=goog(h.key)) as r:
        assert r.status_code == 200
        body = b"".join([chunk async for chunk in r.aiter_raw()])
    expected = b"".join(sse_pieces(MODEL) if sse else array_pieces(MODEL))
    assert body == expected
    assert r.headers["content-type"].startswith("text/event-stream" if sse else "application/json")
    [seen] = fake.requests
    assert seen.path == f"/v1beta/models/{MODEL}:streamGenerateContent"
    assert seen.query == ("alt=sse" if sse else "")
    [rec] = await h.records()
    assert tokens(rec) == RECORDED
    assert (rec.endpoint, rec.stream, rec.status, rec.model) == ("streamGenerateContent", True, 200, MODEL)


@pytest.mark.parametrize("how", ["query", "goog", "bearer"])
async def test_client_key_never_reaches_upstream(h: Harness, fake: FakeGemini, how: str):
    headers: dict[str, str] = {}
    target = url("streamGenerateContent") + "?alt=sse"
    if how == "query":
        target = url("streamGenerateContent") + f"?key={h.key}&alt=sse"
    elif how == "goog":
        headers = goog(h.key)
    else:
        headers = {"authorization": f"Bearer {h.key}"}
    r = await h.http.post(target, json=BODY, headers=headers)
    assert r.status_code == 200, r.text
    [seen] = fake.requests
    assert seen.query == "alt=sse"
    assert seen.headers["x-goog-api-key"] == GEMINI_KEY
    assert h.key not in seen.query and h.key not in str(seen.headers)
    assert "authorization" not in seen.headers


@pytest.mark.parametrize("version", ["v1beta", "v1"])
async def test_count_tokens_and_models(h: Harness, fake: FakeGemini, version: str):
    r = await h.http.post(url("countTokens", version=version), json=BODY, headers=goog(h.key))
    assert r.json() == {"totalTokens": fake_count(BODY)}  # counted from what the fake got
    r = await h.http.get(f"/gemini/{version}/models", headers=goog(h.key))
    assert [m["name"] for m in r.json()["models"]] == ["models/gemini-2.5-flash", "models/gemini-2.5-pro"]
    r = await h.http.get(f"/gemini/{version}/models/{MODEL}", headers=goog(h.key))
    assert r.json()["name"] == f"models/{MODEL}"
    assert [(s.method, s.path) for s in fake.requests] == [
        ("POST", f"/{version}/models/{MODEL}:countTokens"),
        ("GET", f"/{version}/models"),
        ("GET", f"/{version}/models/{MODEL}"),
    ]
    assert all(s.headers["x-goog-api-key"] == GEMINI_KEY for s in fake.requests)
    recs = await h.records()
    assert [(r.endpoint, r.model, r.status) for r in recs] == [
        ("countTokens", MODEL, 200), ("models", "", 200), ("models", MODEL, 200)]


async def test_v1_generate_content(h: Harness, fake: FakeGemini):
    r = await h.http.post(url("generateContent", version="v1"), json=BODY, headers=goog(h.key))
    assert r.status_code == 200
    assert fake.requests[0].path == f"/v1/models/{MODEL}:generateContent"


async def test_gateway_errors_in_google_shape(h: Harness, fake: FakeGemini):
    r = await h.http.post(url("generateContent"), json=BODY)
    assert_google_error(r, 401, "UNAUTHENTICATED", "missing API key")
    r = await h.http.post(url("generateContent") + "?key=ap-nope", json=BODY)
    assert_google_error(r, 401, "UNAUTHENTICATED", "invalid API key")

    claude_only, _ = await h.add_key(platforms=["claude"])
    r = await h.http.post(url("generateContent"), json=BODY, headers=goog(claude_only))
    assert_google_error(r, 403, "PERMISSION_DENIED", "gemini platform")
    pro_only, _ = await h.add_key(models=["gemini-2.5-pro"])
    r = await h.http.post(url("streamGenerateContent"), json=BODY, headers=goog(pro_only))
    assert_google_error(r, 403, "PERMISSION_DENIED", MODEL)  # the model comes from the path
    r = await h.http.post(url("generateContent", "gemini-2.5-pro"), json=BODY, headers=goog(pro_only))
    assert r.status_code == 200

    r = await h.http.post(url("generateContent"), content=b"{nope", headers=goog(h.key))
    assert_google_error(r, 400, "INVALID_ARGUMENT", "not valid JSON")
    r = await h.http.post(url("streamGenerateContent"), content=b"[1]", headers=goog(h.key))
    assert_google_error(r, 400, "INVALID_ARGUMENT", "JSON object")
    r = await h.http.post(url("countTokens"), headers=goog(h.key))
    assert_google_error(r, 400, "INVALID_ARGUMENT", "JSON object")

    r = await h.http.post(url("embedNothing"), json=BODY, headers=goog(h.key))
    assert_google_error(r, 404, "NOT_FOUND", "no such endpoint")
    r = await h.http.get("/gemini/v1beta/tunedModels", headers=goog(h.key))
    assert_google_error(r, 404, "NOT_FOUND", "no such endpoint")
    r = await h.http.get(url("generateContent"), headers=goog(h.key))
    assert_google_error(r, 405, "INVALID_ARGUMENT", "POST")
    assert len(fake.requests) == 1  # only the allowed pro request went upstream


async def test_no_gemini_account_503(h: Harness, fake: FakeGemini):
    for account in await h.stores.accounts.list():
        if account.platform == "gemini":
            account.enabled = False
            await h.stores.accounts.update(account)
    await h.app.state.gateway.pool.reload()
    r = await h.http.post(url("generateContent"), json=BODY, headers=goog(h.key))
    assert_google_error(r, 503, "UNAVAILABLE", f"no enabled gemini account serves model {MODEL}")
    r = await h.http.post("/gemini/v1/chat", json=CHAT, headers=goog(h.key))
    assert_openai_error(r, 503, "no enabled gemini account")
    assert not fake.requests


async def test_upstream_error_passed_through(h: Harness):
    r = await h.http.post(url("streamGenerateContent", "fail-429") + "?alt=sse", json=BODY, headers=goog(h.key))
    assert_google_error(r, 429, "RESOURCE_EXHAUSTED", "fake 429")
    [rec] = await h.records()
    assert rec.status == 429 and "fake 429" in (rec.error or "")


async def test_model_mapping_renames_the_model_in_the_path(fake: FakeGemini, anyio_backend: str):
    async for h in gemini_harness(httpx.ASGITransport(app=fake.app()), model_mapping={"flash": MODEL}):
        r = await h.http.post(url("generateContent", "flash"), json=BODY, headers=goog(h.key))
        assert r.status_code == 200
        assert fake.requests[-1].path == f"/v1beta/models/{MODEL}:generateContent"
        r = await h.http.post(url("generateContent", "gemini-2.5-pro"), json=BODY, headers=goog(h.key))
        assert_google_error(r, 503, "UNAVAILABLE", "gemini-2.5-pro")
        [rec, _] = await h.records()
        assert rec.model == "flash"  # the model the client asked for


@pytest.mark.parametrize("base", ["https://mirror.example/google", "https://mirror.example/google/v1beta/"])
async def test_account_base_url_overrides_default(base: str, anyio_backend: str):
    seen: list[httpx.Request] = []

    def capture(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 4}})

    async for h in gemini_harness(httpx.MockTransport(capture), base_url=base):
        r = await h.http.post(url("streamGenerateContent") + "?alt=sse&key=" + h.key, json=BODY)
        assert r.status_code == 200
        assert str(seen[0].url) == f"https://mirror.example/google/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
        assert seen[0].headers["x-goog-api-key"] == GEMINI_KEY


async def test_chat_non_stream_translated(h: Harness, fake: FakeGemini):
    r = await h.http.post("/gemini/v1/chat", json=CHAT, headers={"authorization": f"Bearer {h.key}"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["object"] == "chat.completion" and out["id"] == "chatcmpl-resp_fake" and out["model"] == MODEL
    assert out["choices"] == [{"index": 0, "message": {"role": "assistant", "content": "".join(TEXT_PIECES)},
                               "finish_reason": "stop"}]
    assert (out["usage"]["prompt_tokens"], out["usage"]["completion_tokens"], out["usage"]["total_tokens"]) == (
        120, 12, 132)
    assert int(r.headers["content-length"]) == len(r.content)

    [seen] = fake.requests
    assert (seen.path, seen.query) == (f"/v1beta/models/{MODEL}:generateContent", "")
    assert seen.headers["x-goog-api-key"] == GEMINI_KEY and h.key not in str(seen.headers)
    assert seen.json == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                         "systemInstruction": {"parts": [{"text": "Be brief."}]},
                         "generationConfig": {"maxOutputTokens": 50}}
    [rec] = await h.records()
    assert tokens(rec) == RECORDED
    assert (rec.endpoint, rec.model, rec.stream, rec.platform) == ("chat", MODEL, False, "gemini")


@pytest.mark.parametrize("include_usage", [False, True])
async def test_chat_stream_translated(h: Harness, fake: FakeGemini, include_usage: bool):
    body = {**CHAT, "stream": True}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    async with h.http.stream("POST", "/gemini/v1/chat?key=" + h.key, json=body) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = b"".join([chunk async for chunk in r.aiter_raw()])
    lines = [line[6:] for line in raw.split(b"\n\n") if line]
    assert lines[-1] == b"[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    usage_chunks = [c for c in chunks if not c["choices"]]
    assert len(usage_chunks) == int(include_usage)
    if include_usage:
        assert usage_chunks[0]["usage"]["completion_tokens"] == 12
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "".join(TEXT_PIECES)

    [seen] = fake.requests
    assert (seen.path, seen.query) == (f"/v1beta/models/{MODEL}:streamGenerateContent", "alt=sse")
    assert seen.headers["x-goog-api-key"] == GEMINI_KEY and h.key not in seen.query
    [rec] = await h.records()
    assert tokens(rec) == RECORDED
    assert (rec.endpoint, rec.stream, rec.status) == ("chat", True, 200)


async def test_chat_errors_in_openai_shape(h: Harness, fake: FakeGemini):
    r = await h.http.post("/gemini/v1/chat", json=CHAT)
    assert_openai_error(r, 401, "missing API key")
    r = await h.http.post("/gemini/v1/chat", json={**CHAT, "messages": [{"role": "tool", "content": "x"}]},
                          headers=goog(h.key))
    assert_openai_error(r, 400, "role 'tool'")
    r = await h.http.post("/gemini/v1/chat", content=b"{nope", headers=goog(h.key))
    assert_openai_error(r, 400, "not valid JSON")
    r = await h.http.post("/gemini/v1/chat", headers=goog(h.key))
    assert_openai_error(r, 400, "JSON object")
    r = await h.http.get("/gemini/v1/chat", headers=goog(h.key))
    assert_openai_error(r, 405, "POST")
    pro_only, _ = await h.add_key(models=["gemini-2.5-pro"])
    r = await h.http.post("/gemini/v1/chat", json=CHAT, headers=goog(pro_only))
    assert_openai_error(r, 403, MODEL)
    assert not fake.requests
    # An upstream error is passed on as the upstream sent it (Google's shape).
    r = await h.http.post("/gemini/v1/chat", json={**CHAT, "model": "fail-500"}, headers=goog(h.key))
    assert_google_error(r, 500, "INTERNAL", "fake 500")
