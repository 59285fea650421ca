"""End to end: real uvicorn servers, the official google-genai SDK, a fake Gemini upstream on its own server.

The gateway runs on MemoryStores seeded directly (a key, a gemini-api account);
the SDK is pointed at `{gateway}/gemini` exactly as the docs tell users to.
"""

from __future__ import annotations

import json
import time
from typing import Iterator

import anyio
import httpx
import pytest
from google import genai
from google.genai import errors, types

from aiproxy import MemoryStores, create_app
from aiproxy.security.api_keys import generate_api_key, hash_api_key
from aiproxy.security.cipher import CredentialCipher
from aiproxy.settings import UpstreamURLs
from aiproxy.stores.entities import Account, ApiKey, UsageRecord
from tests.fakes.gemini_upstream import RECORDED, TEXT_PIECES, FakeGemini, array_pieces
from tests.harness import ENCRYPTION_KEY, gateway_settings, seed_user
from tests.servers import running

pytestmark = pytest.mark.anyio

UPSTREAM_KEY = "AIza-e2e-upstream-key"
MODEL = "gemini-2.5-flash"


class Setup:
    def __init__(self) -> None:
        self.fake = FakeGemini()
        self.stores = MemoryStores()
        self.key = generate_api_key()

    async def seed(self) -> None:
        user = await seed_user(self.stores)
        await self.stores.keys.create(ApiKey(user_id=user.id, name="k", key_hash=hash_api_key(self.key),
                                             key_prefix=self.key[:8]))
        await self.stores.accounts.create(Account(
            name="studio", platform="gemini", type="gemini-api",
            credentials=CredentialCipher(ENCRYPTION_KEY).encrypt({"api_key": UPSTREAM_KEY})))

    async def records(self, count: int) -> list[UsageRecord]:
        deadline = time.monotonic() + 10
        while len(self.stores.usage.records) < count and time.monotonic() < deadline:
            await anyio.sleep(0.05)
        return list(self.stores.usage.records)


@pytest.fixture
async def setup(anyio_backend: str) -> Setup:
    s = Setup()
    await s.seed()
    return s


@pytest.fixture
def gateway(setup: Setup) -> Iterator[str]:
    with running(setup.fake.app()) as upstream:
        app = create_app(setup.stores, gateway_settings(upstream=UpstreamURLs(gemini=upstream)))
        with running(app) as gw:
            yield gw


def sdk(gw: str, key: str, **options: str) -> genai.client.AsyncClient:
    """The async client, as the docs show it: base URL = gateway + /gemini, the gateway key as api_key."""
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=gw + "/gemini", **options)).aio


async def test_genai_sdk_generate_stream_and_count(setup: Setup, gateway: str):
    async with sdk(gateway, setup.key) as client:
        reply = await client.models.generate_content(model=MODEL, contents="hi")
        pieces = [chunk.text or "" async for chunk in await client.models.generate_content_stream(
            model=MODEL, contents="hi")]
        counted = await client.models.count_tokens(model=MODEL, contents="hi")
    assert reply.text == "".join(TEXT_PIECES)
    assert reply.usage_metadata.thoughts_token_count == 5
    assert "".join(pieces) == "".join(TEXT_PIECES)
    assert counted.total_tokens == 1  # the fake counts the words it got: "hi"

    # The SDK's default API version has changed between releases (v1beta, then v1): both are served.
    version = setup.fake.requests[0].path.split("/")[1]
    assert version in ("v1beta", "v1")
    assert [(s.method, s.path, s.query) for s in setup.fake.requests] == [
        ("POST", f"/{version}/models/{MODEL}:generateContent", ""),
        ("POST", f"/{version}/models/{MODEL}:streamGenerateContent", "alt=sse"),
        ("POST", f"/{version}/models/{MODEL}:countTokens", ""),
    ]
    for seen in setup.fake.requests:
        assert seen.headers["x-goog-api-key"] == UPSTREAM_KEY
        assert setup.key not in str(seen.headers) and setup.key not in seen.query
        assert seen.json["contents"][0]["parts"][0]["text"] == "hi"
        assert "google-genai-sdk" in seen.headers.get("x-goog-api-client", "")

    records = await setup.records(3)
    assert [(r.endpoint, r.stream, r.status, r.model) for r in records] == [
        ("generateContent", False, 200, MODEL), ("streamGenerateContent", True, 200, MODEL),
        ("countTokens", False, 200, MODEL)]
    for rec in records[:2]:
        assert {name: getattr(rec, name) for name in RECORDED} == RECORDED


@pytest.mark.parametrize("version", ["v1beta", "v1"])
async def test_genai_sdk_on_each_api_version(setup: Setup, gateway: str, version: str):
    async with sdk(gateway, setup.key, api_version=version) as client:
        pieces = [chunk.text or "" async for chunk in await client.models.generate_content_stream(
            model=MODEL, contents="hi")]
    assert "".join(pieces) == "".join(TEXT_PIECES)
    assert setup.fake.requests[-1].path == f"/{version}/models/{MODEL}:streamGenerateContent"
    [rec] = await setup.records(1)
    assert {name: getattr(rec, name) for name in RECORDED} == RECORDED


async def test_genai_sdk_sees_errors_in_google_shape(setup: Setup, gateway: str):
    async with sdk(gateway, "ap-wrong") as client:
        with pytest.raises(errors.ClientError) as caught:
            await client.models.generate_content(model=MODEL, contents="hi")
    assert caught.value.code == 401 and caught.value.status == "UNAUTHENTICATED"
    async with sdk(gateway, setup.key) as client:
        with pytest.raises(errors.ClientError) as caught:
            await client.models.generate_content(model="fail-429", contents="hi")
    assert caught.value.code == 429 and caught.value.status == "RESOURCE_EXHAUSTED"
    assert caught.value.message == "fake 429"


async def test_chat_over_http(setup: Setup, gateway: str):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(base_url=gateway, headers={"authorization": f"Bearer {setup.key}"}) as http:
        r = await http.post("/gemini/v1/chat", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"] == "".join(TEXT_PIECES)
        assert r.json()["usage"]["total_tokens"] == 132

        async with http.stream("POST", "/gemini/v1/chat", json={**body, "stream": True}) as r:
            assert r.status_code == 200
            lines = [line async for line in r.aiter_lines() if line]
        assert lines[-1] == "data: [DONE]"
        chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
        assert all(c["object"] == "chat.completion.chunk" for c in chunks)
        assert "".join(c["delta"].get("content", "") for chunk in chunks for c in chunk["choices"]) == "".join(
            TEXT_PIECES)

    assert [(s.path, s.query) for s in setup.fake.requests] == [
        (f"/v1beta/models/{MODEL}:generateContent", ""),
        (f"/v1beta/models/{MODEL}:streamGenerateContent", "alt=sse"),
    ]
    records = await setup.records(2)
    assert [(r.endpoint, r.stream) for r in records] == [("chat", False), ("chat", True)]
    for rec in records:
        assert {name: getattr(rec, name) for name in RECORDED} == RECORDED


async def test_json_array_stream_over_http(setup: Setup, gateway: str):
    # What a REST caller without alt=sse gets: Google's JSON array, relayed as it arrives.
    target = f"/gemini/v1beta/models/{MODEL}:streamGenerateContent?key={setup.key}"
    async with httpx.AsyncClient(base_url=gateway) as http:
        async with http.stream("POST", target, json={"contents": [{"parts": [{"text": "hi"}]}]}) as r:
            assert r.status_code == 200
            body = b"".join([chunk async for chunk in r.aiter_bytes()])
    assert body == b"".join(array_pieces(MODEL))
    assert setup.fake.requests[0].query == "" and setup.fake.requests[0].headers["x-goog-api-key"] == UPSTREAM_KEY
    [rec] = await setup.records(1)
    assert rec.stream is True and {name: getattr(rec, name) for name in RECORDED} == RECORDED
