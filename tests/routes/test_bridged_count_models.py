"""/claude/v1/messages/count_tokens and GET /claude/v1/models across platforms (issue 12):
counts asked of Gemini (API key and Code Assist) or estimated here for OpenAI chat and
Responses accounts, refused as /v1/messages refuses; model lists merged from the Claude
upstream's and what translating accounts serve the key, or made here without a Claude account."""

from __future__ import annotations

import json
from typing import Any

import anthropic.types
import pytest

from aiproxy.formats.bridges.anthropic_count import estimate
from tests.fakes.gemini_upstream import words
from tests.harness import Harness
from tests.routes import test_bridged_messages
from tests.routes.test_bridged_messages import (
    BY_NAME,
    CLAUDE_CODE_REQUEST,
    TOOLS,
    Upstreams,
    auth,
)

pytestmark = pytest.mark.anyio

# The messages tests' fixtures: the same gateway and fake upstreams.
up = test_bridged_messages.up
gw = test_bridged_messages.gw

MODEL = "claude-sonnet-4-5"
COUNT_BODY = {"model": MODEL, "system": "Be brief and kind.", "tools": TOOLS,
              "messages": [{"role": "user", "content": "Say hello to the world"}]}
COUNT_PATH = "/claude/v1/messages/count_tokens"
OPENAI_TARGETS = ["chat", "azure", "responses-key", "codex"]


def _counted(request: dict[str, Any]) -> int:
    return sum(words(request.get(f)) for f in ("contents", "systemInstruction", "tools"))


async def test_count_tokens_on_a_gemini_api_account_asks_gemini_for_the_whole_request(gw: Harness, up: Upstreams):
    account = await BY_NAME["gemini-api"].add(gw, {"claude-*": "gemini-2.5-flash"})
    r = await gw.http.post(COUNT_PATH, json=COUNT_BODY, headers=auth(gw.key))
    assert r.status_code == 200, r.text
    [seen] = up.gemini.requests
    assert seen.path == "/v1beta/models/gemini-2.5-flash:countTokens"
    sent = seen.json["generateContentRequest"]
    assert sent["model"] == "models/gemini-2.5-flash" and set(seen.json) == {"generateContentRequest"}
    # The system instruction and the tools were counted with the contents.
    assert r.json() == {"input_tokens": _counted(sent)}
    assert r.json()["input_tokens"] > words(sent["contents"]) + words("Be brief and kind.")
    [rec] = await gw.records()
    assert (rec.endpoint, rec.status, rec.account_id, rec.input_tokens, rec.output_tokens) == (
        "count_tokens", 200, account, 0, 0)
    assert (rec.client_format, rec.upstream_format, rec.cost_usd) == ("anthropic-messages", "gemini", 0)


async def test_count_tokens_on_a_code_assist_account_counts_system_and_tools_in_the_contents(
        gw: Harness, up: Upstreams):
    await BY_NAME["gemini-oauth"].add(gw, {"claude-*": "gemini-2.5-flash"})
    r = await gw.http.post(COUNT_PATH, json=COUNT_BODY, headers=auth(gw.key))
    assert r.status_code == 200, r.text
    [seen] = up.code_assist.of("countTokens")
    request = seen.json["request"]
    assert request["model"] == "models/gemini-2.5-flash"
    assert request["contents"][0]["parts"][0] == {"text": "Be brief and kind."}
    assert "read_file" in request["contents"][0]["parts"][1]["text"]
    assert r.json() == {"input_tokens": words(request["contents"])}
    assert up.code_assist.of("loadCodeAssist") == []  # a count needs no project


@pytest.mark.parametrize("name", OPENAI_TARGETS)
async def test_count_tokens_on_openai_accounts_is_estimated_with_no_upstream_call(
        gw: Harness, up: Upstreams, name: str):
    account = await BY_NAME[name].add(gw, {"claude-*": "gpt-4.1"}, max_concurrency=1)
    r = await gw.http.post(COUNT_PATH, json=COUNT_BODY, headers=auth(gw.key))
    assert r.status_code == 200, r.text
    assert r.json() == {"input_tokens": estimate(COUNT_BODY)}
    assert up.openai.requests == [] and up.azure.requests == [] and up.codex.requests == []
    [rec] = await gw.records()
    assert (rec.endpoint, rec.status, rec.account_id, rec.input_tokens) == ("count_tokens", 200, account, 0)
    # The format the account's pair speaks, though the count was answered here.
    assert (rec.client_format, rec.upstream_format) == (
        "anthropic-messages", "openai-chat" if name in ("chat", "azure") else "openai-responses")
    assert await gw.gateway.state.held(f"account:{account}") == 0


@pytest.mark.parametrize("name", ["chat", "codex", "gemini-api"])
async def test_a_count_refuses_what_messages_refuses_in_anthropics_shape(gw: Harness, up: Upstreams, name: str):
    await BY_NAME[name].add(gw, {"claude-*": "gpt-4.1" if name != "gemini-api" else "gemini-2.5-flash"})
    bad = {**COUNT_BODY, "messages": [{"role": "user", "content": [{"type": "bogus"}]}]}
    for path in ("/claude/v1/messages", COUNT_PATH):
        r = await gw.http.post(path, json={**bad, "max_tokens": 10}, headers=auth(gw.key))
        assert r.status_code == 400, r.text
        assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"
        assert "messages[0].content[0]" in r.json()["error"]["message"]
    assert up.openai.requests == [] and up.codex.requests == [] and up.gemini.requests == []
    recs = await gw.records()
    assert [(r.endpoint, r.status) for r in recs] == [("messages", 400), ("count_tokens", 400)]


async def test_a_gemini_error_comes_back_in_anthropics_shape_and_fails_over(gw: Harness, up: Upstreams):
    await BY_NAME["gemini-api"].add(gw, {"claude-*": "fail-429"}, priority=1)
    r = await gw.http.post(COUNT_PATH, json=COUNT_BODY, headers=auth(gw.key))
    assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limit_error"
    assert "fake 429" in r.json()["error"]["message"]
    await gw.gateway.scheduler.reset(1)
    await BY_NAME["chat"].add(gw, {"claude-*": "gpt-4.1"}, name="chat-2", priority=2)
    r = await gw.http.post(COUNT_PATH, json=COUNT_BODY, headers=auth(gw.key))
    assert r.status_code == 200 and r.json() == {"input_tokens": estimate(COUNT_BODY)}


async def test_count_tokens_goes_to_the_native_account_first_within_a_priority(gw: Harness, up: Upstreams):
    await gw.add_account(priority=5)
    await BY_NAME["chat"].add(gw, {"claude-*": "gpt-4.1"}, priority=5)
    r = await gw.http.post(COUNT_PATH, json=COUNT_BODY, headers=auth(gw.key))
    assert r.json() == {"input_tokens": 42} and len(up.anthropic.requests) == 1  # the fake Claude's count
    await BY_NAME["gemini-api"].add(gw, {"claude-*": "gemini-2.5-flash"}, priority=1)
    other = {**COUNT_BODY, "messages": [{"role": "user", "content": "Another conversation"}]}  # not the bound one
    r = await gw.http.post(COUNT_PATH, json=other, headers=auth(gw.key))
    assert r.json() == {"input_tokens": _counted(up.gemini.requests[0].json["generateContentRequest"])}


async def test_a_count_for_a_model_no_account_serves_is_a_503(gw: Harness, up: Upstreams):
    await BY_NAME["chat"].add(gw, {"claude-opus-*": "gpt-5"})
    r = await gw.http.post(COUNT_PATH, json=COUNT_BODY, headers=auth(gw.key))
    assert r.status_code == 503 and "serves model claude-sonnet-4-5" in r.text


# --- GET /claude/v1/models ------------------------------------------------------------


def ids(r: Any) -> list[str]:
    assert r.status_code == 200, r.text
    return [m["id"] for m in r.json()["data"]]


async def _translating_accounts(gw: Harness) -> None:
    await BY_NAME["chat"].add(gw, {"claude-sonnet-4-5": "gpt-4.1", "claude-opus-*": "gpt-5"},
                              models=["gpt-4.1", "gpt-4.1", "o3*"], priority=1)
    await BY_NAME["gemini-oauth"].add(gw, {}, priority=2)  # no lists: its type's known models
    await BY_NAME["gemini-api"].add(gw, {}, priority=3)  # no lists, its type knows none: nothing to show
    await BY_NAME["codex"].add(gw, {"claude-haiku-4-5": "gpt-5-codex"}, priority=4, enabled=False)


async def test_models_without_a_claude_account_are_listed_here(gw: Harness, up: Upstreams):
    await _translating_accounts(gw)
    r = await gw.http.get("/claude/v1/models", headers=auth(gw.key))
    expected = ["gpt-4.1", "claude-sonnet-4-5", "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"]
    assert ids(r) == expected  # plain names only, each once, in the accounts' order; the disabled one left out
    for entry in r.json()["data"]:
        anthropic.types.ModelInfo.model_validate(entry)
        assert entry["type"] == "model" and entry["display_name"] == entry["id"]
    assert (r.json()["has_more"], r.json()["first_id"], r.json()["last_id"]) == (False, expected[0], expected[-1])
    assert up.anthropic.requests == []
    [rec] = await gw.records()
    assert (rec.endpoint, rec.status, rec.account_id) == ("models", 200, None)


async def test_no_account_at_all_is_an_empty_list_not_a_503(gw: Harness, up: Upstreams):
    r = await gw.http.get("/claude/v1/models", headers=auth(gw.key))
    assert r.json() == {"data": [], "has_more": False, "first_id": None, "last_id": None}


async def test_the_claude_upstreams_list_comes_first_then_the_translated_models(gw: Harness, up: Upstreams):
    await gw.add_account()
    await _translating_accounts(gw)
    r = await gw.http.get("/claude/v1/models", headers=auth(gw.key))
    # claude-sonnet-4-5 is the upstream's (its own display name and date) and not listed twice.
    assert ids(r) == ["claude-sonnet-4-5", "gpt-4.1", "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"]
    assert r.json()["data"][0]["display_name"] == "Claude Sonnet 4.5"
    assert (r.json()["first_id"], r.json()["last_id"]) == ("claude-sonnet-4-5", "gemini-2.5-flash-lite")
    assert [s.path for s in up.anthropic.requests] == ["/v1/models"]


async def test_the_list_is_narrowed_by_the_keys_models_platforms_and_accounts(gw: Harness, up: Upstreams):
    await gw.add_account()
    await _translating_accounts(gw)
    gpt_only, _ = await gw.add_key(models=["gpt-*", "claude-sonnet-*"])
    assert ids(await gw.http.get("/claude/v1/models", headers=auth(gpt_only))) == ["claude-sonnet-4-5", "gpt-4.1"]
    claude_only, _ = await gw.add_key(platforms=["claude"])
    assert ids(await gw.http.get("/claude/v1/models", headers=auth(claude_only))) == ["claude-sonnet-4-5"]
    # No Claude account in its reach: the upstream is not asked.
    asked = len(up.anthropic.requests)
    gemini_only, _ = await gw.add_key(platforms=["gemini"])
    assert ids(await gw.http.get("/claude/v1/models", headers=auth(gemini_only))) == [
        "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"]
    # A key bound to one account (no shared fallback) sees that account's models only.
    chat = next(a for a in gw.gateway.pool.accounts if a.account.name == "chat")
    bound, _ = await gw.add_key(account_id=chat.id)
    assert ids(await gw.http.get("/claude/v1/models", headers=auth(bound))) == ["gpt-4.1", "claude-sonnet-4-5"]
    assert len(up.anthropic.requests) == asked


@pytest.mark.parametrize("name", ["chat", "azure", "responses-key", "codex", "gemini-api", "gemini-oauth"])
async def test_claude_codes_own_request_is_counted_on_every_translating_account(
        gw: Harness, up: Upstreams, name: str):
    # What Claude Code sent (24 tools, ~75 KB), as its count_tokens call would send it.
    body = json.loads(CLAUDE_CODE_REQUEST.read_text())
    body = {k: v for k, v in body.items() if k not in ("max_tokens", "stream")}
    upstream = "gemini-2.5-flash" if name.startswith("gemini") else "gpt-4.1"
    await BY_NAME[name].add(gw, {"claude-*": upstream})
    r = await gw.http.post(COUNT_PATH + "?beta=true", json=body, headers=auth(gw.key))
    assert r.status_code == 200, r.text
    counted = r.json()["input_tokens"]
    if name == "gemini-api":
        assert counted == _counted(up.gemini.requests[0].json["generateContentRequest"])
    elif name == "gemini-oauth":
        [seen] = up.code_assist.of("countTokens")
        assert counted == words(seen.json["request"]["contents"])
    else:
        assert counted == estimate(body)
