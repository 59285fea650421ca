"""/claude through a claude-official account: an expiring token is refreshed (once) before the
request goes upstream, the new tokens are stored, and a refused refresh answers in Anthropic's shape."""

from __future__ import annotations

import asyncio
import time
from typing import AsyncIterator

import httpx
import pytest

from aiproxy.security.cipher import CredentialCipher
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.oauth_provider import TOKEN_HOST, FakeTokenEndpoint, HostRouter, oauth_settings
from tests.harness import ENCRYPTION_KEY, Harness, start_harness

pytestmark = pytest.mark.anyio

BODY = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def fake_tokens() -> FakeTokenEndpoint:
    return FakeTokenEndpoint()


@pytest.fixture
async def official(fake_anthropic: FakeAnthropic, fake_tokens: FakeTokenEndpoint,
                   anyio_backend: str) -> AsyncIterator[Harness]:
    transport = HostRouter({TOKEN_HOST: fake_tokens.transport()}, httpx.ASGITransport(app=fake_anthropic.app()))
    async with start_harness(transport, oauth=oauth_settings()) as h:
        # Only the OAuth account serves: the harness's console account goes.
        for account in await h.stores.accounts.list():
            assert account.id is not None
            await h.stores.accounts.delete(account.id)
        yield h


async def add_official(h: Harness, expires_in: float, refresh_token: str = "rt-old") -> int:
    account = await h.add_account(
        {"access_token": "at-old", "refresh_token": refresh_token, "expires_at": int(time.time() + expires_in)},
        name="max-1", type="claude-official")
    assert account.id is not None
    return account.id


def post(h: Harness) -> "asyncio.Future[httpx.Response]":
    return asyncio.ensure_future(h.http.post(
        "/claude/v1/messages", json=BODY,
        headers={"x-api-key": h.key, "anthropic-version": "2023-06-01", "anthropic-beta": "claude-code-20250219"}))


async def test_expiring_token_refreshed_before_the_request(official: Harness, fake_anthropic: FakeAnthropic,
                                                          fake_tokens: FakeTokenEndpoint):
    account_id = await add_official(official, expires_in=60)  # inside the 5-minute skew
    r = await post(official)
    assert r.status_code == 200, r.text

    [refresh] = fake_tokens.refresh_requests
    assert refresh["refresh_token"] == "rt-old"
    [seen] = fake_anthropic.requests
    assert seen.headers["authorization"] == "Bearer at-refresh1"
    assert seen.headers["anthropic-beta"] == "claude-code-20250219,oauth-2025-04-20"
    assert seen.query == "beta=true" and "x-api-key" not in seen.headers

    # Stored encrypted through the app's save callback, and the pool re-read it.
    stored = await official.stores.accounts.get(account_id)
    assert stored is not None
    saved = CredentialCipher(ENCRYPTION_KEY).decrypt(stored.credentials)
    assert (saved["access_token"], saved["refresh_token"]) == ("at-refresh1", "rt-refresh1")
    assert saved["expires_at"] > time.time() + 3600
    [pooled] = official.app.state.gateway.pool.accounts
    assert pooled.credentials["access_token"] == "at-refresh1"

    # The next request uses the stored token as it is.
    assert (await post(official)).status_code == 200
    assert len(fake_tokens.refresh_requests) == 1
    assert fake_anthropic.requests[-1].headers["authorization"] == "Bearer at-refresh1"


async def test_concurrent_requests_share_one_refresh(official: Harness, fake_anthropic: FakeAnthropic,
                                                     fake_tokens: FakeTokenEndpoint):
    await add_official(official, expires_in=10)
    fake_tokens.delay = 0.05
    responses = await asyncio.gather(*[post(official) for _ in range(10)])
    assert [r.status_code for r in responses] == [200] * 10
    assert len(fake_tokens.refresh_requests) == 1
    assert {s.headers["authorization"] for s in fake_anthropic.requests} == {"Bearer at-refresh1"}


async def test_fresh_token_is_not_refreshed(official: Harness, fake_anthropic: FakeAnthropic,
                                            fake_tokens: FakeTokenEndpoint):
    await add_official(official, expires_in=3600)
    assert (await post(official)).status_code == 200
    assert fake_tokens.requests == []
    assert fake_anthropic.requests[0].headers["authorization"] == "Bearer at-old"


async def test_refused_refresh_answers_401_naming_the_account(official: Harness, fake_anthropic: FakeAnthropic,
                                                             fake_tokens: FakeTokenEndpoint):
    account_id = await add_official(official, expires_in=-10)
    fake_tokens.refused_refresh_tokens.add("rt-old")
    r = await post(official)
    assert r.status_code == 401
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
    assert f"'max-1' (id {account_id}) needs re-authorization" in body["error"]["message"]
    assert fake_anthropic.requests == []
    [record] = await official.records()
    assert record.status == 401 and record.account_id == account_id and "re-authorization" in (record.error or "")


@pytest.mark.parametrize("stream", [False, True])
async def test_reply_and_usage_stream_or_not(official: Harness, fake_anthropic: FakeAnthropic, stream: bool):
    from tests.fakes.anthropic_upstream import USAGE, stream_events

    await add_official(official, expires_in=3600)
    r = await official.http.post("/claude/v1/messages", json={**BODY, "stream": stream},
                                 headers={"x-api-key": official.key, "anthropic-version": "2023-06-01"})
    assert r.status_code == 200
    if stream:
        assert r.content == b"".join(stream_events(BODY["model"]))
    else:
        assert r.json()["content"][0]["text"] == "Hello, world!"
    [seen] = fake_anthropic.requests
    assert seen.headers["authorization"] == "Bearer at-old" and seen.headers["anthropic-beta"] == "oauth-2025-04-20"
    [rec] = await official.records()
    assert rec.stream is stream
    assert (rec.input_tokens, rec.output_tokens, rec.cache_creation_tokens, rec.cache_read_tokens) == (
        USAGE["input_tokens"], USAGE["output_tokens"],
        USAGE["cache_creation_input_tokens"], USAGE["cache_read_input_tokens"])
