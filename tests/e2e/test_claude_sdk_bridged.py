"""End to end: the official anthropic SDK against a real uvicorn gateway whose only account is
an OpenAI chat, a Responses (API key), a ChatGPT Codex backend or a Gemini one, each fake on
its own server: a whole answer, a stream, a full tool loop, and usage records that match the
fake's counts (issue 12, Done when)."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Iterator

import anthropic
import anyio
import pytest

from aiproxy import MemoryStores, create_app
from aiproxy.formats.bridges.anthropic_count import estimate
from aiproxy.settings import UpstreamURLs
from aiproxy.stores.entities import UsageRecord
from aiproxy.testing import Seed
from tests.fakes.gemini_upstream import RECORDED, FakeGemini, words
from tests.fakes.openai_oauth import FakeCodex, id_token
from tests.fakes.openai_upstream import TEXT, TOOL_ARGS, FakeOpenAI
from tests.harness import ENCRYPTION_KEY, gateway_settings
from tests.servers import running

pytestmark = pytest.mark.anyio

MODEL = "claude-sonnet-4-5"
ASK: dict[str, Any] = dict(model=MODEL, max_tokens=256, system="Be brief.",
                           messages=[{"role": "user", "content": "Say hello"}])
TOOLS = [{"name": "read_file", "description": "Reads a file",
          "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}]
# (input uncached, output, cache read) as the fakes count them, in Anthropic's terms.
TOKENS = {"chat": (20, 7, 10), "responses-key": (24, 9, 16), "codex": (24, 9, 16),
          "gemini": (RECORDED["input_tokens"], RECORDED["output_tokens"], RECORDED["cache_read_tokens"])}
TARGETS = list(TOKENS)
LISTED = "claude-haiku-4-5"


@dataclass
class Gateway:
    url: str
    key: str
    stores: MemoryStores
    seen: list[Any]  # the serving fake's requests

    def client(self) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(api_key=self.key, base_url=self.url + "/claude", max_retries=0)

    async def records(self, count: int) -> list[UsageRecord]:
        # Written by the gateway's batch writer, on the server's thread.
        deadline = time.monotonic() + 10
        while len(self.stores.usage.records) < count and time.monotonic() < deadline:
            await anyio.sleep(0.02)
        return list(self.stores.usage.records)


@contextlib.contextmanager
def upstream_for(target: str) -> Iterator[tuple[str, Any, dict[str, Any], UpstreamURLs]]:
    """The target's fake on its own server: (its URL, the fake, the account's fields, the URLs setting)."""
    if target == "gemini":
        gemini = FakeGemini()
        with running(gemini.app()) as url:
            yield url, gemini, {"platform": "gemini", "type": "gemini-api", "credentials": {"api_key": "g-key"},
                                "model_mapping": {"claude-*": "gemini-2.5-flash"}}, UpstreamURLs(gemini=url)
    elif target == "codex":
        codex = FakeCodex()
        with running(codex.app()) as url:
            credentials = {"access_token": "oat-1", "refresh_token": "ort-1", "expires_at": int(time.time() + 3600),
                           "id_token": id_token("acct-1"), "chatgpt_account_id": "acct-1"}
            yield url, codex, {"platform": "openai", "type": "openai-responses", "credentials": credentials,
                               "model_mapping": {"claude-*": "gpt-5-codex"}}, UpstreamURLs(
                codex=url + "/backend-api/codex")
    else:
        openai_fake = FakeOpenAI()
        with running(openai_fake.app()) as url:
            kind = "openai" if target == "chat" else "openai-responses"
            yield url, openai_fake, {"platform": "openai", "type": kind, "credentials": {"api_key": "sk-up"},
                                     "base_url": url, "model_mapping": {"claude-*": "gpt-4.1"}}, UpstreamURLs(
                openai=url)


@pytest.fixture(params=TARGETS)
async def gw(request: pytest.FixtureRequest, anyio_backend: str) -> AsyncIterator[Gateway]:
    stores = MemoryStores()
    seed = Seed(stores, encryption_key=ENCRYPTION_KEY)
    user = await seed.user("alice")
    key, _ = await seed.key(user)
    with upstream_for(request.param) as (_, fake, fields, urls):
        credentials = fields.pop("credentials")
        # One exact name beside the wildcard: what the model list shows.
        fields["model_mapping"] = {**fields["model_mapping"], LISTED: fields["model_mapping"]["claude-*"]}
        await seed.account(credentials, name=request.param, **fields)
        app = create_app(stores, gateway_settings(upstream=urls))
        with running(app) as url:
            gateway = Gateway(url, key, stores, fake.requests)
            gateway.target = request.param  # type: ignore[attr-defined]
            yield gateway


def usage_of(record: UsageRecord) -> tuple[int, int, int]:
    return record.input_tokens, record.output_tokens, record.cache_read_tokens


async def test_message_whole_and_streamed(gw: Gateway):
    tokens = TOKENS[gw.target]  # type: ignore[attr-defined]
    async with gw.client() as client:
        message = await client.messages.create(**ASK)
        async with client.messages.stream(**ASK) as stream:
            pieces = [text async for text in stream.text_stream]
            final = await stream.get_final_message()
    assert message.model == MODEL and message.stop_reason == "end_turn"
    assert [b.text for b in message.content if b.type == "text"] == [TEXT]
    assert (message.usage.input_tokens, message.usage.output_tokens) == tokens[:2]
    assert "".join(pieces) == TEXT and len(pieces) > 1  # relayed piece by piece
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == tokens[1]
    assert (final.usage.cache_read_input_tokens or 0) == tokens[2]
    records = await gw.records(2)
    assert [(r.stream, r.status, usage_of(r)) for r in records] == [(False, 200, tokens), (True, 200, tokens)]
    assert all(r.model == MODEL for r in records)
    assert len(gw.seen) == 2


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
async def test_a_tool_loop(gw: Gateway, streamed: bool):
    tokens = TOKENS[gw.target]  # type: ignore[attr-defined]
    ask = {**ASK, "tools": TOOLS, "messages": [{"role": "user", "content": "Read the readme"}]}
    async with gw.client() as client:
        if streamed:
            async with client.messages.stream(**ask) as stream:
                first = await stream.get_final_message()
        else:
            first = await client.messages.create(**ask)
        assert first.stop_reason == "tool_use"
        [call] = [b for b in first.content if b.type == "tool_use"]
        assert call.name == "read_file" and call.input == TOOL_ARGS
        follow = {**ask, "messages": [
            *ask["messages"],
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "# Readme"}]},
        ]}
        if streamed:
            async with client.messages.stream(**follow) as stream:
                last = await stream.get_final_message()
        else:
            last = await client.messages.create(**follow)
    assert last.stop_reason == "end_turn"
    assert [b.text for b in last.content if b.type == "text"] == [TEXT]
    assert "# Readme" in str(gw.seen[-1].json)  # the tool's result reached the upstream
    records = await gw.records(2)
    assert [usage_of(r) for r in records] == [tokens, tokens] and all(r.status == 200 for r in records)


async def test_count_tokens_and_the_model_list(gw: Gateway):
    # The SDK's own calls: count_tokens counted by Gemini, or estimated by the gateway for
    # the OpenAI accounts; models.list made by the gateway (no Claude account at all).
    ask = {k: v for k, v in ASK.items() if k != "max_tokens"}
    async with gw.client() as client:
        counted = await client.messages.count_tokens(**ask, tools=TOOLS)  # type: ignore[arg-type]
        models = [m async for m in client.models.list()]
    if gw.target == "gemini":  # type: ignore[attr-defined]
        [seen] = gw.seen
        sent = seen.json["generateContentRequest"]
        assert counted.input_tokens == sum(words(sent.get(f)) for f in ("contents", "systemInstruction", "tools"))
    else:
        assert counted.input_tokens == estimate({**ask, "tools": TOOLS}) and gw.seen == []
    # Its mapping's plain name (claude-* is a wildcard, not a name to list), in Anthropic's shape.
    assert [(m.id, m.type, m.display_name) for m in models] == [(LISTED, "model", LISTED)]
    records = await gw.records(2)
    assert [(r.endpoint, r.status) for r in records] == [("count_tokens", 200), ("models", 200)]
