"""The usage record's wire formats: the client's (the route's) and the one each
attempt sent upstream, translated or native, across failover both ways."""

from __future__ import annotations

import pytest

from aiproxy.stores.protocols import UsageFilter
from tests.harness import Harness
from tests.routes.test_bridged_messages import BODY, BY_NAME, MODEL, TARGETS, Target, Upstreams, auth, gw, up

pytestmark = pytest.mark.anyio

__all__ = ["gw", "up"]  # the fixtures, imported for pytest

# What each kind of translating account is sent.
SENT = {"chat": "openai-chat", "azure": "openai-chat", "responses-key": "openai-responses",
        "codex": "openai-responses", "gemini-api": "gemini", "gemini-oauth": "gemini"}


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
async def test_a_translated_request_records_both_formats(gw: Harness, up: Upstreams, target: Target):
    await target.add(gw, {"claude-*": "gemini-2.5-flash" if target.platform == "gemini" else "gpt-5"})
    r = await gw.http.post("/claude/v1/messages", json=BODY, headers=auth(gw.key))
    assert r.status_code == 200, r.text
    [record] = await gw.records()
    assert (record.client_format, record.upstream_format) == ("anthropic-messages", SENT[target.name])
    assert record.bridged
    assert (await gw.stores.usage.query(UsageFilter(bridged=True)))[1] == 1


async def test_native_requests_record_the_routes_format(gw: Harness, up: Upstreams):
    await gw.add_account()
    await BY_NAME["chat"].add(gw, {})
    await BY_NAME["gemini-api"].add(gw, {})
    chat = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "Say hello"}]}
    gemini = {"contents": [{"role": "user", "parts": [{"text": "Say hello"}]}]}
    asked = [
        ("/claude/v1/messages", BODY),
        ("/claude/v1/messages/count_tokens", BODY),
        ("/openai/v1/chat/completions", chat),
        ("/openai/v1/responses", {"model": "gpt-4.1", "input": "Say hello"}),
        ("/gemini/v1beta/models/gemini-2.5-flash:generateContent", gemini),
        ("/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent", gemini),
    ]
    for path, body in asked:
        r = await gw.http.post(path, json=body, headers=auth(gw.key))
        assert r.status_code == 200, (path, r.text)
    r = await gw.http.get("/openai/v1/models", headers=auth(gw.key))
    assert r.status_code == 200
    records = await gw.records()
    assert [(rec.endpoint, rec.client_format, rec.upstream_format) for rec in records] == [
        ("messages", "anthropic-messages", "anthropic-messages"),
        ("count_tokens", "anthropic-messages", "anthropic-messages"),
        ("chat_completions", "openai-chat", "openai-chat"),
        ("responses", "openai-responses", "openai-responses"),
        ("generateContent", "gemini", "gemini"),
        ("streamGenerateContent", "gemini", "gemini"),
        ("models", "openai-chat", "openai-chat"),
    ]
    assert not any(rec.bridged for rec in records)
    assert (await gw.stores.usage.query(UsageFilter(bridged=False)))[1] == len(records)


async def test_the_gemini_chat_route_records_a_chat_client_on_gemini(gw: Harness, up: Upstreams):
    # The route translates by itself (formats/gemini_chat), on the Gemini platform's own accounts.
    await BY_NAME["gemini-api"].add(gw, {})
    chat = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "Say hello"}]}
    for stream in (False, True):
        r = await gw.http.post("/gemini/v1/chat", json={**chat, "stream": stream}, headers=auth(gw.key))
        assert r.status_code == 200, r.text
    records = await gw.records()
    assert [(rec.client_format, rec.upstream_format, rec.bridged) for rec in records] == [
        ("openai-chat", "gemini", True)] * 2


async def test_failover_native_to_translated_records_the_serving_attempt(gw: Harness, up: Upstreams):
    failing = await gw.add_account(priority=1, model_mapping={"claude-*": "fail-429"})
    serving = await BY_NAME["chat"].add(gw, {"claude-*": "gpt-4.1"}, priority=2)
    r = await gw.http.post("/claude/v1/messages", json=BODY, headers=auth(gw.key))
    assert r.status_code == 200, r.text
    assert len(up.anthropic.requests) == 1 and len(up.openai.requests) == 1
    [record] = await gw.records()
    assert failing.id != serving and record.account_id == serving
    assert (record.client_format, record.upstream_format) == ("anthropic-messages", "openai-chat")


async def test_failover_translated_to_native_records_the_serving_attempt(gw: Harness, up: Upstreams):
    await BY_NAME["chat"].add(gw, {"claude-*": "fail-429"}, priority=1)
    serving = await gw.add_account(priority=2)
    r = await gw.http.post("/claude/v1/messages", json=BODY, headers=auth(gw.key))
    assert r.status_code == 200, r.text
    assert len(up.openai.requests) == 1 and len(up.anthropic.requests) == 1
    [record] = await gw.records()
    assert record.account_id == serving.id and record.priced
    assert (record.client_format, record.upstream_format) == ("anthropic-messages", "anthropic-messages")
    assert not record.bridged


async def test_no_account_records_no_upstream_format(gw: Harness, up: Upstreams):
    r = await gw.http.post("/claude/v1/messages", json=BODY, headers=auth(gw.key))
    assert r.status_code == 503
    [record] = await gw.records()
    assert (record.client_format, record.upstream_format, record.bridged) == ("anthropic-messages", "", False)


async def test_a_refused_translation_records_what_was_tried(gw: Harness, up: Upstreams):
    await BY_NAME["chat"].add(gw, {"claude-*": "gpt-4.1"})
    bad = {**BODY, "model": MODEL, "tools": [{"name": "read_file", "input_schema": "not a schema"}]}
    r = await gw.http.post("/claude/v1/messages", json=bad, headers=auth(gw.key))
    assert r.status_code == 400 and up.openai.requests == []
    [record] = await gw.records()
    assert (record.status, record.client_format, record.upstream_format) == (400, "anthropic-messages", "openai-chat")


async def test_a_request_refused_before_its_route_has_no_formats(gw: Harness, up: Upstreams):
    # The Gemini endpoint refuses a model that cannot be a path segment before the relay sees it.
    r = await gw.http.post("/gemini/v1beta/models/bad%2F..:generateContent", json={}, headers=auth(gw.key))
    assert r.status_code == 400
    [record] = await gw.records()
    assert (record.status, record.client_format, record.upstream_format) == (400, "", "")
