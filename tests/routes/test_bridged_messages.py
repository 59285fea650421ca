"""/claude/v1/messages served by OpenAI, Azure, Responses (API key and Codex backend) and
Gemini (API key and Code Assist) accounts through the translators (formats/bridges): whole
answers and streams, a full tool loop, usage recorded as the fake counted it, failover on a
429, a 400 in Anthropic's shape for what cannot be translated, and which account serves
(models / model_mapping with wildcards, families, native first, a key's platforms)."""

from __future__ import annotations

import json
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import anthropic.types
import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from aiproxy.formats.usage import Usage
from aiproxy.pricing import PriceTable
from aiproxy.settings import UpstreamURLs
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.code_assist_upstream import (
    CODE_ASSIST,
    GOOGLE_TOKEN_HOST,
    FakeCodeAssist,
    FakeGoogleToken,
    gemini_oauth_settings,
)
from tests.fakes.gemini_upstream import RECORDED, THOUGHT_SIGNATURE, FakeGemini
from tests.fakes.gemini_upstream import TOOL_ARGS as GEMINI_TOOL_ARGS
from tests.fakes.oauth_provider import HostRouter
from tests.fakes.openai_oauth import CODEX_BASE, CODEX_HOST, FakeCodex, id_token
from tests.fakes.openai_upstream import TEXT, TOOL_ARGS, TOOL_CALL_ID, FakeOpenAI
from tests.harness import UPSTREAM, Harness, start_harness

pytestmark = pytest.mark.anyio

OPENAI_BASE = "http://openai.test"
AZURE_BASE = "http://azure.test"
GEMINI_BASE = "http://gemini.test"
MODEL = "claude-sonnet-4-5"
BODY = {"model": MODEL, "max_tokens": 256, "system": "Be brief.",
        "messages": [{"role": "user", "content": "Say hello"}]}
TOOLS = [{"name": "read_file", "description": "Reads a file",
          "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}]
# The fakes' usage in Anthropic's terms: (input uncached, output, cache creation, cache read).
CHAT_TOKENS = (20, 7, 0, 10)
RESPONSES_TOKENS = (24, 9, 0, 16)
GEMINI_TOKENS = (RECORDED["input_tokens"], RECORDED["output_tokens"], 0, RECORDED["cache_read_tokens"])


class Upstreams:
    def __init__(self) -> None:
        self.anthropic = FakeAnthropic()
        self.openai = FakeOpenAI()
        self.azure = FakeOpenAI()
        self.codex = FakeCodex()
        self.gemini = FakeGemini()
        self.code_assist = FakeCodeAssist()

    def transport(self) -> httpx.AsyncBaseTransport:
        asgi = httpx.ASGITransport
        # Azure's v1 API is OpenAI's under /openai.
        azure = Starlette(routes=[Mount("/openai", app=self.azure.app())])
        return HostRouter({
            "openai.test": asgi(app=self.openai.app()),
            "azure.test": asgi(app=azure),
            CODEX_HOST: asgi(app=self.codex.app()),
            "gemini.test": asgi(app=self.gemini.app()),
            "code-assist.test": asgi(app=self.code_assist.app()),
            GOOGLE_TOKEN_HOST: FakeGoogleToken().transport(),
        }, asgi(app=self.anthropic.app()))


@dataclass(frozen=True)
class Target:
    """One kind of account an Anthropic client is served by, and how to read its fake."""

    name: str
    type: str
    platform: str
    credentials: Callable[[], dict[str, Any]]
    seen: Callable[[Upstreams], list[Any]]  # the fake's record of requests
    tokens: tuple[int, int, int, int]
    fields: dict[str, Any]

    async def add(self, h: Harness, mapping: dict[str, str], **fields: Any) -> int:
        fields = {"name": self.name, "platform": self.platform, "type": self.type, "models": [],
                  "model_mapping": mapping, **self.fields, **fields}
        account = await h.add_account(self.credentials(), **fields)
        assert account.id is not None
        return account.id


def _codex_credentials() -> dict[str, Any]:
    return {"access_token": "oat-1", "refresh_token": "ort-1", "expires_at": int(time.time() + 3600),
            "id_token": id_token("acct-1"), "chatgpt_account_id": "acct-1"}


def _google_credentials() -> dict[str, Any]:
    return {"access_token": "at-google", "refresh_token": "rt-google", "expires_at": int(time.time()) + 3600}


TARGETS = [
    Target("chat", "openai", "openai", lambda: {"api_key": "sk-openai"}, lambda u: u.openai.requests,
           CHAT_TOKENS, {"base_url": OPENAI_BASE}),
    Target("azure", "azure-openai", "openai", lambda: {"api_key": "az-key"}, lambda u: u.azure.requests,
           CHAT_TOKENS, {"base_url": AZURE_BASE, "options": {"v1": True}}),
    Target("responses-key", "openai-responses", "openai", lambda: {"api_key": "sk-openai"},
           lambda u: u.openai.requests, RESPONSES_TOKENS, {"base_url": OPENAI_BASE}),
    Target("codex", "openai-responses", "openai", _codex_credentials, lambda u: u.codex.requests,
           RESPONSES_TOKENS, {}),
    Target("gemini-api", "gemini-api", "gemini", lambda: {"api_key": "g-key"}, lambda u: u.gemini.requests,
           GEMINI_TOKENS, {"base_url": GEMINI_BASE}),
    Target("gemini-oauth", "gemini-oauth", "gemini", _google_credentials,
           lambda u: u.code_assist.of("generateContent") + u.code_assist.of("streamGenerateContent"),
           GEMINI_TOKENS, {}),
]
BY_NAME = {t.name: t for t in TARGETS}
UPSTREAM_MODEL = {"chat": "gpt-4.1", "azure": "gpt-4.1", "responses-key": "gpt-5", "codex": "gpt-5-codex",
                  "gemini-api": "gemini-2.5-flash", "gemini-oauth": "gemini-2.5-flash"}


@pytest.fixture
def up() -> Upstreams:
    return Upstreams()


@pytest.fixture
async def gw(up: Upstreams, anyio_backend: str) -> AsyncIterator[Harness]:
    upstream = UpstreamURLs(anthropic=UPSTREAM, openai=OPENAI_BASE, codex=CODEX_BASE, gemini=GEMINI_BASE,
                            code_assist=CODE_ASSIST)
    async with start_harness(up.transport(), seed_account=False, upstream=upstream,
                             oauth=gemini_oauth_settings()) as h:
        yield h


def auth(key: str) -> dict[str, str]:
    return {"x-api-key": key, "anthropic-version": "2023-06-01"}


def tokens(rec: Any) -> tuple[int, int, int, int]:
    return rec.input_tokens, rec.output_tokens, rec.cache_creation_tokens, rec.cache_read_tokens


def events(r: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for block in r.text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            found.append((lines["event"], json.loads(lines["data"])))
    return found


def streamed_text(evs: list[tuple[str, dict[str, Any]]]) -> str:
    return "".join(d["delta"]["text"] for e, d in evs if e == "content_block_delta"
                   and d["delta"]["type"] == "text_delta")


def upstream_model_of(target: Target, seen: Any) -> str:
    if target.platform == "gemini":
        if target.type == "gemini-oauth":
            return str(seen.json["model"])
        return str(seen.path.split("/models/")[1].split(":")[0])
    return str(seen.json["model"])


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
async def test_whole_answer_translated_and_usage_recorded(gw: Harness, up: Upstreams, target: Target):
    account_id = await target.add(gw, {"claude-*": UPSTREAM_MODEL[target.name]})
    r = await gw.http.post("/claude/v1/messages", json=BODY, headers=auth(gw.key))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    message = anthropic.types.Message.model_validate(r.json())
    assert message.model == MODEL and message.stop_reason == "end_turn"
    assert [b.text for b in message.content if b.type == "text"] == [TEXT]
    assert (message.usage.input_tokens, message.usage.output_tokens) == target.tokens[:2]

    [seen] = target.seen(up)
    assert upstream_model_of(target, seen) == UPSTREAM_MODEL[target.name]
    assert gw.key not in str(seen.headers)
    assert "anthropic-version" not in seen.headers  # the target format's header list
    [record] = await gw.records()
    assert record.account_id == account_id and record.status == 200 and not record.stream
    assert record.endpoint == "messages" and record.model == MODEL
    assert tokens(record) == target.tokens


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
async def test_stream_translated_and_usage_recorded(gw: Harness, up: Upstreams, target: Target):
    await target.add(gw, {"claude-*": UPSTREAM_MODEL[target.name]})
    r = await gw.http.post("/claude/v1/messages", json={**BODY, "stream": True}, headers=auth(gw.key))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    evs = events(r)
    names = [e for e, _ in evs]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert evs[0][1]["message"]["model"] == MODEL
    assert streamed_text(evs) == TEXT
    assert evs[-2][1]["delta"]["stop_reason"] == "end_turn"
    [seen] = target.seen(up)
    assert seen.json.get("stream", True) is not False
    [record] = await gw.records()
    assert record.stream and record.status == 200 and tokens(record) == target.tokens


def _tool_result_sent(target: Target, sent: dict[str, Any], tool_id: str) -> None:
    """The second upstream request carries the client's tool result, tied to the call."""
    if target.type in ("openai", "azure-openai"):
        tool_msg = sent["messages"][-1]
        assert tool_msg == {"role": "tool", "tool_call_id": TOOL_CALL_ID, "content": "# The readme"}
        assert sent["messages"][-2]["tool_calls"][0]["id"] == TOOL_CALL_ID
    elif target.type == "openai-responses":
        outputs = [i for i in sent["input"] if i.get("type") == "function_call_output"]
        assert outputs[-1]["call_id"] == TOOL_CALL_ID and "# The readme" in json.dumps(outputs[-1]["output"])
    else:
        contents = sent["contents"] if "contents" in sent else sent["request"]["contents"]
        calls = [p for c in contents for p in c["parts"] if "functionCall" in p]
        assert calls[-1]["thoughtSignature"] == THOUGHT_SIGNATURE  # carried through the client and back
        responses = [p["functionResponse"] for p in contents[-1]["parts"] if "functionResponse" in p]
        assert responses[0]["name"] == "read_file" and "# The readme" in json.dumps(responses[0]["response"])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
async def test_a_whole_tool_loop(gw: Harness, up: Upstreams, target: Target, stream: bool):
    await target.add(gw, {"claude-*": UPSTREAM_MODEL[target.name]})
    ask = {**BODY, "tools": TOOLS, "stream": stream,
           "messages": [{"role": "user", "content": "Read the readme"}]}
    r = await gw.http.post("/claude/v1/messages", json=ask, headers=auth(gw.key))
    assert r.status_code == 200, r.text
    if stream:
        evs = events(r)
        content = _accumulated(evs)
        stop = evs[-2][1]["delta"]["stop_reason"]
    else:
        message = r.json()
        content, stop = message["content"], message["stop_reason"]
    assert stop == "tool_use"
    [call] = [b for b in content if b["type"] == "tool_use"]
    assert call["name"] == "read_file" and call["input"] == (GEMINI_TOOL_ARGS if target.platform == "gemini"
                                                            else TOOL_ARGS)

    # The client runs the tool and sends its result, its assistant turn returned as it came.
    result = {"type": "tool_result", "tool_use_id": call["id"], "content": "# The readme"}
    follow = {**ask, "messages": [*ask["messages"], {"role": "assistant", "content": content},
                                  {"role": "user", "content": [result]}]}
    r = await gw.http.post("/claude/v1/messages", json=follow, headers=auth(gw.key))
    assert r.status_code == 200, r.text
    if stream:
        evs = events(r)
        assert streamed_text(evs) == TEXT and evs[-2][1]["delta"]["stop_reason"] == "end_turn"
    else:
        assert [b["text"] for b in r.json()["content"] if b["type"] == "text"] == [TEXT]
    sent = target.seen(up)[-1].json
    _tool_result_sent(target, sent, call["id"])
    records = await gw.records()
    assert [tokens(rec) for rec in records] == [target.tokens, target.tokens]


def _accumulated(evs: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The content blocks a client builds from the events (as the SDK's accumulator does)."""
    blocks: list[dict[str, Any]] = []
    partial: dict[int, str] = {}
    for name, data in evs:
        if name == "content_block_start":
            blocks.append(dict(data["content_block"]))
        elif name == "content_block_delta":
            block, delta = blocks[data["index"]], data["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "input_json_delta":
                partial[data["index"]] = partial.get(data["index"], "") + delta["partial_json"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = block.get("signature", "") + delta["signature"]
        elif name == "content_block_stop" and data["index"] in partial:
            blocks[data["index"]]["input"] = json.loads(partial.pop(data["index"]))
    return blocks


async def test_codex_backend_gets_no_field_it_refuses(gw: Harness, up: Upstreams):
    await BY_NAME["codex"].add(gw, {"claude-*": "gpt-5-codex"})
    body = {**BODY, "temperature": 0.7, "top_p": 0.9, "metadata": {"user_id": "user-42"}}
    r = await gw.http.post("/claude/v1/messages", json=body, headers=auth(gw.key))
    assert r.status_code == 200, r.text  # the fake answers 400 to any of them
    [seen] = up.codex.requests
    assert not {"max_output_tokens", "temperature", "top_p", "safety_identifier"} & set(seen.json)
    assert seen.json["stream"] is True and seen.json["store"] is False


async def test_a_responses_key_gets_what_the_codex_backend_refuses(gw: Harness, up: Upstreams):
    await BY_NAME["responses-key"].add(gw, {"claude-*": "gpt-4.1"})
    body = {**BODY, "temperature": 0.7, "metadata": {"user_id": "user-42"}}
    r = await gw.http.post("/claude/v1/messages", json=body, headers=auth(gw.key))
    assert r.status_code == 200, r.text
    [seen] = up.openai.requests
    assert seen.json["max_output_tokens"] == 256 and seen.json["temperature"] == 0.7
    assert seen.json["safety_identifier"] == "user-42"


async def test_an_error_comes_back_in_anthropics_shape(gw: Harness, up: Upstreams):
    await BY_NAME["chat"].add(gw, {"claude-sonnet-*": "fail-400"})
    r = await gw.http.post("/claude/v1/messages", json=BODY, headers=auth(gw.key))
    assert r.status_code == 400
    assert r.json() == {"type": "error", "error": {"type": "invalid_request_error", "message": "fake 400"}}
    await BY_NAME["gemini-api"].add(gw, {"claude-opus-*": "fail-503"}, name="g")
    r = await gw.http.post("/claude/v1/messages", json={**BODY, "model": "claude-opus-4-1"}, headers=auth(gw.key))
    assert r.status_code == 503 and "fake 503" in r.json()["error"]["message"]
    assert r.json()["type"] == "error"


async def test_a_429_on_the_translating_account_fails_over(gw: Harness, up: Upstreams):
    failing = await BY_NAME["chat"].add(gw, {"claude-*": "fail-429"}, priority=1)
    serving = await BY_NAME["codex"].add(gw, {"claude-*": "gpt-5-codex"}, priority=2)
    r = await gw.http.post("/claude/v1/messages", json=BODY, headers=auth(gw.key))
    assert r.status_code == 200, r.text
    assert [b["text"] for b in r.json()["content"]] == [TEXT]
    assert len(up.openai.requests) == 1 and len(up.codex.requests) == 1
    health = await gw.gateway.state.account_health()
    assert health[failing].state == "rate_limited"
    [record] = await gw.records()
    assert record.account_id == serving
    # Marked: the next request goes straight to the other account.
    r = await gw.http.post("/claude/v1/messages", json=BODY, headers=auth(gw.key))
    assert r.status_code == 200 and len(up.openai.requests) == 1


async def test_what_cannot_be_translated_is_a_400_before_any_upstream_call(gw: Harness, up: Upstreams):
    await BY_NAME["chat"].add(gw, {"claude-*": "gpt-4.1"}, priority=1)
    await BY_NAME["gemini-api"].add(gw, {"claude-*": "gemini-2.5-flash"}, priority=2)
    bad = {**BODY, "tools": [{"name": "read_file", "input_schema": "not a schema"}]}
    r = await gw.http.post("/claude/v1/messages", json=bad, headers=auth(gw.key))
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "tools[0].input_schema" in body["error"]["message"]
    assert up.openai.requests == [] and up.gemini.requests == []  # no call, and no failover
    [record] = await gw.records()
    assert record.status == 400
    assert await gw.gateway.state.account_health() == {}  # nobody's fault


async def test_native_account_first_within_a_priority_then_priority_decides(gw: Harness, up: Upstreams):
    await gw.add_account(priority=10)  # a Claude account that lists no models
    await BY_NAME["chat"].add(gw, {"claude-*": "gpt-4.1"}, priority=10)
    for i in range(3):  # not least-recently-used: native first every time (three conversations, none bound)
        ask = {**BODY, "messages": [{"role": "user", "content": f"conversation {i}"}]}
        r = await gw.http.post("/claude/v1/messages", json=ask, headers=auth(gw.key))
        assert r.status_code == 200
    assert len(up.anthropic.requests) == 3 and up.openai.requests == []

    await BY_NAME["codex"].add(gw, {"claude-*": "gpt-5-codex"}, priority=5)
    # (Another conversation: the first one is bound to the Claude account that served it.)
    other = {**BODY, "messages": [{"role": "user", "content": "Another conversation"}]}
    r = await gw.http.post("/claude/v1/messages", json=other, headers=auth(gw.key))
    assert r.status_code == 200 and len(up.codex.requests) == 1 and len(up.anthropic.requests) == 3


async def test_wildcard_mapping_exact_entry_first(gw: Harness, up: Upstreams):
    await BY_NAME["codex"].add(gw, {"claude-*": "gpt-5-codex", "claude-haiku-*": "gpt-5-mini",
                                    "claude-haiku-4-5-20251001": "gpt-5-nano"})
    for asked, expected in [(MODEL, "gpt-5-codex"), ("claude-haiku-4-5", "gpt-5-mini"),
                            ("claude-haiku-4-5-20251001", "gpt-5-nano")]:
        r = await gw.http.post("/claude/v1/messages", json={**BODY, "model": asked}, headers=auth(gw.key))
        assert r.status_code == 200, r.text
        assert r.json()["model"] == asked
        assert up.codex.requests[-1].json["model"] == expected
    # An account with a mapping serves what it maps, not its whole family.
    r = await gw.http.post("/claude/v1/messages", json={**BODY, "model": "gpt-5"}, headers=auth(gw.key))
    assert r.status_code == 503 and len(up.codex.requests) == 3


async def test_models_list_with_wildcards_names_what_is_served(gw: Harness, up: Upstreams):
    await BY_NAME["chat"].add(gw, {}, models=["claude-opus-*"])
    r = await gw.http.post("/claude/v1/messages", json={**BODY, "model": "claude-opus-4-1"}, headers=auth(gw.key))
    assert r.status_code == 200 and up.openai.requests[-1].json["model"] == "claude-opus-4-1"
    r = await gw.http.post("/claude/v1/messages", json=BODY, headers=auth(gw.key))
    assert r.status_code == 503 and "no enabled claude account serves model claude-sonnet-4-5" in r.text


async def test_a_model_goes_to_the_platform_of_its_family(gw: Harness, up: Upstreams):
    await gw.add_account(priority=1)  # Claude, no models listed: it serves any name on /claude
    await BY_NAME["chat"].add(gw, {}, priority=5)  # OpenAI, no models listed: the gpt family
    await BY_NAME["gemini-api"].add(gw, {}, priority=5)
    asked = {}
    for model in ["gpt-4.1", "gemini-2.5-pro", "deepseek-chat", MODEL]:
        r = await gw.http.post("/claude/v1/messages", json={**BODY, "model": model}, headers=auth(gw.key))
        assert r.status_code == 200, r.text
        asked[model] = (len(up.anthropic.requests), len(up.openai.requests), len(up.gemini.requests))
    assert asked == {"gpt-4.1": (0, 1, 0), "gemini-2.5-pro": (0, 1, 1), "deepseek-chat": (1, 1, 1),
                     MODEL: (2, 1, 1)}
    assert up.openai.requests[0].json["model"] == "gpt-4.1"

    # A key that may reach Claude accounts only: gpt-4.1 goes to Claude, as before this rule.
    claude_only, _ = await gw.add_key(platforms=["claude"])
    r = await gw.http.post("/claude/v1/messages", json={**BODY, "model": "gpt-4.1"}, headers=auth(claude_only))
    assert r.status_code == 200 and len(up.anthropic.requests) == 3 and len(up.openai.requests) == 1


async def test_a_keys_platforms_name_the_accounts_it_may_reach(gw: Harness, up: Upstreams):
    await gw.add_account()
    await BY_NAME["chat"].add(gw, {"claude-*": "gpt-4.1"}, priority=100)
    openai_only, _ = await gw.add_key(platforms=["openai"])
    r = await gw.http.post("/claude/v1/messages", json=BODY, headers=auth(openai_only))
    assert r.status_code == 200, r.text
    assert up.anthropic.requests == [] and len(up.openai.requests) == 1
    gemini_only, _ = await gw.add_key(platforms=["gemini"])
    r = await gw.http.post("/claude/v1/messages", json=BODY, headers=auth(gemini_only))
    assert r.status_code == 403 and "may not use the claude, openai platform" in r.json()["error"]["message"]
    assert r.json()["error"]["type"] == "permission_error"


async def test_a_conversation_stays_on_the_translating_account_that_served_it(gw: Harness, up: Upstreams):
    await BY_NAME["chat"].add(gw, {"claude-*": "gpt-4.1"})
    await BY_NAME["gemini-api"].add(gw, {"claude-*": "gemini-2.5-flash"})
    session = {**auth(gw.key), "x-claude-code-session-id": "0b6a7c1e-5a1f-4d8e-9a62-3c1f7e2d9b10"}
    for _ in range(4):
        r = await gw.http.post("/claude/v1/messages", json=BODY, headers=session)
        assert r.status_code == 200
    assert sorted([len(up.openai.requests), len(up.gemini.requests)]) == [0, 4]


CLAUDE_CODE_REQUEST = Path(__file__).parents[1] / "fixtures" / "claude_code_messages_request.json"


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
async def test_claude_codes_own_request_is_served(gw: Harness, up: Upstreams, target: Target):
    # What Claude Code sent (24 tools, ~75 KB), with its query and headers, streamed.
    body = json.loads(CLAUDE_CODE_REQUEST.read_text())
    await target.add(gw, {"claude-*": UPSTREAM_MODEL[target.name]})
    headers = {**auth(gw.key), "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
               "user-agent": "claude-cli/2.1.197 (external, cli)", "x-app": "cli"}
    r = await gw.http.post("/claude/v1/messages?beta=true", json=body, headers=headers)
    assert r.status_code == 200, r.text
    evs = events(r)
    assert evs[0][0] == "message_start" and evs[-1][0] == "message_stop"
    assert evs[-2][1]["delta"]["stop_reason"] == "tool_use"  # the fakes call the first tool offered
    [seen] = target.seen(up)
    assert "beta" not in seen.query and "anthropic-beta" not in seen.headers
    [record] = await gw.records()
    assert record.status == 200 and tokens(record) == target.tokens


async def test_a_bridged_request_costs_what_the_serving_model_costs(gw: Harness, up: Upstreams):
    # A Claude name served by gpt-4o is priced at gpt-4o's list prices, not at the
    # Claude model's; the record keeps the name the client asked for.
    target = next(t for t in TARGETS if t.name == "chat")
    await target.add(gw, {"claude-*": "gpt-4o"})
    r = await gw.http.post("/claude/v1/messages", json=BODY, headers=auth(gw.key))
    assert r.status_code == 200, r.text
    [record] = await gw.records()
    assert record.model == MODEL and record.priced
    prices = PriceTable.load(None)
    assert record.cost_usd == pytest.approx(prices.cost("gpt-4o", usage_of(record)).usd)
    assert record.cost_usd != pytest.approx(prices.cost(MODEL, usage_of(record)).usd)


def usage_of(record: Any) -> Usage:
    return Usage(input_tokens=record.input_tokens, output_tokens=record.output_tokens,
                 cache_creation_tokens=record.cache_creation_tokens, cache_read_tokens=record.cache_read_tokens)


def sent_limit(target: Target, seen: Any) -> Any:
    """The output limit a translated request carried, in the target's own field."""
    if target.type == "gemini-oauth":
        return seen.json["request"]["generationConfig"]["maxOutputTokens"]
    if target.platform == "gemini":
        return seen.json["generationConfig"]["maxOutputTokens"]
    return seen.json["max_output_tokens" if target.type == "openai-responses" else "max_completion_tokens"]


# The fakes refuse a limit above the model's cap with the upstream's own 400, as
# gpt-4o refuses Claude Code's 64000: these pass only because the limit is clamped.
CAPPED = [("chat", "gpt-4o", 16384), ("azure", "gpt-4o-mini", 16384), ("responses-key", "gpt-4o", 16384),
          ("gemini-api", "gemini-2.0-flash", 8192), ("gemini-oauth", "gemini-2.0-flash", 8192)]


@pytest.mark.parametrize(("name", "upstream_model", "cap"), CAPPED, ids=[c[0] for c in CAPPED])
async def test_claude_codes_limit_is_clamped_to_the_serving_models_cap(
        gw: Harness, up: Upstreams, name: str, upstream_model: str, cap: int):
    target = BY_NAME[name]
    body = json.loads(CLAUDE_CODE_REQUEST.read_text())
    assert body["max_tokens"] == 64000
    await target.add(gw, {"claude-*": upstream_model})
    r = await gw.http.post("/claude/v1/messages?beta=true", json=body, headers=auth(gw.key))
    assert r.status_code == 200, r.text
    assert events(r)[-1][0] == "message_stop"
    # A limit below the cap goes as the client sent it.
    r = await gw.http.post("/claude/v1/messages", json=BODY, headers=auth(gw.key))
    assert r.status_code == 200, r.text
    # (Code Assist's record lists streamed calls after whole ones: compared in order of size.)
    assert sorted(sent_limit(target, seen) for seen in target.seen(up)) == [BODY["max_tokens"], cap]


@asynccontextmanager
async def caps_harness(up: Upstreams, tmp_path: Path, entries: dict[str, Any]) -> AsyncIterator[Harness]:
    """A gateway whose operator caps file holds `entries`, with the chat account's upstream."""
    path = tmp_path / "caps.json"
    path.write_text(json.dumps({"_source": "test", **entries}))
    async with start_harness(up.transport(), seed_account=False,
                             upstream=UpstreamURLs(anthropic=UPSTREAM, openai=OPENAI_BASE),
                             output_caps_file=str(path)) as h:
        yield h


async def test_an_operator_caps_file_replaces_and_adds_caps(up: Upstreams, tmp_path: Path, anyio_backend: str):
    async with caps_harness(up, tmp_path, {"gpt-4.1*": 1000, "my-relay-model": 2000}) as h:
        await BY_NAME["chat"].add(h, {"claude-opus-*": "gpt-4.1", "claude-sonnet-*": "my-relay-model",
                                      "claude-haiku-*": "gpt-5"})
        for model in ("claude-opus-4-8", "claude-sonnet-4-5", "claude-haiku-4-5"):
            r = await h.http.post("/claude/v1/messages", json={**BODY, "model": model, "max_tokens": 64000},
                                  headers=auth(h.key))
            assert r.status_code == 200, r.text
    replaced, added, packaged = (s.json["max_completion_tokens"] for s in up.openai.requests)
    assert (replaced, added, packaged) == (1000, 2000, 64000)  # gpt-5's packaged cap, 128000, is above


async def test_an_unclamped_limit_above_the_cap_is_the_upstreams_400_in_anthropics_shape(
        up: Upstreams, tmp_path: Path, anyio_backend: str):
    # An operator file that lifts gpt-4o's cap (null), on an upstream that keeps it:
    # the upstream's own refusal comes back, translated, as every Claude Code
    # request on gpt-4o did before the clamp.
    async with caps_harness(up, tmp_path, {"gpt-4o*": None}) as h:
        await BY_NAME["chat"].add(h, {"claude-*": "gpt-4o"})
        r = await h.http.post("/claude/v1/messages", json={**BODY, "max_tokens": 64000}, headers=auth(h.key))
    assert r.status_code == 400
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"
    assert "max_completion_tokens is too large: 64000" in r.json()["error"]["message"]
