"""`previous_response_id` answered by the account that made that response (issue 13).

Two (or three) openai-responses API-key accounts, each its own fake Responses
upstream (http://acct-N.test) that stores the responses it makes and knows only
those: a follow-up sent anywhere else is answered 400 "not found", as OpenAI
does. The gateway remembers which account made each stored response and sends
the follow-up there alone, streamed or not; an id it never saw goes as any
request does; an account that cannot serve now is a 503 (another account would
answer without the history). Runs on in-memory state and, with
AIPROXY_TEST_REDIS_URL, on Redis.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from typing import Any, AsyncIterator

import httpx
import pytest

from aiproxy.state import AccountHealth, MemoryState, SharedState
from aiproxy.stores.entities import Account
from tests.harness import Harness, start_harness

pytestmark = pytest.mark.anyio

USAGE = {"input_tokens": 12, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 3,
         "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15}


def not_found(response_id: str) -> httpx.Response:
    return httpx.Response(400, json={"error": {
        "message": f"Previous response with id '{response_id}' not found.", "type": "invalid_request_error",
        "param": "previous_response_id", "code": "previous_response_not_found"}})


def sse(kind: str, **data: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()


class ResponsesHosts:
    """One fake Responses API per account host, each keeping its own stored responses."""

    def __init__(self) -> None:
        self.stored: dict[str, set[str]] = {}  # host → the response ids it keeps
        self.hits: list[tuple[str, str | None]] = []  # (host, previous_response_id) per request
        self.answers: dict[str, httpx.Response] = {}  # host → a canned answer instead
        self._ids = itertools.count(1)

    def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        body = json.loads(request.content)
        previous = body.get("previous_response_id")
        self.hits.append((host, previous))
        if host in self.answers:
            return self.answers[host]
        kept = self.stored.setdefault(host, set())
        if previous is not None and previous not in kept:
            return not_found(previous)
        response_id = f"resp_{host.split('.')[0]}_{next(self._ids)}"
        if body.get("store") is not False:
            kept.add(response_id)
        response = {"id": response_id, "object": "response", "status": "completed", "model": body["model"],
                    "store": body.get("store") is not False, "previous_response_id": previous,
                    "output": [{"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                                "content": [{"type": "output_text", "text": f"from {host}"}]}],
                    "usage": USAGE}
        if not body.get("stream"):
            return httpx.Response(200, json=response)
        started = {**response, "status": "in_progress", "output": [], "usage": None}
        events = [sse("response.created", sequence_number=0, response=started),
                  sse("response.output_text.delta", sequence_number=1, delta=f"from {host}"),
                  sse("response.completed", sequence_number=2, response=response)]
        return httpx.Response(200, content=b"".join(events), headers={"content-type": "text/event-stream"})


@pytest.fixture
def hosts() -> ResponsesHosts:
    return ResponsesHosts()


@pytest.fixture
async def gw(hosts: ResponsesHosts, state: SharedState) -> AsyncIterator[Harness]:
    async with start_harness(httpx.MockTransport(hosts.handle), state=state, seed_account=False) as h:
        yield h


async def add(h: Harness, n: int, **fields: Any) -> Account:
    return await h.add_account({"api_key": f"sk-{n}"}, name=f"acct-{n}", platform="openai",
                               type="openai-responses", base_url=f"http://acct-{n}.test", **fields)


async def ask(h: Harness, text: str, *, stream: bool = False, **fields: Any) -> httpx.Response:
    body = {"model": "gpt-5", "input": text, "stream": stream, **fields}
    return await h.http.post("/v1/responses", json=body, headers={"authorization": f"Bearer {h.key}"})


def answer_id(r: httpx.Response) -> str:
    assert r.status_code == 200, r.text
    if r.headers["content-type"].startswith("text/event-stream"):
        completed = [line for line in r.text.splitlines() if line.startswith("data:") and "response.completed" in line]
        return str(json.loads(completed[0][5:])["response"]["id"])
    return str(r.json()["id"])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_each_follow_up_reaches_the_account_that_made_its_response(
    gw: Harness, hosts: ResponsesHosts, stream: bool
) -> None:
    await add(gw, 1)
    await add(gw, 2)
    first = answer_id(await ask(gw, "one", stream=stream))
    second = answer_id(await ask(gw, "two", stream=stream))
    assert [h for h, _ in hosts.hits] == ["acct-1.test", "acct-2.test"]  # least recently used first
    hosts.hits.clear()
    # Least recent use would now pick acct-1 for the first follow-up: the response decides instead.
    third = answer_id(await ask(gw, "and?", stream=stream, previous_response_id=second))
    fourth = answer_id(await ask(gw, "more", stream=stream, previous_response_id=first))
    fifth = answer_id(await ask(gw, "again", stream=stream, previous_response_id=third))  # a chain
    assert hosts.hits == [("acct-2.test", second), ("acct-1.test", first), ("acct-2.test", third)]
    assert fourth.startswith("resp_acct-1") and fifth.startswith("resp_acct-2")
    records = await gw.records()
    assert [r.status for r in records[-3:]] == [200, 200, 200]
    assert all(r.input_tokens == 12 and r.output_tokens == 3 for r in records)


async def test_a_response_asked_not_to_be_stored_is_not_remembered(gw: Harness, hosts: ResponsesHosts) -> None:
    await add(gw, 1)
    await add(gw, 2)
    unstored = answer_id(await ask(gw, "one", store=False))
    assert await gw.gateway.state.response_account(unstored) is None
    # Its follow-up goes as any request does (here acct-2), whose upstream says it has no such response.
    r = await ask(gw, "and?", previous_response_id=unstored)
    assert r.status_code == 400 and r.json()["error"]["code"] == "previous_response_not_found"
    assert hosts.hits[-1] == ("acct-2.test", unstored)


async def test_an_id_never_seen_goes_as_any_request_and_the_upstream_answers(gw: Harness, hosts: ResponsesHosts) -> None:
    await add(gw, 1)
    await add(gw, 2)
    r = await ask(gw, "and?", previous_response_id="resp_made_before_the_gateway")
    # The upstream's own 400 comes back as it came; a request error moves to no other account.
    assert r.status_code == 400 and r.json()["error"]["param"] == "previous_response_id"
    assert hosts.hits == [("acct-1.test", "resp_made_before_the_gateway")]


async def test_a_rate_limited_holder_is_a_503_with_retry_after_and_no_other_account_is_asked(
    gw: Harness, hosts: ResponsesHosts
) -> None:
    a1 = await add(gw, 1)
    await add(gw, 2)
    made = answer_id(await ask(gw, "one"))
    hosts.hits.clear()
    assert a1.id is not None
    until = gw.gateway.scheduler._clock() + 90
    await gw.gateway.state.mark_account(a1.id, AccountHealth("rate_limited", until=until, reason="429"))
    r = await ask(gw, "and?", previous_response_id=made)
    assert r.status_code == 503, r.text
    assert 85 <= int(r.headers["retry-after"]) <= 91
    error = r.json()["error"]  # OpenAI's shape
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"].startswith(f"previous response {made} was made by account 'acct-1', which cannot "
                                       "serve now (rate limited until ")
    assert "send the full input without previous_response_id" in error["message"]
    assert hosts.hits == []
    [*_, record] = await gw.records()
    assert record.status == 503 and record.error == error["message"]
    # A request that continues nothing is served meanwhile.
    assert answer_id(await ask(gw, "other")).startswith("resp_acct-2")


async def test_the_holders_own_failure_is_passed_on_not_tried_elsewhere(gw: Harness, hosts: ResponsesHosts) -> None:
    await add(gw, 1)
    await add(gw, 2)
    made = answer_id(await ask(gw, "one"))
    hosts.hits.clear()
    hosts.answers["acct-1.test"] = httpx.Response(
        429, json={"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}},
        headers={"retry-after": "30"})
    r = await ask(gw, "and?", previous_response_id=made)
    assert r.status_code == 429 and r.json()["error"]["message"] == "slow down"
    assert hosts.hits == [("acct-1.test", made)]


async def test_a_disabled_or_deleted_holder_says_so(gw: Harness, hosts: ResponsesHosts) -> None:
    a1 = await add(gw, 1)
    a2 = await add(gw, 2)
    made_1 = answer_id(await ask(gw, "one"))
    made_2 = answer_id(await ask(gw, "two"))
    assert a1.id is not None and a2.id is not None
    hosts.hits.clear()
    await gw.stores.accounts.update(dataclasses.replace(a1, enabled=False))
    await gw.stores.accounts.delete(a2.id)
    await add(gw, 3)  # one that could serve, had the history been there
    await gw.gateway.pool.reload()
    r = await ask(gw, "and?", previous_response_id=made_1)
    assert r.status_code == 503 and "account 'acct-1', which cannot serve now (disabled)" in r.json()["error"]["message"]
    r = await ask(gw, "and?", previous_response_id=made_2)
    assert r.status_code == 400 and r.headers["x-should-retry"] == "false"
    assert f"account #{a2.id} (since deleted), which no longer exists" in r.json()["error"]["message"]
    assert hosts.hits == []


async def test_a_holder_outside_the_keys_group_is_a_400(gw: Harness, hosts: ResponsesHosts) -> None:
    await add(gw, 1, group="team-a")
    await add(gw, 2)
    team_key, _ = await gw.add_key(group="team-a")
    r = await gw.http.post("/v1/responses", json={"model": "gpt-5", "input": "one"},
                           headers={"authorization": f"Bearer {team_key}"})
    made = answer_id(r)
    hosts.hits.clear()
    r = await ask(gw, "and?", previous_response_id=made)  # the shared-pool key
    assert r.status_code == 400
    assert "account 'acct-1', which this API key or route may not use" in r.json()["error"]["message"]
    assert hosts.hits == []


class CountingState(MemoryState):
    """Counts the response-id reads and writes (each a round trip on Redis)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def response_account(self, response_id: str) -> int | None:
        self.calls.append("read")
        return await super().response_account(response_id)

    async def remember_response(self, response_id: str, account_id: int, ttl_seconds: float) -> None:
        self.calls.append("write")
        await super().remember_response(response_id, account_id, ttl_seconds)


async def test_what_each_request_costs_in_state_calls(hosts: ResponsesHosts) -> None:
    state = CountingState()
    async with start_harness(httpx.MockTransport(hosts.handle), state=state, seed_account=False) as h:
        await add(h, 1)
        answer_id(await ask(h, "codex-like", stream=True, store=False))
        assert state.calls == []  # neither a read nor a write
        made = answer_id(await ask(h, "stored"))
        assert state.calls == ["write"]  # one, after the answer
        state.calls.clear()
        answer_id(await ask(h, "and?", stream=True, previous_response_id=made))
        assert state.calls == ["read", "write"]
        state.calls.clear()
        r = await h.http.post("/openai/v1/chat/completions", json={"model": "gpt-5", "messages": []},
                              headers={"authorization": f"Bearer {h.key}"})
        # Other routes never ask (chat reaches the account through Messages, and its
        # empty conversation is refused before any upstream call).
        assert r.status_code == 400 and state.calls == []
