"""/gemini through a gemini-oauth account (Code Assist): clients see the native Gemini API,
the upstream sees Code Assist's envelope, usage is recorded as for any Gemini account."""

from __future__ import annotations

import json
import time
from typing import AsyncIterator

import httpx
import pytest

from aiproxy.settings import UpstreamURLs
from tests.fakes.code_assist_upstream import (
    CODE_ASSIST,
    GOOGLE_TOKEN_HOST,
    PROJECT,
    FakeCodeAssist,
    FakeGoogleToken,
    gemini_oauth_settings,
)
from tests.fakes.gemini_upstream import RECORDED, TEXT_PIECES, stream_chunks, words
from tests.fakes.oauth_provider import HostRouter
from tests.harness import UPSTREAM, Harness, start_harness

pytestmark = pytest.mark.anyio

MODEL = "gemini-2.5-pro"
BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"thinkingConfig": {"includeThoughts": True}}}
CHAT = {"model": MODEL, "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        "max_tokens": 50}


@pytest.fixture
def code_assist() -> FakeCodeAssist:
    return FakeCodeAssist()


@pytest.fixture
async def h(code_assist: FakeCodeAssist, anyio_backend: str) -> AsyncIterator[Harness]:
    transport = HostRouter({GOOGLE_TOKEN_HOST: FakeGoogleToken().transport()},
                           httpx.ASGITransport(app=code_assist.app()))
    upstream = UpstreamURLs(anthropic=UPSTREAM, code_assist=CODE_ASSIST)
    async with start_harness(transport, upstream=upstream, oauth=gemini_oauth_settings()) as harness:
        await harness.add_account(
            {"access_token": "at-google", "refresh_token": "rt-google", "expires_at": int(time.time()) + 3600},
            name="google-1", platform="gemini", type="gemini-oauth")
        yield harness


def url(method: str) -> str:
    return f"/gemini/v1beta/models/{MODEL}:{method}"


def tokens(rec) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {name: getattr(rec, name) for name in RECORDED}


async def test_generate_content_native_in_and_out(h: Harness, code_assist: FakeCodeAssist):
    r = await h.http.post(url("generateContent"), json=BODY, headers={"x-goog-api-key": h.key})
    assert r.status_code == 200, r.text
    out = r.json()
    assert "response" not in out and out["modelVersion"] == MODEL
    assert out["candidates"][0]["content"]["parts"][1]["text"] == "".join(TEXT_PIECES)
    assert int(r.headers["content-length"]) == len(r.content)

    load, generate = code_assist.requests
    assert load.path == "/v1internal:loadCodeAssist"
    assert (generate.path, generate.query) == ("/v1internal:generateContent", "")
    assert generate.headers["authorization"] == "Bearer at-google" and h.key not in str(generate.headers)
    assert (generate.json["model"], generate.json["project"], generate.json["request"]) == (MODEL, PROJECT, BODY)

    [rec] = await h.records()
    assert tokens(rec) == RECORDED
    assert (rec.platform, rec.endpoint, rec.model, rec.stream, rec.status) == (
        "gemini", "generateContent", MODEL, False, 200)


@pytest.mark.parametrize("sse", [True, False], ids=["alt=sse", "json-array"])
async def test_stream_native_in_and_out(h: Harness, code_assist: FakeCodeAssist, sse: bool):
    target = url("streamGenerateContent") + ("?alt=sse" if sse else "")
    async with h.http.stream("POST", target, json=BODY, headers={"x-goog-api-key": h.key}) as r:
        assert r.status_code == 200
        raw = b"".join([chunk async for chunk in r.aiter_raw()])
    if sse:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(e[6:]) for e in raw.split(b"\r\n\r\n") if e]
    else:
        assert r.headers["content-type"].startswith("application/json")
        events = json.loads(raw)
    assert events == stream_chunks(MODEL)

    [stream] = code_assist.of("streamGenerateContent")
    assert stream.query == "alt=sse" and stream.json["project"] == PROJECT
    [rec] = await h.records()
    assert tokens(rec) == RECORDED
    assert (rec.endpoint, rec.stream, rec.status, rec.model) == ("streamGenerateContent", True, 200, MODEL)


async def test_count_tokens(h: Harness, code_assist: FakeCodeAssist):
    r = await h.http.post(url("countTokens"), json={"contents": BODY["contents"]}, headers={"x-goog-api-key": h.key})
    assert r.status_code == 200 and r.json() == {"totalTokens": words(BODY["contents"])}
    [count] = code_assist.requests
    assert count.json == {"request": {"model": f"models/{MODEL}", "contents": BODY["contents"]}}


async def test_chat_through_a_gemini_oauth_account(h: Harness, code_assist: FakeCodeAssist):
    r = await h.http.post("/gemini/v1/chat", json=CHAT, headers={"authorization": f"Bearer {h.key}"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["object"] == "chat.completion" and out["id"] == "chatcmpl-resp_fake"
    assert out["choices"][0]["message"]["content"] == "".join(TEXT_PIECES)
    assert out["usage"]["completion_tokens"] == 12
    [generate] = code_assist.of("generateContent")
    assert generate.json["request"]["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert generate.json["request"]["generationConfig"] == {"maxOutputTokens": 50}

    async with h.http.stream("POST", "/gemini/v1/chat", json={**CHAT, "stream": True},
                             headers={"authorization": f"Bearer {h.key}"}) as r:
        assert r.status_code == 200
        raw = b"".join([chunk async for chunk in r.aiter_raw()])
    lines = [line[6:] for line in raw.split(b"\n\n") if line]
    assert lines[-1] == b"[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "".join(
        TEXT_PIECES)
    [stream] = code_assist.of("streamGenerateContent")
    assert stream.query == "alt=sse"
    chat, chat_stream = await h.records()
    assert tokens(chat) == RECORDED and tokens(chat_stream) == RECORDED
    assert (chat_stream.endpoint, chat_stream.stream) == ("chat", True)
    assert len(code_assist.of("loadCodeAssist")) == 1


async def test_upstream_error_relayed_in_google_shape(h: Harness, code_assist: FakeCodeAssist):
    r = await h.http.post("/gemini/v1beta/models/fail-429:generateContent", json=BODY,
                          headers={"x-goog-api-key": h.key})
    assert r.status_code == 429 and r.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    [rec] = await h.records()
    assert rec.status == 429
