"""Key quotas through the whole gateway: rpm, concurrency, daily tokens, cost budgets.

Runs on in-memory state and, with AIPROXY_TEST_REDIS_URL, on Redis; the rpm
and concurrency tests run two gateway instances sharing one state, as two
workers (or hosts) sharing one Redis would.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, AsyncIterator

import anyio
import httpx
import pytest

from aiproxy.state import SharedState
from aiproxy.stores.entities import ApiKey
from tests.fakes.anthropic_upstream import USAGE, stream_events
from tests.harness import Harness, start_harness

pytestmark = pytest.mark.anyio

BODY = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
# What one request of the fake costs and counts: claude-sonnet-4-5 at $3 in,
# $15 out, $3.75 cache write (5m), $0.30 cache read per million tokens.
TOKENS = USAGE["input_tokens"] + USAGE["output_tokens"] + USAGE["cache_creation_input_tokens"] + USAGE[
    "cache_read_input_tokens"]
COST = (USAGE["input_tokens"] * 3 + USAGE["output_tokens"] * 15 + USAGE["cache_creation_input_tokens"] * 3.75
        + USAGE["cache_read_input_tokens"] * 0.30) / 1e6


class Upstream:
    """A fake Anthropic API: answers after `delay`; a stream may stall after its first event."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.stall = False
        self.in_flight = 0
        self.max_in_flight = 0
        self.stream_closed = anyio.Event()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await anyio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        if body.get("stream"):
            return httpx.Response(200, content=self._events(body["model"]),
                                  headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json={"type": "message", "model": body["model"], "usage": USAGE,
                                         "content": [{"type": "text", "text": "hi"}]})

    async def _events(self, model: str) -> AsyncIterator[bytes]:
        try:
            for i, event in enumerate(stream_events(model)):
                if self.stall and i >= 1:
                    await anyio.sleep_forever()
                yield event
        finally:
            self.stream_closed.set()


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


@pytest.fixture
async def gw(upstream: Upstream, state: SharedState) -> AsyncIterator[Harness]:
    async with start_harness(httpx.MockTransport(upstream.handle), state=state) as h:
        yield h


@contextlib.asynccontextmanager
async def two_instances(
    upstream: Upstream, state: SharedState, **quotas: Any
) -> AsyncIterator[tuple[str, Harness, Harness]]:
    """Two gateways on one shared state, each with the same key (same id, as on one database)."""
    async with start_harness(httpx.MockTransport(upstream.handle), state=state) as a:
        async with start_harness(httpx.MockTransport(upstream.handle), state=state) as b:
            plain, key_a = await a.add_key(**quotas)
            # The same key in b's store: its hash is what the request path looks up.
            key_b = await b.stores.keys.create(ApiKey(user_id=b.user.id, name="test key", key_hash=key_a.key_hash,
                                                      key_prefix=key_a.key_prefix, **quotas))
            assert key_a.id == key_b.id
            yield plain, a, b


async def ask(h: Harness, key: str, body: dict | None = None) -> httpx.Response:
    return await h.http.post("/claude/v1/messages", json=body or BODY, headers={"x-api-key": key})


def assert_anthropic_429(r: httpx.Response, words: str) -> None:
    assert r.status_code == 429, r.text
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error", body
    assert words in body["error"]["message"], body


async def test_rpm_n_pass_and_the_next_is_refused_across_instances(upstream: Upstream, state: SharedState) -> None:
    async with two_instances(upstream, state, rpm_limit=3) as (key, a, b):
        statuses = [(await ask(h, key)).status_code for h in (a, b, a)]
        assert statuses == [200, 200, 200]
        r = await ask(b, key)
        assert_anthropic_429(r, "3 requests per minute")
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert r.headers.get("x-should-retry") != "false"
        assert len(await a.records()) + len(await b.records()) == 3  # the refused one never reached the routes


async def test_concurrency_is_held_across_instances_and_released(upstream: Upstream, state: SharedState) -> None:
    upstream.delay = 1.0
    async with two_instances(upstream, state, max_concurrency=2) as (key, a, b):
        results: list[int] = []

        async def one(h: Harness) -> None:
            results.append((await ask(h, key)).status_code)

        async with anyio.create_task_group() as tg:
            tg.start_soon(one, a)
            tg.start_soon(one, b)
            await anyio.sleep(0.2)  # both hold their slots now
            tg.start_soon(one, a)
            tg.start_soon(one, b)
        assert sorted(results) == [200, 200, 429, 429]
        assert upstream.max_in_flight == 2
        [key_row] = [k for k in await a.stores.keys.list() if k.max_concurrency == 2]
        assert await state.held(f"key:{key_row.id}") == 0
        upstream.delay = 0
        assert (await ask(b, key)).status_code == 200


async def test_concurrency_refusal_in_openai_shape(gw: Harness) -> None:
    key, _ = await gw.add_key(max_concurrency=0)
    r = await gw.http.post("/openai/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 429, r.text
    body = r.json()
    assert "type" not in body and "concurrent" in body["error"]["message"], body


async def test_slot_released_after_a_stream_ends(gw: Harness, state: SharedState) -> None:
    key, row = await gw.add_key(max_concurrency=1)
    for _ in range(2):
        async with gw.http.stream("POST", "/claude/v1/messages", json={**BODY, "stream": True},
                                  headers={"x-api-key": key}) as r:
            assert r.status_code == 200
            body = b"".join([chunk async for chunk in r.aiter_raw()])
        assert body == b"".join(stream_events("claude-sonnet-4-5"))
        assert await state.held(f"key:{row.id}") == 0
    [first, second] = await gw.records()
    assert first.stream and (first.input_tokens, first.output_tokens) == (12, 7)


async def test_slot_released_after_a_client_disconnect(gw: Harness, upstream: Upstream, state: SharedState) -> None:
    key, row = await gw.add_key(max_concurrency=1)
    upstream.stall = True
    first_body = anyio.Event()
    sent: list[dict] = []
    request = json.dumps({**BODY, "stream": True}).encode()
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/claude/v1/messages", "raw_path": b"/claude/v1/messages", "query_string": b"", "root_path": "",
        "headers": [(b"x-api-key", key.encode()), (b"content-type", b"application/json"),
                    (b"host", b"gateway.test")],
        "client": ("127.0.0.1", 1), "server": ("gateway.test", 80),
    }
    messages = [{"type": "http.request", "body": request, "more_body": False}]

    async def receive() -> dict:
        if messages:
            return messages.pop(0)
        await first_body.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and message.get("body"):
            first_body.set()

    with anyio.fail_after(5):
        await gw.app(scope, receive, send)
        await upstream.stream_closed.wait()
    assert sent[0]["status"] == 200
    assert await state.held(f"key:{row.id}") == 0
    r = await ask(gw, key)
    assert r.status_code == 200, r.text


async def test_daily_tokens_stop_once_spent(gw: Harness) -> None:
    key, _ = await gw.add_key(daily_token_limit=2 * TOKENS)
    assert (await ask(gw, key)).status_code == 200
    assert (await ask(gw, key)).status_code == 200  # exactly at the limit after this one
    r = await ask(gw, key)
    assert_anthropic_429(r, f"daily token budget of this key ({2 * TOKENS} tokens) is spent")
    assert "00:00 UTC" in r.json()["error"]["message"]
    assert 1 <= int(r.headers["retry-after"]) <= 86_400
    assert len(await gw.records()) == 2


async def test_one_token_under_the_limit_still_passes(gw: Harness) -> None:
    key, _ = await gw.add_key(daily_token_limit=2 * TOKENS + 1)
    assert [(await ask(gw, key)).status_code for _ in range(3)] == [200, 200, 200]
    assert_anthropic_429(await ask(gw, key), "daily token budget")


@pytest.mark.parametrize(("field", "words", "resets"), [
    ("daily_cost_limit", "daily cost budget", "resets at 00:00 UTC"),
    ("weekly_cost_limit", "weekly cost budget", "resets on Monday 00:00 UTC"),
    ("total_cost_limit", "total cost budget", "does not reset"),
])
async def test_cost_budgets_stop_exactly_once_spent(gw: Harness, field: str, words: str, resets: str) -> None:
    # A limit just under two requests' cost: the second request crosses it, the third is refused.
    key, _ = await gw.add_key(**{field: COST * 1.5})
    assert [(await ask(gw, key)).status_code for _ in range(2)] == [200, 200]
    records = await gw.records()
    assert [round(r.cost_usd, 9) for r in records] == [round(COST, 9)] * 2
    r = await ask(gw, key)
    assert_anthropic_429(r, words)
    assert resets in r.json()["error"]["message"]
    assert ("retry-after" in r.headers) == (field != "total_cost_limit")
    # Other keys are not affected.
    assert (await ask(gw, gw.key)).status_code == 200


async def test_cost_budget_refusal_in_openai_shape(gw: Harness) -> None:
    key, _ = await gw.add_key(daily_cost_limit=0)
    r = await gw.http.post("/openai/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 429, r.text
    body = r.json()
    assert "type" not in body and "daily cost budget" in body["error"]["message"], body


# --- while Redis is unreachable (a private redis-server, killed) ---------------

from tests.state.private_redis import REDIS_SERVER, SKIP_REASON, PrivateRedis  # noqa: E402

needs_redis_server = pytest.mark.skipif(REDIS_SERVER is None, reason=SKIP_REASON)

# Each caller's route and how its key is sent; what a 503 looks like in its API.
CALLERS = [
    ("anthropic", "/claude/v1/messages", BODY, "x-api-key", ""),
    ("openai", "/openai/v1/chat/completions", CHAT, "authorization", "Bearer "),
    ("openai-responses", "/v1/responses", {"model": "gpt-4o", "input": "hi"}, "authorization", "Bearer "),
    ("gemini-chat", "/gemini/v1/chat", CHAT, "authorization", "Bearer "),
    ("gemini", "/gemini/v1beta/models/gemini-2.5-flash:generateContent",
     {"contents": [{"parts": [{"text": "hi"}]}]}, "x-goog-api-key", ""),
]


def assert_503_in_shape(caller: str, r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert int(r.headers["retry-after"]) >= 1
    body = r.json()
    if caller == "anthropic":
        assert body["type"] == "error" and body["error"]["type"] == "overloaded_error", body
        message = body["error"]["message"]
    elif caller == "gemini":
        assert body["error"]["code"] == 503 and body["error"]["status"] == "UNAVAILABLE", body
        message = body["error"]["message"]
    else:  # OpenAI's shape: the Responses API and Gemini's OpenAI-compatible chat too
        assert "type" not in body and body["error"]["type"] in ("server_error", "service_unavailable"), body
        message = body["error"]["message"]
    assert "quotas cannot be checked" in message, body


@contextlib.asynccontextmanager
async def gateway_on_private_redis(upstream: Upstream, mode: str) -> AsyncIterator[tuple[Harness, PrivateRedis]]:
    from aiproxy.state import state_from_url

    with PrivateRedis() as server:
        state = state_from_url(server.url, timeout=0.3, cooldown=30)
        try:
            async with start_harness(httpx.MockTransport(upstream.handle), state=state,
                                     redis_failure_mode=mode) as h:
                yield h, server
        finally:
            await state.aclose()


@needs_redis_server
@pytest.mark.parametrize(("caller", "path", "body", "header", "scheme"), CALLERS, ids=[c[0] for c in CALLERS])
async def test_closed_mode_refuses_quota_limited_keys_in_the_callers_shape(
    upstream: Upstream, caller: str, path: str, body: dict, header: str, scheme: str
) -> None:
    async with gateway_on_private_redis(upstream, "closed") as (h, server):
        limited, _ = await h.add_key(rpm_limit=100)
        r = await h.http.post(path, json=body, headers={header: scheme + limited})
        # Redis answers: past the quota checks (to an account, or "no account" where the harness has none).
        assert "quotas cannot be checked" not in r.text, r.text
        server.kill()
        r = await h.http.post(path, json=body, headers={header: scheme + limited})
        assert_503_in_shape(caller, r)


@needs_redis_server
@pytest.mark.parametrize("quota", [{"rpm_limit": 100}, {"max_concurrency": 4}, {"daily_token_limit": 10**6},
                                   {"daily_cost_limit": 5.0}, {"weekly_cost_limit": 5.0}, {"total_cost_limit": 5.0}],
                         ids=lambda q: next(iter(q)))
async def test_closed_mode_refuses_every_kind_of_quota_and_serves_keys_without(
    upstream: Upstream, quota: dict[str, Any]
) -> None:
    async with gateway_on_private_redis(upstream, "closed") as (h, server):
        limited, row = await h.add_key(**quota)
        server.kill()
        assert_503_in_shape("anthropic", await ask(h, limited))
        assert (await ask(h, h.key)).status_code == 200  # no quotas: served on process-local state
        if "max_concurrency" in quota:
            assert await h.app.state.gateway.state.fallback.held(f"key:{row.id}") == 0  # nothing taken


@needs_redis_server
async def test_open_mode_serves_quota_limited_keys_per_process(upstream: Upstream) -> None:
    async with gateway_on_private_redis(upstream, "open") as (h, server):
        limited, _ = await h.add_key(rpm_limit=2, max_concurrency=1)
        assert (await ask(h, limited)).status_code == 200
        assert (await h.http.get("/health")).json() | {"accounts": 0} == {"status": "ok", "state": "redis",
                                                                          "accounts": 0}
        server.kill()
        # Counted in this process from the outage on: 2 more pass, the 3rd is refused.
        assert [(await ask(h, limited)).status_code for _ in range(3)] == [200, 200, 429]
        assert (await ask(h, h.key)).status_code == 200
        # Every request that reached the routes has its record, outage or not.
        assert len(await h.records()) == 4
        health = (await h.http.get("/health")).json()
        assert health["status"] == "degraded" and health["state"] == "degraded", health
        assert "Redis unreachable" in health["state_reason"]
