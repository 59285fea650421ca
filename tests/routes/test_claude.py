"""/claude against a fake Anthropic upstream: what the upstream saw, what the client got, what was recorded."""

from __future__ import annotations

from datetime import timedelta

import anyio
import httpx
import pytest

from aiproxy.stores.entities import utcnow
from tests.fakes.anthropic_upstream import USAGE, FakeAnthropic, stream_events
from tests.harness import UPSTREAM_KEY, Harness, start_harness

pytestmark = pytest.mark.anyio

BODY = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}


def headers(key: str, **extra: str) -> dict[str, str]:
    return {"x-api-key": key, "anthropic-version": "2023-06-01", **extra}


def assert_anthropic_error(response: httpx.Response, status: int, kind: str, words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == kind
    assert words in body["error"]["message"]


async def test_message_relayed_with_account_key_and_usage_recorded(harness: Harness, fake_anthropic: FakeAnthropic):
    r = await harness.http.post(
        "/claude/v1/messages?beta=true",
        json=BODY,
        headers=headers(harness.key, **{"anthropic-beta": "prompt-caching-2024-07-31,oauth-x", "user-agent": "t/1"}),
    )
    assert r.status_code == 200
    assert r.json()["content"][0]["text"] == "Hello, world!"
    assert r.headers["request-id"] == "req_fake"
    assert r.headers["anthropic-ratelimit-requests-remaining"] == "99"

    [seen] = fake_anthropic.requests
    assert seen.path == "/v1/messages"
    assert seen.query == "beta=true"
    assert seen.headers["x-api-key"] == UPSTREAM_KEY
    assert "authorization" not in seen.headers
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert seen.headers["anthropic-beta"] == "prompt-caching-2024-07-31,oauth-x"
    assert seen.headers["accept-encoding"] == "identity"
    assert seen.json == BODY
    assert harness.key not in str(seen.headers)

    [rec] = await harness.records()
    assert (rec.input_tokens, rec.output_tokens, rec.cache_creation_tokens, rec.cache_read_tokens) == (
        USAGE["input_tokens"], USAGE["output_tokens"],
        USAGE["cache_creation_input_tokens"], USAGE["cache_read_input_tokens"],
    )
    assert rec.status == 200 and rec.stream is False and rec.endpoint == "messages"
    assert rec.model == "claude-sonnet-4-5" and rec.platform == "claude"
    assert rec.user_id == harness.user.id and rec.key_id is not None and rec.account_id is not None
    assert rec.ttfb_ms is not None and rec.duration_ms >= 0


async def test_stream_relayed_byte_for_byte_and_usage_parsed(harness: Harness, fake_anthropic: FakeAnthropic):
    async with harness.http.stream("POST", "/claude/v1/messages", json={**BODY, "stream": True},
                                   headers=headers(harness.key)) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        body = b"".join([chunk async for chunk in r.aiter_raw()])
    assert body == b"".join(stream_events("claude-sonnet-4-5"))
    [rec] = await harness.records()
    assert rec.stream is True and rec.status == 200
    assert (rec.input_tokens, rec.output_tokens, rec.cache_creation_tokens, rec.cache_read_tokens) == (12, 7, 100, 200)


async def test_count_tokens_and_models(harness: Harness, fake_anthropic: FakeAnthropic):
    r = await harness.http.post("/claude/v1/messages/count_tokens", json={"model": "claude-sonnet-4-5", "messages": []},
                                headers=headers(harness.key))
    assert r.json() == {"input_tokens": 42}
    r = await harness.http.get("/claude/v1/models", headers=headers(harness.key))
    assert r.json()["data"][0]["id"] == "claude-sonnet-4-5"
    assert [s.path for s in fake_anthropic.requests] == ["/v1/messages/count_tokens", "/v1/models"]
    assert all(s.headers["x-api-key"] == UPSTREAM_KEY for s in fake_anthropic.requests)
    recs = await harness.records()
    assert [(r.endpoint, r.input_tokens, r.status) for r in recs] == [("count_tokens", 0, 200), ("models", 0, 200)]


@pytest.mark.parametrize("how", ["bearer", "goog", "query"])
async def test_key_accepted_in_every_place(harness: Harness, fake_anthropic: FakeAnthropic, how: str):
    hdrs = {"anthropic-version": "2023-06-01"}
    url = "/claude/v1/messages"
    if how == "bearer":
        hdrs["authorization"] = f"Bearer {harness.key}"
    elif how == "goog":
        hdrs["x-goog-api-key"] = harness.key
    else:
        url += f"?key={harness.key}&beta=true"
    r = await harness.http.post(url, json=BODY, headers=hdrs)
    assert r.status_code == 200, r.text
    [seen] = fake_anthropic.requests
    assert harness.key not in seen.query and harness.key not in str(seen.headers)
    if how == "query":
        assert seen.query == "beta=true"


async def test_missing_and_unknown_key_401(harness: Harness):
    r = await harness.http.post("/claude/v1/messages", json=BODY)
    assert_anthropic_error(r, 401, "authentication_error", "missing API key")
    r = await harness.http.post("/claude/v1/messages", json=BODY, headers=headers("ap-nope"))
    assert_anthropic_error(r, 401, "authentication_error", "invalid API key")


async def test_disabled_and_expired_keys_403(harness: Harness):
    disabled, _ = await harness.add_key(enabled=False)
    expired, _ = await harness.add_key(expires_at=utcnow() - timedelta(seconds=1))
    future, _ = await harness.add_key(expires_at=utcnow() + timedelta(days=1))
    r = await harness.http.post("/claude/v1/messages", json=BODY, headers=headers(disabled))
    assert_anthropic_error(r, 403, "permission_error", "disabled")
    r = await harness.http.post("/claude/v1/messages", json=BODY, headers=headers(expired))
    assert_anthropic_error(r, 403, "permission_error", "expired")
    r = await harness.http.post("/claude/v1/messages", json=BODY, headers=headers(future))
    assert r.status_code == 200


async def test_key_expires_days_after_first_use(harness: Harness):
    plain, key = await harness.add_key(expires_after_days=2)
    before = utcnow()
    r = await harness.http.post("/claude/v1/messages", json=BODY, headers=headers(plain))
    assert r.status_code == 200
    # The first use is stamped off the request path; wait for the write.
    for _ in range(100):
        stored = await harness.stores.keys.get(key.id)
        if stored.first_used_at is not None:
            break
        await anyio.sleep(0.01)
    assert stored.first_used_at is not None and before <= stored.first_used_at <= utcnow()
    first = stored.first_used_at
    r = await harness.http.post("/claude/v1/messages", json=BODY, headers=headers(plain))
    assert r.status_code == 200
    assert (await harness.stores.keys.get(key.id)).first_used_at == first  # stamped once

    # Two days after the first use, a key is refused, in Anthropic's shape.
    used, used_key = await harness.add_key(expires_after_days=2)
    await harness.stores.keys.mark_first_use(used_key.id, utcnow() - timedelta(days=2, seconds=1))
    r = await harness.http.post("/claude/v1/messages", json=BODY, headers=headers(used))
    assert_anthropic_error(r, 403, "permission_error", "2 days after its first use")
    # A few seconds short of it, it still works.
    fresh, fresh_key = await harness.add_key(expires_after_days=2)
    await harness.stores.keys.mark_first_use(fresh_key.id, utcnow() - timedelta(days=2) + timedelta(seconds=5))
    r = await harness.http.post("/claude/v1/messages", json=BODY, headers=headers(fresh))
    assert r.status_code == 200
    # A fixed expiry that comes first wins.
    both, _ = await harness.add_key(expires_after_days=30, expires_at=utcnow() - timedelta(seconds=1))
    r = await harness.http.post("/claude/v1/messages", json=BODY, headers=headers(both))
    assert_anthropic_error(r, 403, "permission_error", "expired")
    assert "first use" not in r.json()["error"]["message"]


async def test_platform_and_model_permissions(harness: Harness):
    openai_only, _ = await harness.add_key(platforms=["openai"])
    r = await harness.http.post("/claude/v1/messages", json=BODY, headers=headers(openai_only))
    assert_anthropic_error(r, 403, "permission_error", "claude platform")
    haiku_only, _ = await harness.add_key(models=["claude-haiku-*"])
    r = await harness.http.post("/claude/v1/messages", json=BODY, headers=headers(haiku_only))
    assert_anthropic_error(r, 403, "permission_error", "claude-sonnet-4-5")
    r = await harness.http.post("/claude/v1/messages", json={**BODY, "model": "claude-haiku-4-5"},
                                headers=headers(haiku_only))
    assert r.status_code == 200


async def test_a_huge_model_name_is_not_echoed_back_whole(harness: Harness):
    huge = "claude-" + "x" * (1 << 20)
    haiku_only, _ = await harness.add_key(models=["claude-haiku-*"])
    r = await harness.http.post("/claude/v1/messages", json={**BODY, "model": huge}, headers=headers(haiku_only))
    assert_anthropic_error(r, 403, "permission_error", "claude-xxx")
    assert len(r.content) < 1000
    for account in await harness.stores.accounts.list():
        account.enabled = False
        await harness.stores.accounts.update(account)
    await harness.app.state.gateway.pool.reload()
    r = await harness.http.post("/claude/v1/messages", json={**BODY, "model": huge}, headers=headers(harness.key))
    assert_anthropic_error(r, 503, "overloaded_error", "no enabled claude account serves model claude-xxx")
    assert len(r.content) < 1000


async def test_malformed_json_400(harness: Harness):
    r = await harness.http.post("/claude/v1/messages", content=b"{nope", headers=headers(harness.key))
    assert_anthropic_error(r, 400, "invalid_request_error", "not valid JSON")
    r = await harness.http.post("/claude/v1/messages", content=b"[1]", headers=headers(harness.key))
    assert_anthropic_error(r, 400, "invalid_request_error", "JSON object")
    r = await harness.http.post("/claude/v1/messages", headers=headers(harness.key))
    assert_anthropic_error(r, 400, "invalid_request_error", "JSON object")


async def test_no_usable_account_503(harness: Harness, fake_anthropic: FakeAnthropic):
    r = await harness.http.post("/claude/v1/messages", json={**BODY, "model": "m"}, headers=headers(harness.key))
    assert r.status_code == 200  # the seeded account serves every model
    for account in await harness.stores.accounts.list():
        account.enabled = False
        await harness.stores.accounts.update(account)
    await harness.app.state.gateway.pool.reload()
    r = await harness.http.post("/claude/v1/messages", json=BODY, headers=headers(harness.key))
    assert_anthropic_error(r, 503, "overloaded_error", "no enabled claude account serves model claude-sonnet-4-5")
    recs = await harness.records()
    assert recs[-1].status == 503 and recs[-1].account_id is None


async def test_account_model_list_limits_what_it_serves(harness: Harness):
    for account in await harness.stores.accounts.list():
        await harness.stores.accounts.delete(account.id)
    await harness.add_account(models=["claude-haiku-4-5"])
    r = await harness.http.post("/claude/v1/messages", json=BODY, headers=headers(harness.key))
    assert r.status_code == 503
    r = await harness.http.post("/claude/v1/messages", json={**BODY, "model": "claude-haiku-4-5"},
                                headers=headers(harness.key))
    assert r.status_code == 200


async def test_upstream_error_passed_through(harness: Harness):
    r = await harness.http.post("/claude/v1/messages", json={**BODY, "model": "fail-429"}, headers=headers(harness.key))
    assert_anthropic_error(r, 429, "api_error", "fake 429")
    assert r.headers["request-id"] == "req_fake"
    [rec] = await harness.records()
    assert rec.status == 429 and "fake 429" in (rec.error or "")


async def test_unknown_path_and_wrong_method(harness: Harness):
    r = await harness.http.get("/claude/v1/nope", headers=headers(harness.key))
    assert_anthropic_error(r, 404, "not_found_error", "/claude/v1/nope")
    r = await harness.http.get("/claude/v1/messages", headers=headers(harness.key))
    assert_anthropic_error(r, 405, "invalid_request_error", "POST")


async def test_upstream_unreachable_502_and_timeout_504(anyio_backend: str):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with start_harness(httpx.MockTransport(refuse)) as h:
        r = await h.http.post("/claude/v1/messages", json=BODY, headers=headers(h.key))
        assert_anthropic_error(r, 502, "api_error", "upstream connection failed")

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with start_harness(httpx.MockTransport(slow)) as h:
        r = await h.http.post("/claude/v1/messages", json=BODY, headers=headers(h.key))
        assert_anthropic_error(r, 504, "api_error", "timed out")
        [rec] = await h.records()
        assert rec.status == 504


async def test_account_base_url_overrides_default(harness: Harness):
    seen: list[httpx.Request] = []

    def capture(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"type": "message", "usage": {"input_tokens": 1, "output_tokens": 2}})

    async with start_harness(httpx.MockTransport(capture)) as h:
        for account in await h.stores.accounts.list():
            account.base_url = "https://relay.example/anthropic/"
            await h.stores.accounts.update(account)
        await h.app.state.gateway.pool.reload()
        r = await h.http.post("/claude/v1/messages?beta=true", json=BODY, headers=headers(h.key))
        assert r.status_code == 200
        assert str(seen[0].url) == "https://relay.example/anthropic/v1/messages?beta=true"
        [rec] = await h.records()
        assert (rec.input_tokens, rec.output_tokens) == (1, 2)


async def test_disabled_owner_disables_their_keys(harness: Harness):
    r = await harness.http.post("/claude/v1/messages", json=BODY, headers=headers(harness.key))
    assert r.status_code == 200
    harness.user.enabled = False
    await harness.stores.users.update(harness.user)
    harness.app.state.gateway.keys.invalidate()  # what the admin API does on this change
    r = await harness.http.post("/claude/v1/messages", json=BODY, headers=headers(harness.key))
    assert_anthropic_error(r, 403, "permission_error", "disabled")


async def test_account_model_mapping_renames_the_model_upstream(harness: Harness, fake_anthropic: FakeAnthropic):
    for account in await harness.stores.accounts.list():
        await harness.stores.accounts.delete(account.id)
    await harness.add_account(model_mapping={"claude-sonnet-4-5": "claude-sonnet-4-5-20250929"})
    raw = b'{"model":"claude-sonnet-4-5",  "max_tokens":64,"messages":[{"role":"user","content":"hi"}]}'
    r = await harness.http.post("/claude/v1/messages", content=raw, headers=headers(harness.key))
    assert r.status_code == 200
    assert fake_anthropic.requests[-1].json == {**BODY, "model": "claude-sonnet-4-5-20250929"}
    # A model the mapping does not name is not served by this account.
    r = await harness.http.post("/claude/v1/messages", json={**BODY, "model": "claude-opus-4-1"},
                                headers=headers(harness.key))
    assert r.status_code == 503
    # The record keeps the model the client asked for.
    records = await harness.records()
    assert records[0].model == "claude-sonnet-4-5"


async def test_unmapped_body_is_forwarded_byte_for_byte(harness: Harness, fake_anthropic: FakeAnthropic):
    raw = b'{"model": "claude-sonnet-4-5",\n "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}'
    r = await harness.http.post("/claude/v1/messages", content=raw, headers=headers(harness.key))
    assert r.status_code == 200
    assert fake_anthropic.requests[-1].body == raw


async def test_upstream_cookies_are_never_sent_on(anyio_backend: str):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"type": "message", "usage": {}},
                              headers={"set-cookie": "__cf_bm=abc; Path=/; Domain=upstream.test"})

    async with start_harness(httpx.MockTransport(handler)) as h:
        first = await h.http.post("/claude/v1/messages", json=BODY, headers=headers(h.key))
        await h.http.post("/claude/v1/messages", json=BODY, headers=headers(h.key, cookie="client=1"))
    assert "set-cookie" not in first.headers
    assert all("cookie" not in r.headers for r in seen)


async def test_final_errors_tell_clients_not_to_retry(harness: Harness):
    r = await harness.http.post("/claude/v1/messages", json=BODY, headers=headers("ap-wrong"))
    assert r.status_code == 401 and r.headers["x-should-retry"] == "false"
    for account in await harness.stores.accounts.list():
        await harness.stores.accounts.delete(account.id)
    await harness.app.state.gateway.pool.reload()
    r = await harness.http.post("/claude/v1/messages", json=BODY, headers=headers(harness.key))
    assert r.status_code == 503 and "x-should-retry" not in r.headers  # a pool may recover
