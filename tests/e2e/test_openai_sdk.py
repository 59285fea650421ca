"""End to end: the official openai SDK against a real uvicorn gateway, the fake OpenAI upstream on its own server.

The gateway runs on in-memory stores seeded directly (an OpenAI account, a key).
"""

from __future__ import annotations

import time
from typing import AsyncIterator

import anyio
import openai
import pytest

from aiproxy import MemoryStores, create_app
from aiproxy.security.api_keys import generate_api_key, hash_api_key
from aiproxy.security.cipher import CredentialCipher
from aiproxy.settings import UpstreamURLs
from aiproxy.stores.entities import Account, ApiKey, UsageRecord
from tests.fakes.openai_upstream import FakeOpenAI, Seen
from tests.harness import ENCRYPTION_KEY, gateway_settings, seed_user
from tests.servers import running

pytestmark = pytest.mark.anyio

UPSTREAM_KEY = "sk-proj-e2e-upstream-key"
MESSAGES = [{"role": "user", "content": "hi"}]
# The fake's usage, normalised: (input, output, cache_read)
CHAT_TOKENS = (20, 7, 10)
RESPONSES_TOKENS = (24, 9, 16)


class Gateway:
    def __init__(self, url: str, key: str, stores: MemoryStores, fake: FakeOpenAI) -> None:
        self.url = url
        self.key = key
        self.stores = stores
        self.fake = fake

    def client(self, base: str = "/openai/v1") -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(api_key=self.key, base_url=self.url + base, max_retries=0)

    async def records(self, count: int) -> list[UsageRecord]:
        # Records are written by the gateway's batch writer, on the server's thread.
        deadline = time.monotonic() + 10
        while len(self.stores.usage.records) < count and time.monotonic() < deadline:
            await anyio.sleep(0.02)
        return list(self.stores.usage.records)

    def last_seen(self) -> Seen:
        return self.fake.requests[-1]


@pytest.fixture
async def gw(anyio_backend: str) -> AsyncIterator[Gateway]:
    fake = FakeOpenAI()
    stores = MemoryStores()
    user = await seed_user(stores)
    key = generate_api_key()
    await stores.keys.create(ApiKey(user_id=user.id, name="k", key_hash=hash_api_key(key), key_prefix=key[:8]))
    await stores.accounts.create(Account(name="oa", platform="openai", type="openai", credentials=CredentialCipher(
        ENCRYPTION_KEY).encrypt({"api_key": UPSTREAM_KEY})))
    with running(fake.app()) as upstream:
        # The account gives no base URL: the settings' default (the fake) is used.
        app = create_app(stores, gateway_settings(upstream=UpstreamURLs(anthropic=upstream, openai=upstream)))
        with running(app) as url:
            yield Gateway(url, key, stores, fake)


def usage_of(record: UsageRecord) -> tuple[int, int, int]:
    return record.input_tokens, record.output_tokens, record.cache_read_tokens


def assert_upstream_saw_account_key(gw: Gateway) -> None:
    for seen in gw.fake.requests:
        assert seen.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
        assert gw.key not in str(seen.headers)
        assert seen.headers["user-agent"].startswith("AsyncOpenAI/Python")


async def test_chat_completions(gw: Gateway):
    async with gw.client() as client:
        completion = await client.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    assert completion.choices[0].message.content == "Hello, world!"
    assert completion.usage is not None and completion.usage.prompt_tokens_details.cached_tokens == 10
    seen = gw.last_seen()
    assert seen.path == "/v1/chat/completions" and seen.json == {"model": "gpt-4.1", "messages": MESSAGES}
    assert_upstream_saw_account_key(gw)
    [record] = await gw.records(1)
    assert usage_of(record) == CHAT_TOKENS and record.endpoint == "chat_completions" and record.stream is False


async def test_chat_stream_without_include_usage_shows_no_usage_chunk(gw: Gateway):
    async with gw.client() as client:
        stream = await client.chat.completions.create(model="gpt-4.1", messages=MESSAGES, stream=True)
        chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello, world!"
    assert all(c.choices for c in chunks)  # no choices-less usage chunk reached the client
    assert all(getattr(c, "usage", None) is None for c in chunks)
    assert gw.last_seen().json["stream_options"] == {"include_usage": True}
    [record] = await gw.records(1)
    assert usage_of(record) == CHAT_TOKENS and record.stream is True and record.status == 200


async def test_chat_stream_with_include_usage_shows_it(gw: Gateway):
    async with gw.client() as client:
        stream = await client.chat.completions.create(
            model="gpt-4.1", messages=MESSAGES, stream=True, stream_options={"include_usage": True})
        chunks = [chunk async for chunk in stream]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (30, 7)
    assert gw.last_seen().json["stream_options"] == {"include_usage": True}
    [record] = await gw.records(1)
    assert usage_of(record) == CHAT_TOKENS


async def test_responses_create(gw: Gateway):
    async with gw.client() as client:
        response = await client.responses.create(model="gpt-5", input="hi")
    assert response.output_text == "Hello, world!"
    assert response.usage is not None and response.usage.input_tokens == 40
    seen = gw.last_seen()
    assert seen.path == "/v1/responses" and seen.json == {"model": "gpt-5", "input": "hi"}
    assert_upstream_saw_account_key(gw)
    [record] = await gw.records(1)
    assert usage_of(record) == RESPONSES_TOKENS and record.endpoint == "responses"


@pytest.mark.parametrize("base", ["/openai/v1", "", "/v1"])
async def test_responses_stream(gw: Gateway, base: str):
    # "" and "/v1" are where Codex CLI goes when its base_url is the bare host (or host/v1).
    async with gw.client(base) as client:
        async with client.responses.stream(model="gpt-5", input="hi") as stream:
            deltas = [event.delta async for event in stream if event.type == "response.output_text.delta"]
            final = await stream.get_final_response()
    assert "".join(deltas) == "Hello, world!"
    assert final.output_text == "Hello, world!" and final.usage is not None and final.usage.output_tokens == 9
    seen = gw.last_seen()
    assert seen.path == "/v1/responses" and seen.json["stream"] is True
    assert_upstream_saw_account_key(gw)
    [record] = await gw.records(1)
    assert usage_of(record) == RESPONSES_TOKENS and record.stream is True and record.platform == "openai"


async def test_sdk_raises_its_usual_errors(gw: Gateway):
    async with openai.AsyncOpenAI(api_key="ap-wrong", base_url=gw.url + "/openai/v1", max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
    async with gw.client() as client:
        with pytest.raises(openai.RateLimitError) as limited:
            await client.responses.create(model="fail-429", input="hi")
    assert limited.value.body["message"] == "fake 429" and limited.value.status_code == 429
