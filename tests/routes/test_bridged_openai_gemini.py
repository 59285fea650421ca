"""OpenAI chat, OpenAI Responses and Gemini clients served by the accounts of every other
platform through the translators (issue 13): chat on Claude, on a Codex-backend Responses
account (its forced stream collected) and on Gemini; Responses on Claude, on a chat-only
OpenAI-compatible server and on Gemini; Gemini's generateContent and streamGenerateContent
(SSE and the JSON array) on Claude and on OpenAI chat. Tool loops against fakes that call a
tool until given its result, usage recorded as the fake counted it with both formats,
errors in the client's shape, failover on a 429 that marks the account."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

import httpx
import pytest

from aiproxy.settings import UpstreamURLs
from aiproxy.testing.anthropic import TOOL_INPUT, TOOL_USE_ID, FakeAnthropic
from tests.fakes.gemini_upstream import RECORDED, FakeGemini
from tests.fakes.gemini_upstream import TOOL_ARGS as GEMINI_TOOL_ARGS
from tests.fakes.oauth_provider import HostRouter
from tests.fakes.openai_oauth import CODEX_BASE, CODEX_HOST, FakeCodex, id_token
from tests.fakes.openai_upstream import TEXT, TOOL_ARGS, FakeOpenAI
from tests.harness import UPSTREAM, Harness, start_harness

pytestmark = pytest.mark.anyio

OPENAI_BASE = "http://openai.test"
GEMINI_BASE = "http://gemini.test"
# Each fake's usage as the record keeps it: (input uncached, output, cache creation, cache read).
CLAUDE_TOKENS = (12, 7, 100, 200)  # aiproxy.testing.anthropic.USAGE: cache writes too
CHAT_TOKENS = (20, 7, 0, 10)
RESPONSES_TOKENS = (24, 9, 0, 16)
GEMINI_TOKENS = (RECORDED["input_tokens"], RECORDED["output_tokens"], 0, RECORDED["cache_read_tokens"])


class Upstreams:
    def __init__(self) -> None:
        self.anthropic = FakeAnthropic(call_tools=True)
        self.openai = FakeOpenAI()
        self.codex = FakeCodex()
        self.gemini = FakeGemini()

    def transport(self) -> httpx.AsyncBaseTransport:
        asgi = httpx.ASGITransport
        return HostRouter({
            "openai.test": asgi(app=self.openai.app()),
            CODEX_HOST: asgi(app=self.codex.app()),
            "gemini.test": asgi(app=self.gemini.app()),
        }, asgi(app=self.anthropic.app()))


@dataclass(frozen=True, eq=False)
class Target:
    """One kind of account a client is served by, and how to read its fake."""

    name: str
    type: str
    platform: str
    credentials: Callable[[], dict[str, Any]]
    seen: Callable[[Upstreams], list[Any]]
    upstream_format: str
    tokens: tuple[int, int, int, int]
    fields: dict[str, Any]
    model: str  # the upstream's model, by the account's mapping

    async def add(self, h: Harness, **fields: Any) -> int:
        fields = {"name": self.name, "platform": self.platform, "type": self.type,
                  "model_mapping": {"*": self.model}, **self.fields, **fields}
        account = await h.add_account(self.credentials(), **fields)
        assert account.id is not None
        return account.id


def _codex_credentials() -> dict[str, Any]:
    return {"access_token": "oat-1", "refresh_token": "ort-1", "expires_at": int(time.time() + 3600),
            "id_token": id_token("acct-1"), "chatgpt_account_id": "acct-1"}


CLAUDE = Target("claude", "claude-console", "claude", lambda: {"api_key": "sk-ant"}, lambda u: u.anthropic.requests,
                "anthropic-messages", CLAUDE_TOKENS, {}, "claude-sonnet-4-5")
CODEX = Target("codex", "openai-responses", "openai", _codex_credentials, lambda u: u.codex.requests,
               "openai-responses", RESPONSES_TOKENS, {}, "gpt-5-codex")
CHAT_ONLY = Target("chat-only", "openai", "openai", lambda: {"api_key": "sk-openai"}, lambda u: u.openai.requests,
                   "openai-chat", CHAT_TOKENS, {"base_url": OPENAI_BASE, "options": {"chat_only": True}}, "gpt-4.1")
OPENAI = Target("openai", "openai", "openai", lambda: {"api_key": "sk-openai"}, lambda u: u.openai.requests,
                "openai-chat", CHAT_TOKENS, {"base_url": OPENAI_BASE}, "gpt-4.1")
GEMINI = Target("gemini", "gemini-api", "gemini", lambda: {"api_key": "g-key"}, lambda u: u.gemini.requests,
                "gemini", GEMINI_TOKENS, {"base_url": GEMINI_BASE}, "gemini-2.5-flash")


@pytest.fixture
def up() -> Upstreams:
    return Upstreams()


@pytest.fixture
async def gw(up: Upstreams, anyio_backend: str) -> AsyncIterator[Harness]:
    upstream = UpstreamURLs(anthropic=UPSTREAM, openai=OPENAI_BASE, codex=CODEX_BASE, gemini=GEMINI_BASE)
    async with start_harness(up.transport(), seed_account=False, upstream=upstream) as h:
        yield h


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def goog(key: str) -> dict[str, str]:
    return {"x-goog-api-key": key}


def tokens(rec: Any) -> tuple[int, int, int, int]:
    return rec.input_tokens, rec.output_tokens, rec.cache_creation_tokens, rec.cache_read_tokens


def sse_data(r: httpx.Response) -> list[Any]:
    out = []
    for block in r.text.split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data: ") and line != "data: [DONE]":
                out.append(json.loads(line[len("data: "):]))
    return out


def sse_events(r: httpx.Response) -> list[str]:
    return [line[len("event: "):] for line in r.text.splitlines() if line.startswith("event: ")]


async def record_of(gw: Harness) -> Any:
    return (await gw.records())[-1]


# --- OpenAI Chat Completions clients ------------------------------------------------------

CHAT = {"model": "gpt-4o", "messages": [{"role": "system", "content": "Be brief."},
                                        {"role": "user", "content": "Say hello"}]}
CHAT_TOOLS = [{"type": "function", "function": {"name": "read_file", "description": "Reads a file", "parameters": {
    "type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}}]


def chat_prompt(t: tuple[int, int, int, int]) -> tuple[int, int, int]:
    """The fake's counts as Chat gives them: prompt (all input), completion, cached."""
    return t[0] + t[2] + t[3], t[1], t[3]


@pytest.mark.parametrize("target", [CLAUDE, CODEX, GEMINI], ids=lambda t: t.name)
async def test_chat_whole_answer_on_every_other_platform(gw: Harness, up: Upstreams, target: Target):
    account_id = await target.add(gw)
    r = await gw.http.post("/openai/v1/chat/completions", json=CHAT, headers=bearer(gw.key))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    answer = r.json()
    assert answer["object"] == "chat.completion" and answer["model"] == "gpt-4o"
    assert answer["choices"][0]["message"] == {"role": "assistant", "content": TEXT, "refusal": None}
    assert answer["choices"][0]["finish_reason"] == "stop"
    usage = answer["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"],
            usage["prompt_tokens_details"]["cached_tokens"]) == chat_prompt(target.tokens)
    [seen] = target.seen(up)
    assert gw.key not in str(seen.headers)
    if target is CODEX:
        assert (seen.json["stream"], seen.json["store"]) == (True, False)  # forced, and collected here
    record = await record_of(gw)
    assert (record.account_id, record.status, record.stream, record.endpoint) == (account_id, 200, False,
                                                                                  "chat_completions")
    assert (record.client_format, record.upstream_format) == ("openai-chat", target.upstream_format)
    assert record.model == "gpt-4o" and tokens(record) == target.tokens


@pytest.mark.parametrize("include_usage", [True, False], ids=["usage", "no-usage"])
@pytest.mark.parametrize("target", [CLAUDE, CODEX, GEMINI], ids=lambda t: t.name)
async def test_chat_stream_on_every_other_platform(gw: Harness, up: Upstreams, target: Target, include_usage: bool):
    await target.add(gw)
    body: dict[str, Any] = {**CHAT, "stream": True}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    r = await gw.http.post("/openai/v1/chat/completions", json=body, headers=bearer(gw.key))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.text.endswith("data: [DONE]\n\n")
    chunks = sse_data(r)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == TEXT
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]] == [
        "stop"]
    usage_chunks = [c for c in chunks if c.get("usage")]
    if include_usage:
        [last] = usage_chunks
        assert last is chunks[-1] and last["choices"] == []
        assert (last["usage"]["prompt_tokens"], last["usage"]["completion_tokens"],
                last["usage"]["prompt_tokens_details"]["cached_tokens"]) == chat_prompt(target.tokens)
    else:
        assert usage_chunks == []
    record = await record_of(gw)
    # Counted either way: the record's tokens are the translator's, not read off a usage chunk.
    assert record.stream and record.status == 200 and tokens(record) == target.tokens
    assert (record.client_format, record.upstream_format) == ("openai-chat", target.upstream_format)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("target", [CLAUDE, CODEX, GEMINI], ids=lambda t: t.name)
async def test_a_chat_tool_loop(gw: Harness, up: Upstreams, target: Target, stream: bool):
    await target.add(gw)
    ask = {"model": "gpt-4o", "tools": CHAT_TOOLS, "stream": stream,
           "messages": [{"role": "user", "content": "Read the readme"}]}
    r = await gw.http.post("/openai/v1/chat/completions", json=ask, headers=bearer(gw.key))
    assert r.status_code == 200, r.text
    if stream:
        chunks = sse_data(r)
        deltas = [c["choices"][0] for c in chunks if c["choices"]]
        calls = [tc for d in deltas for tc in d["delta"].get("tool_calls") or []]
        call_id, name = calls[0]["id"], calls[0]["function"]["name"]
        arguments = "".join(tc["function"].get("arguments", "") for tc in calls)
        finish = [d["finish_reason"] for d in deltas if d["finish_reason"]]
    else:
        choice = r.json()["choices"][0]
        [call] = choice["message"]["tool_calls"]
        call_id, name, arguments = call["id"], call["function"]["name"], call["function"]["arguments"]
        finish = [choice["finish_reason"]]
    assert finish == ["tool_calls"] and name == "read_file"
    assert json.loads(arguments) == {"claude": TOOL_INPUT, "codex": TOOL_ARGS, "gemini": GEMINI_TOOL_ARGS}[target.name]

    follow = {**ask, "messages": [
        *ask["messages"],
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": call_id, "content": "# The readme"}]}
    r = await gw.http.post("/openai/v1/chat/completions", json=follow, headers=bearer(gw.key))
    assert r.status_code == 200, r.text
    if stream:
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in sse_data(r) if c["choices"])
    else:
        text = r.json()["choices"][0]["message"]["content"]
    assert text == TEXT
    sent = target.seen(up)[-1].json
    if target is CLAUDE:
        result = sent["messages"][-1]["content"][0]
        assert result["type"] == "tool_result" and result["tool_use_id"] == TOOL_USE_ID == call_id
        assert "# The readme" in json.dumps(result["content"])
    elif target is CODEX:
        [output] = [i for i in sent["input"] if i.get("type") == "function_call_output"]
        assert output["call_id"] == call_id and "# The readme" in json.dumps(output["output"])
    else:
        responses = [p["functionResponse"] for p in sent["contents"][-1]["parts"] if "functionResponse" in p]
        assert responses[0]["name"] == "read_file" and "# The readme" in json.dumps(responses[0]["response"])


async def test_chat_refusals_and_upstream_errors_are_in_openais_shape(gw: Harness, up: Upstreams):
    await CLAUDE.add(gw, model_mapping={"gpt-4o": "claude-sonnet-4-5", "broken": "fail-500"})
    r = await gw.http.post("/openai/v1/chat/completions", json={**CHAT, "n": 2}, headers=bearer(gw.key))
    assert r.status_code == 400
    assert set(r.json()["error"]) == {"message", "type", "param", "code"} and "n" in r.json()["error"]["message"]
    assert up.anthropic.requests == []  # refused before any upstream call
    r = await gw.http.post("/openai/v1/chat/completions", json={**CHAT, "model": "broken"}, headers=bearer(gw.key))
    assert r.status_code == 500 and r.headers["content-type"] == "application/json"
    assert set(r.json()["error"]) >= {"message", "type"} and "fake 500" in r.json()["error"]["message"]


async def test_a_429_fails_over_and_marks_the_account(gw: Harness, up: Upstreams):
    limited = await CLAUDE.add(gw, name="limited", model_mapping={"*": "fail-429"}, priority=1)
    spare = await GEMINI.add(gw, priority=2)
    r = await gw.http.post("/openai/v1/chat/completions", json=CHAT, headers=bearer(gw.key))
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == TEXT
    record = await record_of(gw)
    assert record.account_id == spare and record.upstream_format == "gemini"
    marks = await gw.gateway.state.account_health()
    assert marks[limited].state == "rate_limited"


async def test_a_native_account_goes_first_within_a_priority(gw: Harness, up: Upstreams):
    await CLAUDE.add(gw, priority=5)
    native = await OPENAI.add(gw, priority=5, model_mapping={})
    r = await gw.http.post("/openai/v1/chat/completions", json=CHAT, headers=bearer(gw.key))
    assert r.status_code == 200, r.text
    assert (await record_of(gw)).account_id == native and up.anthropic.requests == []


async def test_a_claude_name_on_the_chat_route_reaches_a_claude_account(gw: Harness, up: Upstreams):
    # The family rule: an OpenAI account listing no models gives way for a claude- name.
    await OPENAI.add(gw, model_mapping={})
    claude = await CLAUDE.add(gw, model_mapping={})
    r = await gw.http.post("/openai/v1/chat/completions", json={**CHAT, "model": "claude-sonnet-4-5"},
                           headers=bearer(gw.key))
    assert r.status_code == 200, r.text
    assert (await record_of(gw)).account_id == claude
    assert up.anthropic.requests[-1].json["model"] == "claude-sonnet-4-5" and up.openai.requests == []


# --- OpenAI Responses clients -------------------------------------------------------------

RESPONSES = {"model": "gpt-5", "instructions": "Be brief.", "input": [{"role": "user", "content": "Say hello"}]}
RESPONSES_TOOLS = [{"type": "function", "name": "read_file", "description": "Reads a file", "parameters": {
    "type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}]


def responses_counts(t: tuple[int, int, int, int]) -> tuple[int, int, int]:
    return t[0] + t[2] + t[3], t[1], t[3]


@pytest.mark.parametrize("target", [CLAUDE, CHAT_ONLY, GEMINI], ids=lambda t: t.name)
async def test_responses_whole_answer_on_every_other_account(gw: Harness, up: Upstreams, target: Target):
    account_id = await target.add(gw)
    r = await gw.http.post("/v1/responses", json=RESPONSES, headers=bearer(gw.key))
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["object"] == "response" and answer["status"] == "completed" and answer["model"] == "gpt-5"
    [message] = [item for item in answer["output"] if item["type"] == "message"]
    assert [part["text"] for part in message["content"]] == [TEXT]
    usage = answer["usage"]
    assert (usage["input_tokens"], usage["output_tokens"],
            usage["input_tokens_details"]["cached_tokens"]) == responses_counts(target.tokens)
    assert len(target.seen(up)) == 1
    if target is CHAT_ONLY:
        assert target.seen(up)[0].path == "/v1/chat/completions"
    record = await record_of(gw)
    assert (record.account_id, record.endpoint, record.stream) == (account_id, "responses", False)
    assert (record.client_format, record.upstream_format) == ("openai-responses", target.upstream_format)
    assert tokens(record) == target.tokens


@pytest.mark.parametrize("target", [CLAUDE, CHAT_ONLY, GEMINI], ids=lambda t: t.name)
async def test_responses_stream_on_every_other_account(gw: Harness, up: Upstreams, target: Target):
    await target.add(gw)
    r = await gw.http.post("/openai/v1/responses", json={**RESPONSES, "stream": True}, headers=bearer(gw.key))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    names = sse_events(r)
    assert names[0] == "response.created" and names[-1] == "response.completed"
    assert names.index("response.content_part.added") < names.index("response.output_text.delta")
    data = sse_data(r)
    assert [d["sequence_number"] for d in data] == list(range(len(data)))
    assert len({d["response"]["id"] for d in data if "response" in d}) == 1
    text = "".join(d["delta"] for d in data if d["type"] == "response.output_text.delta")
    assert text == TEXT
    record = await record_of(gw)
    assert record.stream and tokens(record) == target.tokens
    assert (record.client_format, record.upstream_format) == ("openai-responses", target.upstream_format)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("target", [CLAUDE, CHAT_ONLY, GEMINI], ids=lambda t: t.name)
async def test_a_responses_tool_loop(gw: Harness, up: Upstreams, target: Target, stream: bool):
    await target.add(gw)
    ask = {**RESPONSES, "tools": RESPONSES_TOOLS, "stream": stream,
           "input": [{"role": "user", "content": "Read the readme"}]}
    r = await gw.http.post("/responses", json=ask, headers=bearer(gw.key))
    assert r.status_code == 200, r.text
    if stream:
        [done] = [d for d in sse_data(r) if d["type"] == "response.completed"]
        output = done["response"]["output"]
    else:
        output = r.json()["output"]
    [call] = [item for item in output if item["type"] == "function_call"]
    assert call["name"] == "read_file"
    assert json.loads(call["arguments"]) == {"claude": TOOL_INPUT, "chat-only": TOOL_ARGS, "gemini": GEMINI_TOOL_ARGS}[target.name]
    follow = {**ask, "input": [*ask["input"], *output,
                               {"type": "function_call_output", "call_id": call["call_id"], "output": "# The readme"}]}
    r = await gw.http.post("/responses", json=follow, headers=bearer(gw.key))
    assert r.status_code == 200, r.text
    if stream:
        text = "".join(d["delta"] for d in sse_data(r) if d["type"] == "response.output_text.delta")
    else:
        text = "".join(p["text"] for item in r.json()["output"] if item["type"] == "message" for p in item["content"])
    assert text == TEXT
    assert "# The readme" in target.seen(up)[-1].body.decode()


async def test_a_responses_follow_up_by_id_on_a_bridged_account_is_a_400(gw: Harness, up: Upstreams):
    await CLAUDE.add(gw)
    r = await gw.http.post("/v1/responses", json={**RESPONSES, "previous_response_id": "resp_1"},
                           headers=bearer(gw.key))
    assert r.status_code == 400 and "keeps no server-side conversation state" in r.json()["error"]["message"]
    assert up.anthropic.requests == []


# --- Gemini clients ---------------------------------------------------------------------

GENERATE = {"systemInstruction": {"parts": [{"text": "Be brief."}]},
            "contents": [{"role": "user", "parts": [{"text": "Say hello"}]}]}
GEMINI_TOOLS = [{"functionDeclarations": [{"name": "read_file", "description": "Reads a file", "parametersJsonSchema": {
    "type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}]}]
GEMINI_CLIENT_TARGETS = [CLAUDE, OPENAI]


def gemini_counts(t: tuple[int, int, int, int]) -> tuple[int, int]:
    return t[0] + t[2] + t[3], t[1]


@pytest.mark.parametrize("target", GEMINI_CLIENT_TARGETS, ids=lambda t: t.name)
async def test_gemini_generate_on_claude_and_openai(gw: Harness, up: Upstreams, target: Target):
    account_id = await target.add(gw)
    r = await gw.http.post("/gemini/v1beta/models/gemini-2.5-pro:generateContent", json=GENERATE,
                           headers=goog(gw.key))
    assert r.status_code == 200, r.text
    answer = r.json()
    [candidate] = answer["candidates"]
    assert "".join(p.get("text", "") for p in candidate["content"]["parts"]) == TEXT
    assert candidate["finishReason"] == "STOP" and answer["modelVersion"] == "gemini-2.5-pro"
    meta = answer["usageMetadata"]
    assert (meta["promptTokenCount"], meta["candidatesTokenCount"]) == gemini_counts(target.tokens)
    [seen] = target.seen(up)
    assert seen.json["model"] == target.model
    record = await record_of(gw)
    assert (record.account_id, record.endpoint, record.stream) == (account_id, "generateContent", False)
    assert (record.client_format, record.upstream_format) == ("gemini", target.upstream_format)
    assert record.model == "gemini-2.5-pro"
    # Gemini's usage has no cache writes: the client sees them in promptTokenCount, but
    # the record is read from the upstream's own answer, exact.
    assert tokens(record) == target.tokens


@pytest.mark.parametrize("sse", [True, False], ids=["sse", "json-array"])
@pytest.mark.parametrize("target", GEMINI_CLIENT_TARGETS, ids=lambda t: t.name)
async def test_gemini_stream_on_claude_and_openai(gw: Harness, up: Upstreams, target: Target, sse: bool):
    await target.add(gw)
    path = "/gemini/v1beta/models/gemini-2.5-pro:streamGenerateContent" + ("?alt=sse" if sse else "")
    r = await gw.http.post(path, json=GENERATE, headers=goog(gw.key))
    assert r.status_code == 200, r.text
    if sse:
        assert r.headers["content-type"].startswith("text/event-stream")
        elements = sse_data(r)
    else:
        assert r.headers["content-type"] == "application/json"
        elements = r.json()
        assert isinstance(elements, list)
    text = "".join(p.get("text", "") for e in elements for c in e.get("candidates", [])
                   for p in c["content"].get("parts", []))
    assert text == TEXT
    assert elements[-1]["candidates"][0]["finishReason"] == "STOP"
    [seen] = target.seen(up)
    assert seen.json["stream"] is True
    record = await record_of(gw)
    # A stream's record is the translator's own count: exact, cache writes too.
    assert record.stream and tokens(record) == target.tokens
    assert (record.client_format, record.upstream_format) == ("gemini", target.upstream_format)


@pytest.mark.parametrize("target", GEMINI_CLIENT_TARGETS, ids=lambda t: t.name)
async def test_a_gemini_function_calling_loop(gw: Harness, up: Upstreams, target: Target):
    await target.add(gw)
    ask = {**GENERATE, "tools": GEMINI_TOOLS, "contents": [{"role": "user", "parts": [{"text": "Read the readme"}]}]}
    url = "/gemini/v1beta/models/gemini-2.5-pro:generateContent"
    r = await gw.http.post(url, json=ask, headers=goog(gw.key))
    assert r.status_code == 200, r.text
    model_turn = r.json()["candidates"][0]["content"]
    [call] = [p["functionCall"] for p in model_turn["parts"] if "functionCall" in p]
    assert call["name"] == "read_file" and call["args"] == (TOOL_INPUT if target is CLAUDE else TOOL_ARGS)
    follow = {**ask, "contents": [*ask["contents"], model_turn, {"role": "user", "parts": [{"functionResponse": {
        "id": call.get("id"), "name": "read_file", "response": {"output": "# The readme"}}}]}]}
    r = await gw.http.post(url, json=follow, headers=goog(gw.key))
    assert r.status_code == 200, r.text
    assert "".join(p.get("text", "") for p in r.json()["candidates"][0]["content"]["parts"]) == TEXT
    assert "# The readme" in target.seen(up)[-1].body.decode()


async def test_a_claude_name_in_a_gemini_path_reaches_a_claude_account(gw: Harness, up: Upstreams):
    await GEMINI.add(gw, model_mapping={})
    claude = await CLAUDE.add(gw, model_mapping={})
    r = await gw.http.post("/gemini/v1beta/models/claude-sonnet-4-5:generateContent", json=GENERATE,
                           headers=goog(gw.key))
    assert r.status_code == 200, r.text
    assert (await record_of(gw)).account_id == claude and up.gemini.requests == []
    assert up.anthropic.requests[-1].json["model"] == "claude-sonnet-4-5"


async def test_gemini_refusals_are_in_googles_shape(gw: Harness, up: Upstreams):
    await CLAUDE.add(gw)
    ask = {**GENERATE, "generationConfig": {"candidateCount": 2}}
    r = await gw.http.post("/gemini/v1beta/models/gemini-2.5-pro:generateContent", json=ask, headers=goog(gw.key))
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT" and "candidateCount" in error["message"]
    assert up.anthropic.requests == []
