"""End to end: the official openai SDK (chat and Responses) and google-genai against a real
uvicorn gateway whose only account is a Claude one, its fake on its own server: whole
answers, streams (chat with and without include_usage), a full tool loop in each API, and
usage records that match the fake's counts, cache writes included (issue 13, Done when)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator

import anyio
import openai
import pytest
from google import genai
from google.genai import types

from aiproxy import MemoryStores, create_app
from aiproxy.settings import UpstreamURLs
from aiproxy.stores.entities import UsageRecord
from aiproxy.testing import Seed
from aiproxy.testing.anthropic import TEXT_PIECES, TOOL_INPUT, USAGE, FakeAnthropic
from tests.harness import ENCRYPTION_KEY, gateway_settings
from tests.servers import running

pytestmark = pytest.mark.anyio

TEXT = "".join(TEXT_PIECES)
# The fake's usage as a record keeps it: (input uncached, output, cache creation, cache read).
TOKENS = (USAGE["input_tokens"], USAGE["output_tokens"], USAGE["cache_creation_input_tokens"],
          USAGE["cache_read_input_tokens"])
PROMPT = TOKENS[0] + TOKENS[2] + TOKENS[3]  # what OpenAI and Gemini call the prompt: every input token
SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}


@dataclass
class Gateway:
    url: str
    key: str
    stores: MemoryStores
    seen: list[Any]  # the Claude fake's requests

    def openai(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(api_key=self.key, base_url=self.url + "/openai/v1", max_retries=0)

    def genai(self) -> Any:
        return genai.Client(api_key=self.key, http_options=types.HttpOptions(base_url=self.url + "/gemini")).aio

    async def records(self, count: int) -> list[UsageRecord]:
        # Written by the gateway's batch writer, on the server's thread.
        deadline = time.monotonic() + 10
        while len(self.stores.usage.records) < count and time.monotonic() < deadline:
            await anyio.sleep(0.02)
        return list(self.stores.usage.records)


@pytest.fixture
async def gw(anyio_backend: str) -> AsyncIterator[Gateway]:
    stores = MemoryStores()
    seed = Seed(stores, encryption_key=ENCRYPTION_KEY)
    user = await seed.user("alice")
    key, _ = await seed.key(user)
    fake = FakeAnthropic(call_tools=True)
    with running(fake.app()) as upstream:
        await seed.account({"api_key": "sk-ant"}, name="claude", platform="claude", type="claude-console",
                           model_mapping={"*": "claude-sonnet-4-5"})
        app = create_app(stores, gateway_settings(upstream=UpstreamURLs(anthropic=upstream)))
        with running(app) as url:
            yield Gateway(url, key, stores, fake.requests)


def tokens(record: UsageRecord) -> tuple[int, int, int, int]:
    return record.input_tokens, record.output_tokens, record.cache_creation_tokens, record.cache_read_tokens


# --- the openai SDK: Chat Completions ----------------------------------------------------

CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]


async def test_chat_whole_and_streamed_with_and_without_usage(gw: Gateway):
    async with gw.openai() as client:
        completion = await client.chat.completions.create(model="gpt-4o", messages=CHAT)  # type: ignore[arg-type]
        with_usage = [c async for c in await client.chat.completions.create(
            model="gpt-4o", messages=CHAT, stream=True, stream_options={"include_usage": True})]  # type: ignore[arg-type]
        without = [c async for c in await client.chat.completions.create(
            model="gpt-4o", messages=CHAT, stream=True)]  # type: ignore[arg-type]
    assert completion.model == "gpt-4o" and completion.choices[0].message.content == TEXT
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens,
            completion.usage.prompt_tokens_details.cached_tokens) == (PROMPT, TOKENS[1], TOKENS[3])
    for chunks in (with_usage, without):
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT
        assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == len(TEXT_PIECES)
    [usage_chunk] = [c for c in with_usage if c.usage is not None]
    assert usage_chunk is with_usage[-1] and usage_chunk.choices == []
    assert (usage_chunk.usage.prompt_tokens, usage_chunk.usage.completion_tokens) == (PROMPT, TOKENS[1])
    assert all(c.usage is None for c in without)
    records = await gw.records(3)
    assert [(r.stream, r.status, tokens(r)) for r in records] == [(False, 200, TOKENS), (True, 200, TOKENS),
                                                                  (True, 200, TOKENS)]
    assert {(r.client_format, r.upstream_format, r.model) for r in records} == {
        ("openai-chat", "anthropic-messages", "gpt-4o")}


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
async def test_a_chat_tool_loop(gw: Gateway, streamed: bool):
    tools = [{"type": "function", "function": {"name": "read_file", "description": "Reads a file",
                                               "parameters": SCHEMA}}]
    messages: list[Any] = [{"role": "user", "content": "Read the readme"}]
    async with gw.openai() as client:
        if streamed:
            chunks = [c async for c in await client.chat.completions.create(
                model="gpt-4o", messages=messages, tools=tools, stream=True)]  # type: ignore[arg-type]
            calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
            call_id, name = calls[0].id, calls[0].function.name  # type: ignore[union-attr]
            arguments = "".join(tc.function.arguments or "" for tc in calls if tc.function)
            finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        else:
            first = await client.chat.completions.create(model="gpt-4o", messages=messages,
                                                         tools=tools)  # type: ignore[arg-type]
            [call] = first.choices[0].message.tool_calls or []
            call_id, name, arguments = call.id, call.function.name, call.function.arguments  # type: ignore[union-attr]
            finish = [first.choices[0].finish_reason]
        assert finish == ["tool_calls"] and name == "read_file" and json.loads(arguments) == TOOL_INPUT
        messages += [{"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}]},
                     {"role": "tool", "tool_call_id": call_id, "content": "# The readme"}]
        done = await client.chat.completions.create(model="gpt-4o", messages=messages,
                                                    tools=tools)  # type: ignore[arg-type]
    assert done.choices[0].message.content == TEXT and done.choices[0].finish_reason == "stop"
    result = gw.seen[-1].json["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and result["tool_use_id"] == call_id
    assert [tokens(r) for r in await gw.records(2)] == [TOKENS, TOKENS]


# --- the openai SDK: Responses -----------------------------------------------------------

async def test_responses_whole_and_streamed(gw: Gateway):
    async with gw.openai() as client:
        response = await client.responses.create(model="gpt-5", instructions="Be brief.", input="Say hello")
        async with client.responses.stream(model="gpt-5", instructions="Be brief.", input="Say hello") as stream:
            deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
            final = await stream.get_final_response()
    assert response.status == "completed" and response.model == "gpt-5" and response.output_text == TEXT
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens,
            response.usage.input_tokens_details.cached_tokens) == (PROMPT, TOKENS[1], TOKENS[3])
    assert "".join(deltas) == TEXT and len(deltas) == len(TEXT_PIECES)
    assert final.output_text == TEXT and final.usage is not None and final.usage.input_tokens == PROMPT
    records = await gw.records(2)
    assert [(r.stream, r.endpoint, tokens(r)) for r in records] == [(False, "responses", TOKENS),
                                                                    (True, "responses", TOKENS)]
    assert {(r.client_format, r.upstream_format) for r in records} == {("openai-responses", "anthropic-messages")}


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
async def test_a_responses_tool_loop(gw: Gateway, streamed: bool):
    tools: Any = [{"type": "function", "name": "read_file", "description": "Reads a file", "parameters": SCHEMA,
                   "strict": False}]
    conversation: list[Any] = [{"role": "user", "content": "Read the readme"}]
    async with gw.openai() as client:
        if streamed:
            async with client.responses.stream(model="gpt-5", input=conversation, tools=tools) as stream:
                first = await stream.get_final_response()
        else:
            first = await client.responses.create(model="gpt-5", input=conversation, tools=tools)
        [call] = [item for item in first.output if item.type == "function_call"]
        assert call.name == "read_file" and json.loads(call.arguments) == TOOL_INPUT
        conversation += [item.model_dump(exclude_none=True) for item in first.output]
        conversation.append({"type": "function_call_output", "call_id": call.call_id, "output": "# The readme"})
        done = await client.responses.create(model="gpt-5", input=conversation, tools=tools)
    assert done.output_text == TEXT
    result = gw.seen[-1].json["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and result["tool_use_id"] == call.call_id
    assert [tokens(r) for r in await gw.records(2)] == [TOKENS, TOKENS]


# --- google-genai ------------------------------------------------------------------------

CONFIG = types.GenerateContentConfig(system_instruction="Be brief.")


async def test_genai_generate_and_stream(gw: Gateway):
    client = gw.genai()
    answer = await client.models.generate_content(model="gemini-2.5-pro", contents="Say hello", config=CONFIG)
    pieces = [c.text async for c in await client.models.generate_content_stream(
        model="gemini-2.5-pro", contents="Say hello", config=CONFIG) if c.text]
    assert answer.text == TEXT and answer.candidates and answer.candidates[0].finish_reason == types.FinishReason.STOP
    assert answer.usage_metadata is not None
    assert (answer.usage_metadata.prompt_token_count, answer.usage_metadata.candidates_token_count,
            answer.usage_metadata.cached_content_token_count) == (PROMPT, TOKENS[1], TOKENS[3])
    assert "".join(pieces) == TEXT and len(pieces) == len(TEXT_PIECES)
    records = await gw.records(2)
    # Gemini's usage has no cache writes (the client sees them in its prompt count), yet both
    # records keep the upstream's exact counts: a whole answer's read before translation.
    assert [(r.stream, r.endpoint, tokens(r)) for r in records] == [
        (False, "generateContent", TOKENS), (True, "streamGenerateContent", TOKENS)]
    assert {(r.client_format, r.upstream_format, r.model) for r in records} == {
        ("gemini", "anthropic-messages", "gemini-2.5-pro")}
    assert [s.json["model"] for s in gw.seen] == ["claude-sonnet-4-5"] * 2


async def test_a_genai_function_calling_loop(gw: Gateway):
    client = gw.genai()
    tool = types.Tool(function_declarations=[types.FunctionDeclaration(
        name="read_file", description="Reads a file", parameters_json_schema=SCHEMA)])
    config = types.GenerateContentConfig(tools=[tool], automatic_function_calling=types.AutomaticFunctionCallingConfig(
        disable=True))
    contents: list[Any] = [types.Content(role="user", parts=[types.Part(text="Read the readme")])]
    first = await client.models.generate_content(model="gemini-2.5-pro", contents=contents, config=config)
    [call] = first.function_calls or []
    assert call.name == "read_file" and call.args == TOOL_INPUT
    assert first.candidates and first.candidates[0].content is not None
    contents += [first.candidates[0].content, types.Content(role="user", parts=[types.Part(
        function_response=types.FunctionResponse(id=call.id, name="read_file", response={"output": "# The readme"}))])]
    done = await client.models.generate_content(model="gemini-2.5-pro", contents=contents, config=config)
    assert done.text == TEXT
    result = gw.seen[-1].json["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and result["content"] == "# The readme"
    assert len(await gw.records(2)) == 2
