"""ccr accounts through /claude: `ccr,<model>` reaches only them, stripped; other models never do."""

from __future__ import annotations

import pytest

from aiproxy.accounts import ACCOUNT_TYPES
from aiproxy.scheduler.model_prefix import ModelPrefixes
from tests.fakes.anthropic_upstream import FakeAnthropic, stream_events
from tests.harness import UPSTREAM_KEY, Harness

pytestmark = pytest.mark.anyio

CCR_BASE = "http://ccr.test:3456"
CCR_KEY = "ccr-relay-key"
BODY = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}


def headers(key: str) -> dict[str, str]:
    return {"x-api-key": key, "anthropic-version": "2023-06-01"}


async def add_ccr(h: Harness, **fields: object) -> int:
    fields.setdefault("name", "ccr-1")
    fields.setdefault("base_url", CCR_BASE)
    # A better priority than the harness's console account: it must still never get plain models.
    fields.setdefault("priority", 1)
    account = await h.add_account(credentials={"api_key": CCR_KEY}, platform="claude", type="ccr", **fields)  # type: ignore[arg-type]
    assert account.id is not None
    return account.id


def test_route_model():
    # The prefixes the registry declares (ccr's "ccr,"), applied as the relay applies them.
    route_model = ModelPrefixes(ACCOUNT_TYPES.model_prefixes()).route
    types = ["claude-console", "ccr", "openai"]
    assert route_model("ccr,deepseek-chat", types) == ("deepseek-chat", ["ccr"])
    assert route_model("deepseek-chat", types) == ("deepseek-chat", ["claude-console", "openai"])
    assert route_model(None, types) == (None, ["claude-console", "openai"])
    assert route_model("openrouter,ccr,x", types)[1] == ["claude-console", "openai"]


async def test_prefixed_model_reaches_the_ccr_account_stripped_with_both_auth_headers(
    harness: Harness, fake_anthropic: FakeAnthropic
):
    ccr_id = await add_ccr(harness)
    r = await harness.http.post("/claude/v1/messages?beta=true", json={**BODY, "model": "ccr,claude-sonnet-4-5"},
                                headers=headers(harness.key))
    assert r.status_code == 200, r.text
    [seen] = fake_anthropic.requests
    assert seen.headers["host"] == "ccr.test:3456"
    assert seen.path == "/v1/messages" and seen.query == "beta=true"
    assert seen.json == BODY  # the prefix removed, nothing else changed
    assert seen.headers["x-api-key"] == CCR_KEY
    assert seen.headers["authorization"] == f"Bearer {CCR_KEY}"
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert seen.headers["accept-encoding"] == "identity"
    assert harness.key not in str(seen.headers)

    [rec] = await harness.records()
    assert rec.account_id == ccr_id and rec.model == "claude-sonnet-4-5"  # recorded without the prefix
    assert rec.status == 200 and rec.input_tokens == 12 and rec.output_tokens == 7


async def test_prefixed_stream_and_count_tokens(harness: Harness, fake_anthropic: FakeAnthropic):
    await add_ccr(harness)
    async with harness.http.stream("POST", "/claude/v1/messages", headers=headers(harness.key),
                                   json={**BODY, "model": "ccr,claude-sonnet-4-5", "stream": True}) as r:
        body = b"".join([chunk async for chunk in r.aiter_raw()])
    assert body == b"".join(stream_events("claude-sonnet-4-5"))
    r = await harness.http.post("/claude/v1/messages/count_tokens", headers=headers(harness.key),
                                json={"model": "ccr,claude-sonnet-4-5", "messages": []})
    assert r.json() == {"input_tokens": 42}
    assert [s.headers["host"] for s in fake_anthropic.requests] == ["ccr.test:3456"] * 2
    assert [s.json["model"] for s in fake_anthropic.requests] == ["claude-sonnet-4-5"] * 2
    recs = await harness.records()
    assert [(r.endpoint, r.model, r.stream) for r in recs] == [
        ("messages", "claude-sonnet-4-5", True), ("count_tokens", "claude-sonnet-4-5", False)]
    assert (recs[0].input_tokens, recs[0].output_tokens) == (12, 7)


async def test_plain_models_and_model_lists_never_reach_ccr(harness: Harness, fake_anthropic: FakeAnthropic):
    ccr_id = await add_ccr(harness)
    r = await harness.http.post("/claude/v1/messages", json=BODY, headers=headers(harness.key))
    assert r.status_code == 200
    r = await harness.http.get("/claude/v1/models", headers=headers(harness.key))
    assert r.status_code == 200
    assert [s.headers["host"] for s in fake_anthropic.requests] == ["upstream.test"] * 2
    assert all(s.headers["x-api-key"] == UPSTREAM_KEY and "authorization" not in s.headers
               for s in fake_anthropic.requests)
    assert fake_anthropic.requests[0].json == BODY
    assert all(rec.account_id != ccr_id for rec in await harness.records())


async def test_plain_model_with_only_a_ccr_account_is_503(harness: Harness, fake_anthropic: FakeAnthropic):
    [console] = await harness.stores.accounts.list()
    console.enabled = False  # only the ccr account is left
    await harness.stores.accounts.update(console)
    await add_ccr(harness)
    r = await harness.http.post("/claude/v1/messages", json=BODY, headers=headers(harness.key))
    assert r.status_code == 503 and "claude-sonnet-4-5" in r.text
    assert fake_anthropic.requests == []


async def test_prefixed_model_without_a_ccr_account_is_503(harness: Harness, fake_anthropic: FakeAnthropic):
    r = await harness.http.post("/claude/v1/messages", json={**BODY, "model": "ccr,claude-sonnet-4-5"},
                                headers=headers(harness.key))
    assert r.status_code == 503 and "ccr,claude-sonnet-4-5" in r.text
    assert fake_anthropic.requests == []
    [rec] = await harness.records()
    assert rec.status == 503 and rec.model == "claude-sonnet-4-5"


async def test_ccr_models_and_mapping_use_the_stripped_name(harness: Harness, fake_anthropic: FakeAnthropic):
    await add_ccr(harness, models=["deepseek-chat"], model_mapping={"ds": "deepseek-reasoner"})
    for model, upstream_model in [("ccr,deepseek-chat", "deepseek-chat"), ("ccr,ds", "deepseek-reasoner")]:
        r = await harness.http.post("/claude/v1/messages", json={**BODY, "model": model}, headers=headers(harness.key))
        assert r.status_code == 200, r.text
        assert fake_anthropic.requests[-1].json["model"] == upstream_model
    r = await harness.http.post("/claude/v1/messages", json={**BODY, "model": "ccr,other"}, headers=headers(harness.key))
    assert r.status_code == 503
    assert [rec.model for rec in await harness.records()] == ["deepseek-chat", "ds", "other"]


async def test_key_model_permissions_see_the_name_as_sent(harness: Harness, fake_anthropic: FakeAnthropic):
    await add_ccr(harness)
    ccr_only, _ = await harness.add_key(models=["ccr,*"])
    plain_only, _ = await harness.add_key(models=["claude-*"])
    prefixed = {**BODY, "model": "ccr,claude-sonnet-4-5"}
    r = await harness.http.post("/claude/v1/messages", json=prefixed, headers=headers(ccr_only))
    assert r.status_code == 200
    r = await harness.http.post("/claude/v1/messages", json=BODY, headers=headers(ccr_only))
    assert r.status_code == 403
    r = await harness.http.post("/claude/v1/messages", json=prefixed, headers=headers(plain_only))
    assert r.status_code == 403 and "ccr,claude-sonnet-4-5" in r.text
    assert len(fake_anthropic.requests) == 1


async def test_ccr_account_without_base_url_answers_502(harness: Harness, fake_anthropic: FakeAnthropic):
    await add_ccr(harness, base_url=None)
    r = await harness.http.post("/claude/v1/messages", json={**BODY, "model": "ccr,x"}, headers=headers(harness.key))
    assert r.status_code == 502 and r.json()["type"] == "error" and "base_url" in r.text
    assert fake_anthropic.requests == []


async def test_openai_route_with_ccr_prefix_finds_no_account(harness: Harness):
    r = await harness.http.post("/openai/v1/chat/completions", json={"model": "ccr,gpt-4o", "messages": []},
                                headers={"authorization": f"Bearer {harness.key}"})
    assert r.status_code == 503
