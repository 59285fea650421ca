"""/claude served by a Bedrock account: the anthropic SDK through the gateway to a fake Bedrock
runtime speaking the binary event stream; what the client got and what was recorded."""

from __future__ import annotations

import json
from typing import AsyncIterator

import anthropic
import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

pytest.importorskip("botocore")

from aiproxy.formats.sse import SSEParser  # noqa: E402
from aiproxy.settings import UpstreamURLs  # noqa: E402
from tests.fakes.bedrock_upstream import USAGE, FakeBedrock, stream_events  # noqa: E402
from tests.harness import UPSTREAM, Harness, start_harness  # noqa: E402

pytestmark = pytest.mark.anyio

BODY = {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
AWS = {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "secret/EXAMPLE+key"}
HAIKU_PATH = "/model/anthropic.claude-haiku-4-5-20251001-v1:0"
FULL = (USAGE["input_tokens"], USAGE["output_tokens"],
        USAGE["cache_creation_input_tokens"], USAGE["cache_read_input_tokens"])


@pytest.fixture
def fake_bedrock() -> FakeBedrock:
    return FakeBedrock()


@pytest.fixture
async def harness(fake_bedrock: FakeBedrock, anyio_backend: str) -> AsyncIterator[Harness]:
    upstream = UpstreamURLs(anthropic=UPSTREAM, bedrock="http://bedrock.test/{region}")
    # The fake under /us-east-1, where the endpoint template puts the account's region.
    fake = Starlette(routes=[Mount("/us-east-1", app=fake_bedrock.app())])
    async with start_harness(httpx.ASGITransport(app=fake), upstream=upstream) as h:
        # Before the seeded claude-console account, which this fake cannot serve.
        # Only Bedrock serves here: the seeded claude-console account (which this
        # fake cannot serve) is disabled, so failover has nowhere else to go.
        for seeded in await h.stores.accounts.list():
            seeded.enabled = False
            await h.stores.accounts.update(seeded)
        await h.add_account(AWS, name="bedrock-1", type="bedrock", priority=1,
                            options={"region": "us-east-1", "model_ids": {"fail-403": "fail-403",
                                                                          "fail-429": "fail-429",
                                                                          "metrics-only": "metrics-only",
                                                                          "throttle": "throttle-mid-stream"}})
        yield h


@pytest.fixture
async def client(harness: Harness) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """The anthropic SDK, talking to the gateway in process (the SDK speaks httpx2)."""
    import httpx2

    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=harness.app)) as http:
        yield anthropic.AsyncAnthropic(api_key=harness.key, base_url="http://gateway.test/claude",
                                       http_client=http, max_retries=0)


def usage(rec) -> tuple[int, int, int, int]:
    return rec.input_tokens, rec.output_tokens, rec.cache_creation_tokens, rec.cache_read_tokens


async def test_sdk_message(client: anthropic.AsyncAnthropic, harness: Harness, fake_bedrock: FakeBedrock):
    message = await client.beta.messages.create(**BODY, betas=["context-1m-2025-08-07"])
    assert message.content[0].text == "Hello, world!"
    assert message.usage.input_tokens == USAGE["input_tokens"]

    [seen] = fake_bedrock.requests
    assert seen.raw_path == f"/us-east-1{HAIKU_PATH}/invoke"
    assert seen.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-east-1/bedrock/aws4_request" in seen.headers["authorization"]
    assert harness.key not in json.dumps(seen.headers)
    assert seen.json == {"max_tokens": 64, "messages": BODY["messages"], "anthropic_version": "bedrock-2023-05-31",
                         "anthropic_beta": ["context-1m-2025-08-07"]}

    [rec] = await harness.records()
    assert usage(rec) == FULL
    assert rec.status == 200 and rec.stream is False and rec.model == "claude-haiku-4-5" and rec.platform == "claude"


async def test_sdk_stream(client: anthropic.AsyncAnthropic, harness: Harness, fake_bedrock: FakeBedrock):
    async with client.messages.stream(**BODY) as stream:
        texts = [t async for t in stream.text_stream]
        final = await stream.get_final_message()
    assert "".join(texts) == "Hello, world!"
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (12, 7)

    [seen] = fake_bedrock.requests
    assert seen.raw_path == f"/us-east-1{HAIKU_PATH}/invoke-with-response-stream"
    assert "stream" not in seen.json and "model" not in seen.json
    [rec] = await harness.records()
    assert usage(rec) == FULL and rec.stream is True and rec.status == 200 and rec.error is None


async def test_client_sees_anthropic_sse(harness: Harness):
    async with harness.http.stream("POST", "/claude/v1/messages", json={**BODY, "stream": True},
                                   headers={"x-api-key": harness.key, "anthropic-version": "2023-06-01"}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        body = b"".join([c async for c in r.aiter_raw()])
    events = [(e.event, json.loads(e.data)) for e in SSEParser().feed(body)]
    assert events == [(e["type"], e) for e in stream_events()]


async def test_usage_from_invocation_metrics(client: anthropic.AsyncAnthropic, harness: Harness):
    async with client.messages.stream(**{**BODY, "model": "metrics-only"}) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (12, 7)
    [rec] = await harness.records()
    assert usage(rec) == FULL


async def test_exception_mid_stream(client: anthropic.AsyncAnthropic, harness: Harness):
    with pytest.raises(anthropic.APIStatusError) as info:
        async with client.messages.stream(**{**BODY, "model": "throttle"}) as stream:
            async for _ in stream:
                pass
    assert "Too many tokens" in str(info.value)
    [rec] = await harness.records()
    assert rec.error and "rate_limit_error" in rec.error and "throttlingException" in rec.error
    assert rec.input_tokens == USAGE["input_tokens"]  # message_start came before the exception


@pytest.mark.parametrize(("model", "status", "error"), [("fail-403", 403, anthropic.PermissionDeniedError),
                                                         ("fail-429", 429, anthropic.RateLimitError)])
async def test_errors(client: anthropic.AsyncAnthropic, harness: Harness, model: str, status: int, error: type):
    [account] = [a for a in await harness.stores.accounts.list() if a.type == "bedrock"]
    for stream in (False, True):
        with pytest.raises(error) as info:
            await client.messages.create(**{**BODY, "model": model}, stream=stream)
        assert info.value.status_code == status
        assert "Bedrock" in info.value.message
        # The fault marked the (only) account: until reset, the pool has nothing to offer.
        with pytest.raises(anthropic.ServiceUnavailableError) as info:
            await client.messages.create(**{**BODY, "model": model}, stream=stream)
        assert "bedrock-1" in info.value.message
        await harness.app.state.gateway.scheduler.reset(account.id)
    records = await harness.records()
    assert [r.status for r in records] == [status, 503, status, 503]


async def test_unknown_model_and_other_endpoints(client: anthropic.AsyncAnthropic, harness: Harness, fake_bedrock: FakeBedrock):
    with pytest.raises(anthropic.BadRequestError) as info:
        await client.messages.create(**{**BODY, "model": "claude-nonexistent"})
    assert "claude-nonexistent" in info.value.message
    with pytest.raises(anthropic.BadRequestError):
        await client.messages.count_tokens(model="claude-haiku-4-5", messages=BODY["messages"])
    models = await client.models.list()
    assert "claude-sonnet-4-5-20250929" in [m.id for m in models.data]
    assert fake_bedrock.requests == []
