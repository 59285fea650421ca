"""Every usage record carries its cost at list price, computed when the meter makes it.

Prices (USD per 1M tokens) from aiproxy/pricing/prices.json; each expected cost
is worked out by hand in a comment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import AsyncIterator

import httpx
import pytest

from aiproxy import MemoryStores, create_app
from aiproxy.pricing import PriceFileError
from aiproxy.settings import Settings, UpstreamURLs
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.openai_upstream import FakeOpenAI
from tests.harness import UPSTREAM, Harness, gateway_settings, start_harness
from tests.routes.test_gemini import BODY as GEMINI_BODY
from tests.routes.test_gemini import gemini_harness, goog, url
from tests.routes.test_openai import CHAT, add_openai_account, auth, tokens

pytestmark = pytest.mark.anyio

CLAUDE = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
# The fake's USAGE is input 12, output 7, cache writes 100, cache reads 200;
# of the writes, 60 with the 1h TTL and 40 with the 5m one.
SPLIT = {"ephemeral_5m_input_tokens": 40, "ephemeral_1h_input_tokens": 60}
# claude-sonnet-4-5: input 3, output 15, cache_write_5m 3.75, cache_write_1h 6, cache_read 0.30
#   12 * 3 + 40 * 3.75 + 60 * 6 + 200 * 0.30 + 7 * 15
#   = 36 + 150 + 360 + 60 + 105 = 711 per 1M tokens -> $0.000711
CLAUDE_COST = 0.000711
# Without the split, all 100 writes at the 5m rate: 36 + 375 + 60 + 105 = 576 -> $0.000576
CLAUDE_COST_5M_ONLY = 0.000576


def claude_headers(key: str) -> dict[str, str]:
    return {"x-api-key": key, "anthropic-version": "2023-06-01"}


@pytest.fixture
async def split_harness(anyio_backend: str) -> AsyncIterator[Harness]:
    fake = FakeAnthropic(cache_creation=SPLIT)
    async with start_harness(httpx.ASGITransport(app=fake.app())) as h:
        yield h


@pytest.mark.parametrize("stream", [False, True])
async def test_claude_record_cost_with_1h_cache_writes(split_harness: Harness, stream: bool):
    h = split_harness
    async with h.http.stream("POST", "/claude/v1/messages", json={**CLAUDE, "stream": stream},
                             headers=claude_headers(h.key)) as r:
        assert r.status_code == 200
        await r.aread()
    [rec] = await h.records()
    assert (rec.input_tokens, rec.output_tokens, rec.cache_creation_tokens, rec.cache_read_tokens) == (12, 7, 100, 200)
    assert rec.cache_creation_1h_tokens == 60
    assert rec.model == "claude-sonnet-4-5" and rec.stream is stream
    assert rec.cost_usd == CLAUDE_COST and rec.priced is True


async def test_claude_without_the_split_prices_writes_at_the_5m_rate(harness: Harness):
    r = await harness.http.post("/claude/v1/messages", json=CLAUDE, headers=claude_headers(harness.key))
    assert r.status_code == 200
    [rec] = await harness.records()
    assert rec.cache_creation_1h_tokens == 0
    assert (rec.cost_usd, rec.priced) == (CLAUDE_COST_5M_ONLY, True)


async def test_dated_snapshot_priced_as_its_model(harness: Harness):
    r = await harness.http.post("/claude/v1/messages", json={**CLAUDE, "model": "claude-sonnet-4-5-20250929"},
                                headers=claude_headers(harness.key))
    assert r.status_code == 200
    [rec] = await harness.records()
    assert rec.model == "claude-sonnet-4-5-20250929"
    assert (rec.cost_usd, rec.priced) == (CLAUDE_COST_5M_ONLY, True)


async def test_unknown_model_recorded_with_cost_0_and_unpriced(harness: Harness):
    r = await harness.http.post("/claude/v1/messages", json={**CLAUDE, "model": "claude-made-up-9"},
                                headers=claude_headers(harness.key))
    assert r.status_code == 200
    [rec] = await harness.records()
    assert rec.input_tokens == 12  # it did use tokens
    assert (rec.cost_usd, rec.priced) == (0.0, False)


async def test_records_without_tokens_cost_0_and_are_priced(harness: Harness):
    r = await harness.http.post("/claude/v1/messages/count_tokens", json={"model": "claude-made-up-9", "messages": []},
                                headers=claude_headers(harness.key))
    assert r.status_code == 200
    r = await harness.http.get("/claude/v1/models", headers=claude_headers(harness.key))
    assert r.status_code == 200
    r = await harness.http.post("/claude/v1/messages", json={**CLAUDE, "model": "fail-400"},
                                headers=claude_headers(harness.key))
    assert r.status_code == 400
    records = await harness.records()
    assert len(records) == 3
    assert [(rec.cost_usd, rec.priced) for rec in records] == [(0.0, True)] * 3


async def test_openai_chat_with_cached_tokens(anyio_backend: str):
    fake = FakeOpenAI()
    async with start_harness(httpx.ASGITransport(app=fake.app()),
                             upstream=UpstreamURLs(anthropic=UPSTREAM, openai="http://openai.test")) as h:
        await add_openai_account(h)
        r = await h.http.post("/openai/v1/chat/completions", json=CHAT, headers=auth(h.key))
        assert r.status_code == 200, r.text
        [rec] = await h.records()
    # prompt 30 of which 10 cached, completion 7 -> input 20, cache read 10, output 7.
    assert tokens(rec) == (20, 7, 0, 10) and rec.model == "gpt-4.1"
    # gpt-4.1: input 2.00, output 8.00, cache_read 0.50
    #   20 * 2 + 7 * 8 + 10 * 0.5 = 40 + 56 + 5 = 101 per 1M -> $0.000101
    assert (rec.cost_usd, rec.priced) == (0.000101, True)


async def test_gemini_with_thoughts(anyio_backend: str):
    fake = FakeGemini()
    async for h in gemini_harness(httpx.ASGITransport(app=fake.app())):
        r = await h.http.post(url("generateContent"), json=GEMINI_BODY, headers=goog(h.key))
        assert r.status_code == 200, r.text
        [rec] = await h.records()
    # prompt 120 of which 100 cached; 7 answer + 5 thought tokens -> input 20, cache read 100, output 12.
    assert (rec.input_tokens, rec.output_tokens, rec.cache_read_tokens) == (20, 12, 100)
    assert rec.model == "gemini-2.5-flash"
    # gemini-2.5-flash: input 0.30, output 2.50, cache_read 0.03
    #   20 * 0.30 + 12 * 2.50 + 100 * 0.03 = 6 + 30 + 3 = 39 per 1M -> $0.000039
    assert (rec.cost_usd, rec.priced) == (0.000039, True)


# --- the price file ---------------------------------------------------------------


def write_prices(tmp_path: Path, prices: object) -> str:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(prices) if not isinstance(prices, str) else prices)
    return str(path)


async def test_price_file_overrides_and_adds_models(tmp_path: Path, anyio_backend: str):
    path = write_prices(tmp_path, {
        "_source": "test",
        "claude-sonnet-4-5": {"input": 1, "output": 2, "cache_write_5m": 3, "cache_write_1h": 4, "cache_read": 5},
        "claude-made-up-9": {"input": 10, "output": 0, "cache_write_5m": 0, "cache_write_1h": 0, "cache_read": 0},
    })
    fake = FakeAnthropic(cache_creation=SPLIT)
    async with start_harness(httpx.ASGITransport(app=fake.app()), prices_file=path) as h:
        for model in ("claude-sonnet-4-5", "claude-made-up-9", "claude-haiku-4-5"):
            r = await h.http.post("/claude/v1/messages", json={**CLAUDE, "model": model}, headers=claude_headers(h.key))
            assert r.status_code == 200
        sonnet, made_up, haiku = await h.records()
    # Overridden: 12 * 1 + 7 * 2 + 40 * 3 + 60 * 4 + 200 * 5 = 12 + 14 + 120 + 240 + 1000 = 1386 -> $0.001386
    assert (sonnet.cost_usd, sonnet.priced) == (0.001386, True)
    # Added: 12 * 10 = 120 -> $0.00012
    assert (made_up.cost_usd, made_up.priced) == (0.00012, True)
    # Not in the file: the packaged price stays. claude-haiku-4-5: 1, 5, 1.25, 2, 0.10
    #   12 * 1 + 7 * 5 + 40 * 1.25 + 60 * 2 + 200 * 0.10 = 12 + 35 + 50 + 120 + 20 = 237 -> $0.000237
    assert (haiku.cost_usd, haiku.priced) == (0.000237, True)


@pytest.mark.parametrize("content, words", [
    ("{not json", "not valid JSON"),
    (json.dumps({"m": {"input": 1}}), "missing field(s)"),
    (json.dumps({"m": {"input": -1, "output": 0, "cache_write_5m": 0, "cache_write_1h": 0, "cache_read": 0}}),
     "must not be negative"),
])
def test_malformed_price_file_fails_at_startup(tmp_path: Path, content: str, words: str):
    path = write_prices(tmp_path, content)
    with pytest.raises(PriceFileError, match="price file .*prices.json") as caught:
        create_app(MemoryStores(), gateway_settings(prices_file=path))
    assert words in str(caught.value)
    with pytest.raises(PriceFileError, match="cannot read it"):
        create_app(MemoryStores(), gateway_settings(prices_file=str(tmp_path / "missing.json")))


def test_prices_file_setting_from_env():
    assert Settings().prices_file is None
    assert Settings.from_env({}).prices_file is None
    assert Settings.from_env({"AIPROXY_PRICES_FILE": "/etc/aiproxy/prices.json"}).prices_file == "/etc/aiproxy/prices.json"
