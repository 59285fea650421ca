"""The account pool under traffic: failover per fault class, account states set from the
upstream's headers and lapsing, no retry once a stream began, the 503 when the pool is
exhausted, sticky conversations, the spread over a tier, and max_concurrency held exactly.

Each account has its own fake upstream host (http://acct-N.test); `Upstreams` decides per
host how it answers. Runs on in-memory state and, with AIPROXY_TEST_REDIS_URL, on Redis.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any, AsyncIterator, Callable

import anyio
import httpx
import pytest

from aiproxy.state import SharedState
from aiproxy.stores.entities import Account
from tests.fakes.anthropic_upstream import USAGE, stream_events
from tests.harness import Harness, start_harness

pytestmark = pytest.mark.anyio

BODY = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}

Answer = Callable[[httpx.Request], httpx.Response]


def ok_message(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    if body.get("stream"):
        return httpx.Response(200, content=b"".join(stream_events(body["model"])),
                              headers={"content-type": "text/event-stream"})
    return httpx.Response(200, json={"type": "message", "model": body["model"], "usage": USAGE,
                                     "content": [{"type": "text", "text": "hi"}]})


def error(status: int, headers: dict[str, str] | None = None, kind: str = "api_error") -> Answer:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"type": "error", "error": {"type": kind, "message": f"fake {status}"}},
                              headers=headers)
    return answer


def raises(exc: type[httpx.HTTPError]) -> Answer:
    def answer(request: httpx.Request) -> httpx.Response:
        raise exc("fake transport failure", request=request)
    return answer


class Upstreams:
    """One fake upstream per account host; records which host each request reached."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self.hits: list[str] = []
        self.delay = 0.0
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.hits.append(host)
        self.in_flight[host] += 1
        self.max_in_flight[host] = max(self.max_in_flight[host], self.in_flight[host])
        try:
            if self.delay:
                await anyio.sleep(self.delay)
            return self.answers.get(host, ok_message)(request)
        finally:
            self.in_flight[host] -= 1


@pytest.fixture
def upstreams() -> Upstreams:
    return Upstreams()


@pytest.fixture
async def gw(upstreams: Upstreams, state: SharedState) -> AsyncIterator[Harness]:
    async with start_harness(httpx.MockTransport(upstreams.handle), state=state, seed_account=False) as h:
        yield h


async def add(h: Harness, n: int, **fields: Any) -> Account:
    return await h.add_account(name=f"acct-{n}", base_url=f"http://acct-{n}.test", **fields)


async def ask(h: Harness, body: dict | None = None, path: str = "/claude/v1/messages",
              **headers: str) -> httpx.Response:
    return await h.http.post(path, json=body or BODY, headers={"x-api-key": h.key, **headers})


async def health(h: Harness, account: Account) -> Any:
    return (await h.app.state.gateway.scheduler.status([account.id]))[account.id]


@pytest.mark.parametrize(("answer", "state_name"), [
    (error(429, {"retry-after": "120"}, "rate_limit_error"), "rate_limited"),
    (error(529, kind="overloaded_error"), "overloaded"),
    (error(500), "error"),
    (raises(httpx.ReadTimeout), "error"),
    (raises(httpx.ConnectError), "error"),
    (error(401, kind="authentication_error"), "error"),
])
async def test_fault_moves_the_request_to_the_next_account(gw: Harness, upstreams: Upstreams,
                                                           answer: Answer, state_name: str):
    first = await add(gw, 1, priority=1)
    await add(gw, 2, priority=2)
    upstreams.answers["acct-1.test"] = answer
    r = await ask(gw)
    assert r.status_code == 200
    assert upstreams.hits == ["acct-1.test", "acct-2.test"]
    status = await health(gw, first)
    assert status.state == state_name and status.reason and status.last_error
    # While marked, the account is not tried at all.
    await ask(gw)
    assert upstreams.hits[-1] == "acct-2.test" and upstreams.hits.count("acct-1.test") == 1
    [_, rec, _] = [None, *await gw.records()][:3]
    assert rec.account_id is not None and rec.status == 200


async def test_rate_limit_until_comes_from_the_headers_and_lapses(gw: Harness, upstreams: Upstreams):
    first = await add(gw, 1, priority=1)
    await add(gw, 2, priority=2)
    reset = int(time.time()) + 2
    upstreams.answers["acct-1.test"] = error(429, {"anthropic-ratelimit-unified-reset": str(reset)})
    assert (await ask(gw)).status_code == 200
    status = await health(gw, first)
    assert status.state == "rate_limited" and status.until == pytest.approx(reset, abs=1)
    assert "anthropic-ratelimit-unified-reset" in status.reason
    # Recovered after the reset time: the account serves again, and its mark is gone.
    upstreams.answers.pop("acct-1.test")
    await anyio.sleep(max(reset - time.time(), 0) + 0.3)
    # (A new conversation: the first one is bound to acct-2 now.)
    assert (await ask(gw, {**BODY, "messages": [{"role": "user", "content": "new chat"}]})).status_code == 200
    assert upstreams.hits[-1] == "acct-1.test"
    assert (await health(gw, first)).state == "ok"


async def test_request_errors_are_passed_through_without_failover(gw: Harness, upstreams: Upstreams):
    first = await add(gw, 1, priority=1)
    await add(gw, 2, priority=2)
    upstreams.answers["acct-1.test"] = error(400, kind="invalid_request_error")
    r = await ask(gw)
    assert r.status_code == 400 and r.json()["error"]["message"] == "fake 400"
    assert upstreams.hits == ["acct-1.test"]
    assert (await health(gw, first)).state == "ok"


async def test_no_retry_once_the_stream_began(gw: Harness, upstreams: Upstreams):
    await add(gw, 1, priority=1)
    await add(gw, 2, priority=2)

    async def broken_stream():  # type: ignore[no-untyped-def]
        yield stream_events("m")[0]
        raise httpx.ReadError("upstream went away")

    upstreams.answers["acct-1.test"] = lambda request: httpx.Response(
        200, content=broken_stream(), headers={"content-type": "text/event-stream"})
    r = await ask(gw, {**BODY, "stream": True})
    assert r.status_code == 200
    assert b"message_start" in r.content and b"event: error" in r.content
    assert upstreams.hits == ["acct-1.test"]


async def test_exhausted_pool_answers_503_saying_why(gw: Harness, upstreams: Upstreams):
    await add(gw, 1)
    await add(gw, 2)
    for host in ("acct-1.test", "acct-2.test"):
        upstreams.answers[host] = error(429, {"retry-after": "600"}, "rate_limit_error")
    r = await ask(gw)
    assert r.status_code == 429  # the last account's own answer, passed on
    r = await ask(gw)
    assert r.status_code == 503
    message = r.json()["error"]["message"]
    assert "acct-1: rate limited until" in message and "acct-2: rate limited until" in message
    assert upstreams.hits.count("acct-1.test") == 1 and upstreams.hits.count("acct-2.test") == 1


async def test_failover_attempts_are_bounded(upstreams: Upstreams, state: SharedState):
    async with start_harness(httpx.MockTransport(upstreams.handle), state=state, seed_account=False,
                             failover_attempts=2) as h:
        for n in range(1, 5):
            await add(h, n, priority=n)
            upstreams.answers[f"acct-{n}.test"] = error(500)
        r = await ask(h)
        assert r.status_code == 500
        assert upstreams.hits == ["acct-1.test", "acct-2.test"]


@pytest.mark.parametrize("style", ["claude-code", "metadata", "codex", "plain"])
async def test_sticky_conversation_stays_on_one_account_and_rebinds(gw: Harness, upstreams: Upstreams, style: str):
    accounts = [await add(gw, n) for n in (1, 2, 3)]
    path = "/claude/v1/messages"
    headers: dict[str, str] = {}
    body: dict[str, Any] = dict(BODY)
    if style == "claude-code":
        headers["x-claude-code-session-id"] = "3f1c0a52-7f5e-4a43-9b0e-1d2c3b4a5e6f"
    elif style == "metadata":
        body["metadata"] = {"user_id": "user_abc_account_def_session_9b0e1d2c-3b4a-5e6f-7a8b-9c0d1e2f3a4b"}
    elif style == "codex":
        await gw.stores.accounts.delete(accounts[0].id)  # keep the pool mixed: 2 claude, 3 openai
        accounts = [await add(gw, n, platform="openai", type="openai", credentials={"api_key": "sk"})
                    for n in (4, 5, 6)]
        path = "/responses"
        headers["session_id"] = "0199a0b1-c2d3-7e4f-8a9b-0c1d2e3f4a5b"
        body = {"model": "gpt-5", "input": "hi"}
        for n in (4, 5, 6):
            upstreams.answers[f"acct-{n}.test"] = lambda request: httpx.Response(
                200, json={"object": "response", "status": "completed", "output": [], "usage": {}})
    # The same conversation, turn after turn: one account, although least-recently-used
    # order alone would rotate through all three.
    for turn in range(5):
        if style in ("plain", "metadata"):
            body = {**body, "messages": BODY["messages"] + [{"role": "assistant", "content": "x"},
                                                          {"role": "user", "content": f"turn {turn}"}] * (turn > 0)}
        assert (await ask(gw, body, path, **headers)).status_code == 200
    assert len(set(upstreams.hits)) == 1
    bound = upstreams.hits[0]
    # A different conversation is spread elsewhere (LRU), not piled onto the same account.
    other = {**BODY, "messages": [{"role": "user", "content": "another chat"}]} if style != "codex" else body
    other_headers = {} if style != "codex" else {"session_id": "another"}
    await ask(gw, other, path, **other_headers)
    assert upstreams.hits[-1] != bound
    # The bound account fails: the conversation moves, and stays on its new account.
    upstreams.answers[bound] = error(529, kind="overloaded_error")
    assert (await ask(gw, body, path, **headers)).status_code == 200
    moved = upstreams.hits[-1]
    assert moved != bound
    upstreams.answers.pop(bound)
    await gw.app.state.gateway.scheduler.reset(next(a.id for a in accounts if f"{a.base_url}".endswith(bound)))
    assert (await ask(gw, body, path, **headers)).status_code == 200
    assert upstreams.hits[-1] == moved


async def test_equal_accounts_share_a_tier_evenly(gw: Harness, upstreams: Upstreams):
    for n in (1, 2, 3):
        await add(gw, n)
    await add(gw, 4, priority=99)  # a lower tier: used only if the first has nothing
    for i in range(60):
        r = await ask(gw, {**BODY, "messages": [{"role": "user", "content": f"chat {i}"}]})
        assert r.status_code == 200
    assert Counter(upstreams.hits) == {"acct-1.test": 20, "acct-2.test": 20, "acct-3.test": 20}


async def test_weights_shape_the_spread(gw: Harness, upstreams: Upstreams):
    await add(gw, 1, weight=1)
    await add(gw, 2, weight=3)
    for i in range(400):
        await ask(gw, {**BODY, "messages": [{"role": "user", "content": f"chat {i}"}]})
    share = Counter(upstreams.hits)["acct-2.test"] / 400
    # 3/4 expected (binomial sd ~0.022); the bound is wide because the draws are not
    # independent of the least-recently-used tie-breaks, and ±3 sd failed now and then;
    # equal weights (1/2) or weights ignored stay far outside it.
    assert 0.62 < share < 0.88


async def test_max_concurrency_is_never_exceeded(gw: Harness, upstreams: Upstreams):
    limited = await add(gw, 1, priority=1, max_concurrency=2)
    await add(gw, 2, priority=2)
    upstreams.delay = 0.05
    results: list[int] = []

    async def one(i: int) -> None:
        r = await ask(gw, {**BODY, "messages": [{"role": "user", "content": f"chat {i}"}]})
        results.append(r.status_code)

    async with anyio.create_task_group() as tg:
        for i in range(12):
            tg.start_soon(one, i)
    assert results == [200] * 12
    assert upstreams.max_in_flight["acct-1.test"] == 2
    assert Counter(upstreams.hits)["acct-2.test"] >= 1  # overflow went to the next account
    assert (await health(gw, limited)).concurrency == 0  # every slot given back


async def test_full_account_and_nowhere_else_is_503(gw: Harness, upstreams: Upstreams):
    await add(gw, 1, max_concurrency=1)
    upstreams.delay = 0.1
    results: list[httpx.Response] = []

    async def one() -> None:
        results.append(await ask(gw))

    async with anyio.create_task_group() as tg:
        tg.start_soon(one)
        tg.start_soon(one)
    assert sorted(r.status_code for r in results) == [200, 503]
    assert "1 requests in flight" in next(r for r in results if r.status_code == 503).text


async def test_dedicated_account_group_and_fallback(gw: Harness, upstreams: Upstreams):
    shared = await add(gw, 1)
    mine = await add(gw, 2, group="team-a")
    await add(gw, 3, group="team-a")
    bound_key, _ = await gw.add_key(account_id=mine.id)
    group_key, _ = await gw.add_key(group="team-a")
    fallback_key, _ = await gw.add_key(account_id=mine.id, shared_fallback=True)

    chats = iter(range(1000))

    async def via(key: str) -> str:
        # A new conversation each time, so stickiness does not decide.
        body = {**BODY, "messages": [{"role": "user", "content": f"chat {next(chats)}"}]}
        await gw.http.post("/claude/v1/messages", json=body, headers={"x-api-key": key})
        return upstreams.hits[-1]

    assert await via(gw.key) == "acct-1.test"  # unbound keys use the shared pool only
    assert await via(bound_key) == "acct-2.test"
    assert {await via(group_key) for _ in range(4)} == {"acct-2.test", "acct-3.test"}
    upstreams.answers["acct-2.test"] = error(529, kind="overloaded_error")
    r = await gw.http.post("/claude/v1/messages", json=BODY, headers={"x-api-key": bound_key})
    assert r.status_code == 529  # no fallback: its own account's answer
    assert await via(fallback_key) == "acct-1.test"  # acct-2 now resting: falls back to the shared pool
    assert shared.id is not None


async def test_accounts_in_error_come_back_when_a_recheck_succeeds(gw: Harness, upstreams: Upstreams):
    from aiproxy.account_test import test_account
    from aiproxy.scheduler.recheck import recheck_errored

    first = await add(gw, 1, priority=1)
    await add(gw, 2, priority=2)
    upstreams.answers["acct-1.test"] = error(401, kind="authentication_error")
    assert (await ask(gw)).status_code == 200
    assert (await health(gw, first)).state == "error"
    g = gw.app.state.gateway

    async def probe(account_id: int) -> dict:
        return await test_account(g.pool, g.adapters, account_id)

    assert await recheck_errored(g.scheduler, g.pool, probe) == []  # still failing: stays out
    upstreams.answers.pop("acct-1.test")  # the admin fixed the key upstream
    assert await recheck_errored(g.scheduler, g.pool, probe) == [first.id]
    assert (await health(gw, first)).state == "ok"
