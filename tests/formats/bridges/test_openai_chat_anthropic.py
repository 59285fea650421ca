"""OpenAI Chat Completions clients on Anthropic upstreams: request, answer, stream, errors, and the
compositions with the Anthropic-client pairs (this pair's Anthropic body is what they are handed)."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import openai
import orjson
import pydantic
import pytest
from anthropic.types import message_create_params
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from aiproxy.formats import wire
from aiproxy.formats.bridges import anthropic_gemini, anthropic_openai_chat, anthropic_openai_responses
from aiproxy.formats.bridges.base import RequestOptions, Untranslatable
from aiproxy.formats.bridges.compose import compose
from aiproxy.formats.bridges.openai_chat_anthropic import (
    BRIDGE,
    DEFAULT_MAX_TOKENS,
    DROPPED_SAMPLING,
    Reply,
    request,
    stream_for,
    tool_id,
)
from aiproxy.formats.openai_chat import StreamTap

# --- helpers -----------------------------------------------------------------

_PARAMS = {
    False: pydantic.TypeAdapter(message_create_params.MessageCreateParamsNonStreaming),
    True: pydantic.TypeAdapter(message_create_params.MessageCreateParamsStreaming),
}
_KNOWN_FIELDS = (message_create_params.MessageCreateParamsBase.__required_keys__
                 | message_create_params.MessageCreateParamsBase.__optional_keys__ | {"stream"})


def _consume(value: Any) -> Any:
    # pydantic validates a TypedDict's Iterable fields lazily: walk them all.
    if isinstance(value, dict):
        return {k: _consume(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or (isinstance(value, Iterable) and not isinstance(value, (str, bytes))):
        return [_consume(v) for v in value]
    return value


def valid_anthropic(body: dict[str, Any]) -> None:
    """What the real Messages API insists on, beyond the SDK's types."""
    assert set(body) <= _KNOWN_FIELDS
    _consume(_PARAMS[body.get("stream") is True].validate_python(body))
    assert isinstance(body["max_tokens"], int) and body["max_tokens"] >= 1
    if "thinking" in body:
        assert 1024 <= body["thinking"]["budget_tokens"] < body["max_tokens"]
    turns = body["messages"]
    assert turns and [t["role"] for t in turns] == [("user", "assistant")[i % 2] for i in range(len(turns))]
    asked: set[str] = set()
    for turn in turns:
        blocks = turn["content"]
        assert blocks and all(b.get("text", "x").strip() for b in blocks)
        if turn["role"] == "user":
            kinds = [b["type"] for b in blocks]
            assert kinds == sorted(kinds, key=lambda k: k != "tool_result")  # results first
            assert {b["tool_use_id"] for b in blocks if b["type"] == "tool_result"} == asked
            asked = set()
        else:
            assert not asked
            asked = {b["id"] for b in blocks if b["type"] == "tool_use"}
            assert all(re.fullmatch(r"[A-Za-z0-9_-]+", i) for i in asked)
    assert not asked


def translate(body: dict[str, Any], model: str = "claude-sonnet-4-5",
              drop: frozenset[str] = frozenset()) -> dict[str, Any]:
    translated = request({"model": "gpt-4o", **body}, RequestOptions(model=model, drop=drop))
    assert translated.path == wire.MESSAGES_PATH and translated.query == ()
    assert translated.stream is (body.get("stream") is True)
    valid_anthropic(translated.body)
    return translated.body


def refused(body: dict[str, Any]) -> str:
    with pytest.raises(Untranslatable) as raised:
        request({"model": "gpt-4o", **body}, RequestOptions(model="claude-sonnet-4-5"))
    assert raised.value.message.startswith(raised.value.field)
    return raised.value.field


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def text(t: str) -> dict[str, Any]:
    return {"type": "text", "text": t}


def tool_calls(*calls: tuple[str, str, str], content: Any = None) -> dict[str, Any]:
    return {"role": "assistant", "content": content, "tool_calls": [
        {"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls]}


def tool(call_id: str, content: Any) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                           "parameters": {"type": "object",
                                                          "properties": {"city": {"type": "string"}}},
                                           "strict": True}},
         {"type": "function", "function": {"name": "get_time"}}]


# --- the request ---------------------------------------------------------------


def test_text_system_developer_and_dropped_fields() -> None:
    body = translate({
        "messages": [{"role": "system", "content": "You are terse."}, user("Hi"),
                     {"role": "developer", "content": [text("Answer in French."), text("")]},
                     {"role": "assistant", "content": "Bonjour", "name": "bot"},
                     user([text("Ça va ?"), text("")])],
        **dict.fromkeys(DROPPED_SAMPLING, 0.5),
        "store": True, "metadata": {"tag": "x"}, "service_tier": "auto", "prompt_cache_key": "k",
        "prompt_cache_retention": "24h", "verbosity": "low", "prediction": {"type": "content", "content": "x"},
        "n": 1, "logprobs": False, "top_logprobs": 0, "modalities": ["text"], "parallel_tool_calls": True,
        "stream_options": {"include_usage": True}, "made_up": 1,
    })
    assert body == {
        "model": "claude-sonnet-4-5", "max_tokens": DEFAULT_MAX_TOKENS,
        "system": "You are terse.\n\nAnswer in French.",
        "messages": [{"role": "user", "content": [text("Hi")]},
                     {"role": "assistant", "content": [text("Bonjour")]},
                     {"role": "user", "content": [text("Ça va ?")]}],
    }


def test_limits_stop_end_user_and_stream() -> None:
    body = translate({"messages": [user("x")], "max_completion_tokens": 300, "max_tokens": 50,
                      "stop": ["END", ""], "safety_identifier": "u-1", "user": "old", "stream": True})
    assert (body["max_tokens"], body["stop_sequences"], body["metadata"], body["stream"]) == (
        300, ["END"], {"user_id": "u-1"}, True)
    body = translate({"messages": [user("x")], "max_tokens": 50, "stop": "END", "user": "old"})
    assert (body["max_tokens"], body["stop_sequences"], body["metadata"]) == (50, ["END"], {"user_id": "old"})
    assert "stop_sequences" not in translate({"messages": [user("x")], "stop": [""]})


def test_images() -> None:
    body = translate({"messages": [user([
        text("What is this?"),
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ])]})
    assert body["messages"][0]["content"][1:] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}]


@pytest.mark.parametrize(("part", "field"), [
    ({"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}, "messages[0].content[1]"),
    ({"type": "file", "file": {"file_id": "file-1"}}, "messages[0].content[1]"),
    ({"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}}, "messages[0].content[1].image_url.url"),
    ({"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}}, "messages[0].content[1].image_url.url"),
    ({"type": "image_url", "image_url": "https://x"}, "messages[0].content[1].image_url"),
    ({"type": "video"}, "messages[0].content[1]"),
    ({"type": "text", "text": 5}, "messages[0].content[1].text"),
])
def test_parts_anthropic_cannot_take_are_refused_by_name(part: dict[str, Any], field: str) -> None:
    assert refused({"messages": [user([text("x"), part])]}) == field


def test_tools_and_tool_choice() -> None:
    body = translate({"messages": [user("x")], "tools": TOOLS})
    assert body["tools"] == [
        {"name": "get_weather", "description": "Weather of a city",
         "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
        {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}]
    assert "tool_choice" not in body
    for choice, expected in [("auto", {"type": "auto"}), ("required", {"type": "any"}), ("none", {"type": "none"}),
                             ({"type": "function", "function": {"name": "get_time"}},
                              {"type": "tool", "name": "get_time"})]:
        assert translate({"messages": [user("x")], "tools": TOOLS, "tool_choice": choice})["tool_choice"] == expected
    serial = translate({"messages": [user("x")], "tools": TOOLS, "parallel_tool_calls": False})
    assert serial["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    serial = translate({"messages": [user("x")], "tools": TOOLS, "parallel_tool_calls": False,
                        "tool_choice": "required"})
    assert serial["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert translate({"messages": [user("x")], "tools": TOOLS, "parallel_tool_calls": False,
                      "tool_choice": "none"})["tool_choice"] == {"type": "none"}
    # No tools: "none" and "auto" say nothing, and no tool_choice goes without tools.
    assert "tool_choice" not in translate({"messages": [user("x")], "tools": [], "tool_choice": "none"})


@pytest.mark.parametrize(("extra", "field"), [
    ({"tools": [{"type": "custom", "custom": {"name": "patch"}}]}, "tools[0].type"),
    ({"tools": [{"type": "function", "function": {"name": "a b"}}]}, "tools[0].function.name"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}]},
     "tools[0].function.parameters"),
    ({"tools": [{"type": "function", "function": {"name": "f", "description": 3}}]}, "tools[0].function.description"),
    ({"tools": [{"type": "function"}]}, "tools[0].function"),
    ({"tools": "f"}, "tools"),
    ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}},
     "tool_choice.function.name"),
    ({"tools": TOOLS, "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}}},
     "tool_choice.type"),
    ({"tools": TOOLS, "tool_choice": "sometimes"}, "tool_choice"),
    ({"tool_choice": "required"}, "tool_choice"),
])
def test_bad_or_foreign_tools_are_refused_by_name(extra: dict[str, Any], field: str) -> None:
    assert refused({"messages": [user("x")], **extra}) == field


def test_parallel_calls_and_their_results_make_one_turn_each() -> None:
    body = translate({"tools": TOOLS, "messages": [
        user("Weather and time in Paris?"),
        tool_calls(("call_a", "get_weather", '{"city": "Paris"}'), ("call_b", "get_time", ""),
                   content="Let me check."),
        tool("call_b", [text("12:00"), text("CET")]),
        user("(and be quick)"),
        tool("call_a", "18C"),
        {"role": "assistant", "content": [{"type": "text", "text": "18C at noon."},
                                          {"type": "refusal", "refusal": "No more."}]},
        user("Thanks"),
    ]})
    assert body["messages"] == [
        {"role": "user", "content": [text("Weather and time in Paris?")]},
        {"role": "assistant", "content": [
            text("Let me check."),
            {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_b", "name": "get_time", "input": {}}]},
        # tool results first (in their messages' order), then the user's text
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_b", "content": [text("12:00"), text("CET")]},
            {"type": "tool_result", "tool_use_id": "call_a", "content": "18C"},
            text("(and be quick)")]},
        {"role": "assistant", "content": [text("18C at noon."), text("No more.")]},
        {"role": "user", "content": [text("Thanks")]},
    ]


def test_tool_results_keep_their_text_and_errors_stay_words() -> None:
    # Chat has no error flag on a tool message: a failure is what its text says, never is_error.
    body = translate({"tools": TOOLS, "messages": [
        user("t?"), tool_calls(("c1", "get_time", "{}")), tool("c1", "Error: clock unreachable"),
        {"role": "assistant", "refusal": "I cannot tell the time."}, user("ok")]})
    assert body["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "c1", "content": "Error: clock unreachable"}]}
    assert body["messages"][3] == {"role": "assistant", "content": [text("I cannot tell the time.")]}
    assert refused({"tools": TOOLS, "messages": [user("t?"), tool_calls(("c1", "get_time", "{}")), tool("c1", [
        {"type": "image_url", "image_url": {"url": "https://x/y.png"}}])]}) == "messages[2].content[0]"


def test_tool_ids_anthropic_refuses_are_hashed_alike_on_call_and_result() -> None:
    odd = "functions.get_time:0"
    body = translate({"tools": TOOLS, "messages": [user("t?"), tool_calls((odd, "get_time", "{}")),
                                                   tool(odd, "")]})
    call, result = body["messages"][1]["content"][0], body["messages"][2]["content"][0]
    assert call["id"] == result["tool_use_id"] == tool_id(odd) != odd
    assert re.fullmatch(r"toolu_[0-9a-f]{24}", call["id"]) and "content" not in result  # empty result: no content
    assert tool_id("call_Ab-1_x") == "call_Ab-1_x"


def test_turns_of_one_role_merge_and_empty_messages_vanish() -> None:
    body = translate({"messages": [user("a"), user(" \n"), user([text("b"), text("  ")]),
                                   {"role": "assistant", "content": ""}, {"role": "system", "content": "  "},
                                   {"role": "assistant", "content": "c"}, {"role": "assistant", "content": "d"},
                                   user([])]})
    assert body["messages"] == [{"role": "user", "content": [text("a"), text("b")]},
                                {"role": "assistant", "content": [text("c"), text("d")]}]
    assert "system" not in body  # blank text is no block: Anthropic refuses whitespace-only ones


def test_a_last_assistant_message_is_a_prefill_without_trailing_whitespace() -> None:
    body = translate({"messages": [user("Count"), {"role": "assistant", "content": "1, 2, \n"}]})
    assert body["messages"][-1] == {"role": "assistant", "content": [text("1, 2,")]}
    body = translate({"messages": [user("Count"), {"role": "assistant", "content": "  "}]})
    assert body["messages"] == [{"role": "user", "content": [text("Count")]}]


@pytest.mark.parametrize(("messages", "field"), [
    ([user("x"), tool_calls(("c1", "get_time", "{}"), ("c2", "get_time", "{}")), tool("c1", "r")],
     "messages[1].tool_calls[1]"),
    ([user("x"), tool_calls(("c1", "get_time", "{}"))], "messages[1].tool_calls[0]"),
    ([user("x"), tool("c9", "r")], "messages[1].tool_call_id"),
    ([user("x"), tool_calls(("c1", "get_time", "{}")), tool("c1", "r"), tool("c1", "again")],
     "messages[3].tool_call_id"),
    ([user("x"), tool_calls(("c1", "get_time", "{not json"))], "messages[1].tool_calls[0].function.arguments"),
    ([user("x"), tool_calls(("c1", "get_time", "[1]"))], "messages[1].tool_calls[0].function.arguments"),
    ([user("x"), {"role": "assistant", "tool_calls": [{"id": "c", "type": "custom", "custom": {}}]}],
     "messages[1].tool_calls[0].type"),
    ([{"role": "assistant", "content": "hi"}, user("x")], "messages[0]"),
    ([{"role": "system", "content": "only rules"}], "messages"),
    ([user("x"), {"role": "function", "name": "f", "content": "r"}], "messages[1].role"),
    ([user("x"), {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}}],
     "messages[1].function_call"),
    ([user("x"), {"role": "robot", "content": "x"}], "messages[1].role"),
    ([user(5)], "messages[0].content"),
    ([{"role": "system", "content": [{"type": "image_url"}]}, user("x")], "messages[0].content[0]"),
    ([user("x"), tool(7, "r")], "messages[1].tool_call_id"),
    ([], "messages"),
    ("hi", "messages"),
    ([3], "messages[0]"),
])
def test_conversations_anthropic_would_refuse_are_400s_naming_the_message(messages: Any, field: str) -> None:
    assert refused({"messages": messages, "tools": TOOLS}) == field


@pytest.mark.parametrize(("extra", "field"), [
    ({"n": 2}, "n"), ({"n": 0}, "n"), ({"logprobs": True}, "logprobs"), ({"top_logprobs": 3}, "top_logprobs"),
    ({"logit_bias": {"50256": -100}}, "logit_bias"), ({"audio": {"voice": "alloy", "format": "wav"}}, "audio"),
    ({"modalities": ["text", "audio"]}, "modalities"), ({"web_search_options": {}}, "web_search_options"),
    ({"moderation": {"model": "omni-moderation-latest"}}, "moderation"),
    ({"functions": [{"name": "f"}]}, "functions"), ({"function_call": "auto"}, "function_call"),
    ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"response_format": {"type": "grammar"}}, "response_format.type"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, "response_format.json_schema.schema"),
    ({"max_completion_tokens": 0}, "max_completion_tokens"), ({"max_tokens": "9"}, "max_tokens"),
    ({"stop": [1]}, "stop"), ({"reasoning_effort": "extreme"}, "reasoning_effort"),
    ({"safety_identifier": 5}, "safety_identifier"),
])
def test_options_that_would_change_the_answer_are_400s(extra: dict[str, Any], field: str) -> None:
    assert refused({"messages": [user("x")], **extra}) == field


def test_structured_output() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    body = translate({"messages": [user("x")], "response_format": {
        "type": "json_schema", "json_schema": {"name": "r", "schema": schema, "strict": True}}})
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert "output_config" not in translate({"messages": [user("x")], "response_format": {"type": "text"}})


def test_reasoning_effort_becomes_a_thinking_budget_below_the_limit() -> None:
    assert "thinking" not in translate({"messages": [user("x")], "reasoning_effort": "none"})
    low = translate({"messages": [user("x")], "reasoning_effort": "low"})
    assert (low["thinking"], low["max_tokens"]) == ({"type": "enabled", "budget_tokens": 4096}, 4096 + 8192)
    top = translate({"messages": [user("x")], "reasoning_effort": "max"})
    assert top["max_tokens"] == 32000 and top["thinking"]["budget_tokens"] == 24576
    assert translate({"messages": [user("x")], "reasoning_effort": "minimal"})["thinking"]["budget_tokens"] == 1024
    # The client's limit stays; the budget fits under it, or thinking stays off.
    capped = translate({"messages": [user("x")], "reasoning_effort": "high", "max_completion_tokens": 5000})
    assert (capped["max_tokens"], capped["thinking"]["budget_tokens"]) == (5000, 4999)
    small = translate({"messages": [user("x")], "reasoning_effort": "high", "max_completion_tokens": 1024})
    assert small["max_tokens"] == 1024 and "thinking" not in small


def test_thinking_stays_off_where_anthropic_would_refuse_it() -> None:
    loop = [user("t?"), tool_calls(("c1", "get_time", "{}")), tool("c1", "noon")]
    # Continuing a tool call: its thinking block is lost in Chat.
    assert "thinking" not in translate({"messages": loop, "tools": TOOLS, "reasoning_effort": "high"})
    # Once the user speaks again the loop is over: thinking is fine.
    after = translate({"messages": [*loop, {"role": "assistant", "content": "Noon."}, user("And now?")],
                       "tools": TOOLS, "reasoning_effort": "high"})
    assert after["thinking"]["type"] == "enabled"
    for choice in ("required", {"type": "function", "function": {"name": "get_time"}}):
        assert "thinking" not in translate({"messages": [user("x")], "tools": TOOLS, "tool_choice": choice,
                                            "reasoning_effort": "low"})
    assert "thinking" in translate({"messages": [user("x")], "tools": TOOLS, "tool_choice": "auto",
                                    "reasoning_effort": "low"})
    for model in ("claude-3-5-haiku-20241022", "us.anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-haiku"):
        assert "thinking" not in translate({"messages": [user("x")], "reasoning_effort": "low"}, model=model)
    for model in ("claude-3-7-sonnet-20250219", "anthropic.claude-opus-4-1-20250805-v1:0", "claude-haiku-4-5"):
        assert "thinking" in translate({"messages": [user("x")], "reasoning_effort": "low"}, model=model)
    prefill = translate({"messages": [user("x"), {"role": "assistant", "content": "{"}], "reasoning_effort": "low"})
    assert "thinking" not in prefill and prefill["max_tokens"] == DEFAULT_MAX_TOKENS


def test_the_account_drop_list_applies() -> None:
    body = translate({"messages": [user("x")], "user": "u", "stop": "s"}, drop=frozenset({"metadata"}))
    assert "metadata" not in body and body["stop_sequences"] == ["s"]


def test_a_body_that_is_not_an_object() -> None:
    with pytest.raises(Untranslatable) as raised:
        request([], RequestOptions(model="m"))  # type: ignore[arg-type]
    assert raised.value.field == "body"


# --- fuzzed bodies -------------------------------------------------------------


def _pick(rng: random.Random, good: list[Any], bad: list[Any]) -> Any:
    """Mostly a valid value, now and then an odd one."""
    return rng.choice(bad) if rng.random() < 0.03 else rng.choice(good)


_ODD = [None, 3, "x", [], {}, [None], {"type": 5}, True, -1, 1.5]


def _random_part(rng: random.Random) -> Any:
    return _pick(rng, [text("hi"), text(""), {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
                       {"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                 [{"type": "input_audio"}, {"type": "file"}, {"type": "image_url", "image_url": {"url": 5}}, *_ODD])


def _random_message(rng: random.Random, ids: list[str]) -> Any:
    role = _pick(rng, ["user", "assistant", "tool", "system", "developer"], ["function", "bot", None, 3])
    content = _pick(rng, ["hi", "", None, [_random_part(rng) for _ in range(rng.randint(0, 3))]], _ODD)
    message: dict[str, Any] = {"role": role, "content": content}
    if role == "assistant" and rng.random() < 0.5:
        calls = []
        for _ in range(rng.randint(1, 3)):
            ids.append(_pick(rng, [f"call_{len(ids)}", "odd id:1"], _ODD))
            calls.append(_pick(rng, [{"id": ids[-1], "type": "function", "function": {
                "name": "get_time", "arguments": _pick(rng, ["{}", '{"a": 1}', ""], ["{", "[]", 5, None])}}], _ODD))
        message["tool_calls"] = _pick(rng, [calls], _ODD)
    if role == "tool":
        message["tool_call_id"] = _pick(rng, [rng.choice(ids) if ids else "call_0"], _ODD)
    return _pick(rng, [message], _ODD)


def _random_body(rng: random.Random) -> dict[str, Any]:
    ids: list[str] = []
    messages = [user("start"), *(_random_message(rng, ids) for _ in range(rng.randint(0, 6)))]
    body: dict[str, Any] = {"messages": _pick(rng, [messages], _ODD)}
    options: dict[str, tuple[list[Any], list[Any]]] = {
        "tools": ([TOOLS, []], [[{"type": "function"}], [{"type": "custom"}], "t", [5]]),
        "tool_choice": (["auto", "required", "none", {"type": "function", "function": {"name": "get_time"}}],
                        ["always", {"type": "function"}, {"type": "function", "function": {"name": 1}}]),
        "parallel_tool_calls": ([True, False], ["no"]),
        "max_completion_tokens": ([1, 2000, 40000], [0, "9", True, -3]), "max_tokens": ([100], [None, 1.5]),
        "reasoning_effort": (["none", "minimal", "low", "high", "max"], ["huge", 3]),
        "stop": (["x", ["a", "b"], []], [5, [None]]), "n": ([1], [2, "1", 0]),
        "response_format": ([{"type": "text"}, {"type": "json_schema", "json_schema": {"name": "r", "schema": {}}}],
                            [{"type": "json_object"}, "json", {"type": "json_schema"}]),
        "temperature": ([0.3], ["hot"]), "user": (["u"], [5, ""]), "safety_identifier": (["s"], [[]]),
        "stream": ([True, False], ["yes"]), "logprobs": ([False], [True]), "modalities": ([["text"]], [["audio"]]),
    }
    for key, (good, bad) in options.items():
        if rng.random() < 0.4:
            body[key] = _pick(rng, good, bad)
    return body


def test_fuzzed_bodies_translate_to_valid_anthropic_or_raise_only_untranslatable() -> None:
    rng = random.Random(1313)
    translated = 0
    for _ in range(600):
        body = _random_body(rng)
        try:
            out = request(body, RequestOptions(model="claude-sonnet-4-5"))
        except Untranslatable as refusal:
            assert refusal.field and refusal.message.startswith(refusal.field)
            continue
        translated += 1
        valid_anthropic(out.body)
    assert translated > 120


# --- compositions: the Anthropic body through the Anthropic-client pairs ------------------------


def _rich_conversation() -> dict[str, Any]:
    return {"messages": [
        {"role": "system", "content": "Be brief."}, user([text("Weather here?"), {
            "type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}}]),
        tool_calls(("call_a", "get_weather", '{"city": "Paris"}'), ("call_b", "get_time", "{}")),
        tool("call_a", "18C"), tool("call_b", [text("noon")]),
        {"role": "assistant", "content": "18C at noon."}, {"role": "developer", "content": "Mind the units."},
        user("And tomorrow?")],
        "tools": TOOLS, "tool_choice": "auto", "parallel_tool_calls": False, "max_completion_tokens": 20000,
        "reasoning_effort": "medium", "safety_identifier": "user-9", "stream": True,
        "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}}}


@pytest.mark.parametrize(("pair", "model"), [(anthropic_openai_chat, "gpt-4o"), (anthropic_openai_chat, "o3"),
                                             (anthropic_openai_responses, "gpt-5"),
                                             (anthropic_gemini, "gemini-2.5-flash"),
                                             (anthropic_gemini, "gemini-3-pro-preview")])
def test_the_anthropic_body_is_taken_by_every_anthropic_client_pair(pair: Any, model: str) -> None:
    body = translate(_rich_conversation())
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    onward = pair.request(body, RequestOptions(model=model))
    assert onward.stream is True
    text_of = orjson.dumps(onward.body).decode()
    for fact in ("Be brief.", "Mind the units.", "18C", "noon", "get_weather", "Paris", "And tomorrow?"):
        assert fact in text_of


def test_fuzzed_anthropic_bodies_never_break_the_next_pair() -> None:
    rng = random.Random(99)
    for _ in range(300):
        try:
            body = request(_random_body(rng), RequestOptions(model="claude-sonnet-4-5")).body
        except Untranslatable:
            continue
        for pair, model in ((anthropic_openai_chat, "gpt-4o"), (anthropic_openai_responses, "gpt-5"),
                            (anthropic_gemini, "gemini-2.5-pro")):
            try:
                pair.request(body, RequestOptions(model=model))
            except Untranslatable as refusal:
                # Only what the next target itself cannot carry: an image URL on
                # Gemini; stop sequences or a prefill (a conversation ending in
                # an assistant message) on Responses.
                assert (pair is anthropic_gemini and "image by URL" in refusal.message) or (
                    pair is anthropic_openai_responses and (refusal.field == "stop_sequences"
                                                            or "prefilled" in refusal.message)), refusal


# --- the whole answer ----------------------------------------------------------

USAGE = {"input_tokens": 20, "cache_creation_input_tokens": 30, "cache_read_input_tokens": 100, "output_tokens": 42}


def message(content: list[dict[str, Any]], stop: str | None = "end_turn", **extra: Any) -> bytes:
    return orjson.dumps({"id": "msg_01AbC", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                         "content": content, "stop_reason": stop, "stop_sequence": None, "usage": USAGE, **extra})


def completion(raw: bytes, model: str = "gpt-4o") -> ChatCompletion:
    return ChatCompletion.model_validate(orjson.loads(BRIDGE.answer(raw, Reply(model))))


def test_answer_with_text_tool_calls_and_exact_usage() -> None:
    done = completion(message([
        {"type": "thinking", "thinking": "hmm", "signature": "sig"}, {"type": "redacted_thinking", "data": "x"},
        text("Checking "), text("both."),
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}}], "tool_use"))
    assert (done.id, done.object, done.model) == ("chatcmpl-01AbC", "chat.completion", "gpt-4o")
    assert done.created > 1_700_000_000 and len(done.choices) == 1
    choice = done.choices[0]
    assert (choice.index, choice.finish_reason, choice.message.role) == (0, "tool_calls", "assistant")
    assert choice.message.content == "Checking both."
    assert [(c.id, c.function.name, orjson.loads(c.function.arguments)) for c in choice.message.tool_calls or []] == [
        ("toolu_1", "get_weather", {"city": "Paris"}), ("toolu_2", "get_time", {})]
    assert done.usage is not None and done.usage.prompt_tokens_details is not None
    assert (done.usage.prompt_tokens, done.usage.completion_tokens, done.usage.total_tokens) == (150, 42, 192)
    assert (done.usage.prompt_tokens_details.cached_tokens,
            done.usage.prompt_tokens_details.cache_write_tokens) == (100, 30)


def test_a_tool_only_answer_has_no_content_and_an_empty_one_an_empty_string() -> None:
    done = completion(message([{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}], "tool_use"))
    assert done.choices[0].message.content is None and done.choices[0].message.tool_calls
    empty = completion(message([{"type": "thinking", "thinking": "long", "signature": "s"}], "max_tokens"))
    assert empty.choices[0].message.content == "" and empty.choices[0].finish_reason == "length"


@pytest.mark.parametrize(("stop", "finish"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"), ("pause_turn", "length"), ("tool_use", "tool_calls"),
    ("refusal", "content_filter"), (None, "stop"), ("something_new", "stop")])
def test_every_stop_reason(stop: str | None, finish: str) -> None:
    assert completion(message([text("x")], stop)).choices[0].finish_reason == finish


def test_an_odd_answer_still_makes_a_valid_completion() -> None:
    for raw in (b"not json", b"[]", orjson.dumps({"content": "x", "usage": {"input_tokens": "many"}}),
                orjson.dumps({"content": [None, {"type": "tool_use", "input": "x"}, {"type": "text"}]})):
        done = completion(raw)
        assert done.choices[0].finish_reason == "stop" and done.id.startswith("chatcmpl-")


def test_errors_come_back_in_chat_shape_with_the_same_status() -> None:
    body = orjson.dumps({"type": "error", "error": {"type": "rate_limit_error", "message": "Slow down"},
                         "request_id": "req_1"})
    assert orjson.loads(BRIDGE.error(429, body)) == {"error": {
        "message": "Slow down", "type": "rate_limit_error", "param": None, "code": "rate_limit_exceeded"}}
    assert orjson.loads(BRIDGE.error(529, b'{"type":"error","error":{"type":"overloaded_error",'
                                          b'"message":"Overloaded"}}'))["error"]["message"] == "Overloaded"
    assert orjson.loads(BRIDGE.error(502, b"<html>Bad gateway</html>"))["error"]["message"] == "<html>Bad gateway</html>"
    assert orjson.loads(BRIDGE.error(500, b""))["error"]["message"] == "upstream answered 500"


# --- the stream ----------------------------------------------------------------


def ev(name: str, **data: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps({"type": name, **data}) + b"\n\n"


def block(index: int, content_block: dict[str, Any], *deltas: dict[str, Any]) -> bytes:
    return (ev("content_block_start", index=index, content_block=content_block)
            + b"".join(ev("content_block_delta", index=index, delta=d) for d in deltas)
            + ev("content_block_stop", index=index))


def start(usage: dict[str, Any] | None = None) -> bytes:
    return ev("message_start", message={
        "id": "msg_01XyZ", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [],
        "stop_reason": None, "stop_sequence": None,
        "usage": usage or {"input_tokens": 20, "cache_creation_input_tokens": 30, "cache_read_input_tokens": 100,
                           "output_tokens": 1}})


def finish(stop: str = "end_turn", output: int = 42) -> bytes:
    return (ev("message_delta", delta={"stop_reason": stop, "stop_sequence": None}, usage={"output_tokens": output})
            + ev("message_stop"))


RECORDED = b"".join([
    start(), ev("ping"),
    block(0, {"type": "thinking", "thinking": "", "signature": ""}, {"type": "thinking_delta", "thinking": "Two"},
          {"type": "signature_delta", "signature": "EqQB"}),
    block(1, {"type": "text", "text": ""}, {"type": "text_delta", "text": "Checking "},
          {"type": "text_delta", "text": "both — "}, {"type": "text_delta", "text": "ünïcode."}),
    block(2, {"type": "tool_use", "id": "toolu_A", "name": "get_weather", "input": {}},
          {"type": "input_json_delta", "partial_json": ""}, {"type": "input_json_delta", "partial_json": '{"city": '},
          {"type": "input_json_delta", "partial_json": '"Paris"}'}),
    block(3, {"type": "tool_use", "id": "toolu_B", "name": "get_time", "input": {}}),
    ev("ping"), finish("tool_use"),
])


def chunks(raw: bytes) -> list[Any]:
    """The data payloads of a Chat stream, `[DONE]` as the string."""
    assert raw.endswith(b"\n\n") and all(line.startswith(b"data: ") for line in raw.split(b"\n\n")[:-1])
    return [p if p == "[DONE]" else orjson.loads(p)
            for p in (line[len(b"data: "):].decode() for line in raw.split(b"\n\n")[:-1])]


def run(raw: bytes, pieces: Iterator[bytes] | None = None, translator: Any = None) -> tuple[bytes, Any]:
    translator = translator or BRIDGE.stream(Reply("gpt-4o"))
    out = b"".join(translator.feed(p) for p in (pieces if pieces is not None else [raw]))
    return out + translator.end(), translator


def accumulate(raw: bytes) -> Any:
    """The stream as the openai SDK's own accumulator builds the completion."""
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    usage = None
    payloads = chunks(raw)
    assert payloads[-1] == "[DONE]"
    for payload in payloads[:-1]:
        parsed = ChatCompletionChunk.model_validate(payload)
        usage = parsed.usage or usage
        state.handle_chunk(parsed)
    # The snapshot, not get_final_completion(): that one raises on `length` and `content_filter`.
    return state.current_completion_snapshot, usage


def test_recorded_stream_makes_the_completion_the_sdk_expects() -> None:
    out, translator = run(RECORDED)
    payloads = chunks(out)
    assert payloads[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert {p["id"] for p in payloads[:-1]} == {"chatcmpl-01XyZ"} and {p["model"] for p in payloads[:-1]} == {"gpt-4o"}
    # A call's first fragment names it; later ones carry only index and arguments.
    calls = [c for p in payloads[:-1] for choice in p["choices"] for c in choice["delta"].get("tool_calls", ())]
    assert calls == [
        {"index": 0, "id": "toolu_A", "type": "function", "function": {"name": "get_weather", "arguments": ""}},
        {"index": 0, "function": {"arguments": '{"city": '}}, {"index": 0, "function": {"arguments": '"Paris"}'}},
        {"index": 1, "id": "toolu_B", "type": "function", "function": {"name": "get_time", "arguments": ""}},
        {"index": 1, "function": {"arguments": "{}"}}]
    assert payloads[-2]["choices"] == [] and payloads[-3]["choices"][0]["finish_reason"] == "tool_calls"
    done, usage = accumulate(out)
    choice = done.choices[0]
    assert choice.message.content == "Checking both — ünïcode." and choice.finish_reason == "tool_calls"
    assert [(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls] == [
        ("toolu_A", "get_weather", '{"city": "Paris"}'), ("toolu_B", "get_time", "{}")]
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (150, 42, 192)
    assert (usage.prompt_tokens_details.cached_tokens, usage.prompt_tokens_details.cache_write_tokens) == (100, 30)
    u = translator.usage
    assert (u.input_tokens, u.cache_creation_tokens, u.cache_read_tokens, u.output_tokens) == (20, 30, 100, 42)
    tap = StreamTap()  # the route's usage tap reads the translated stream
    tap.feed(out)
    assert tap.complete and (tap.usage.cache_read_tokens, tap.usage.output_tokens) == (100, 42)


def _same_created(raw: bytes) -> list[Any]:
    return [p if p == "[DONE]" or "error" in p else {**p, "created": 0} for p in chunks(raw)]


def test_stream_fed_byte_by_byte_and_at_every_split_gives_the_same_chunks() -> None:
    whole = _same_created(run(RECORDED)[0])
    assert _same_created(run(RECORDED, (RECORDED[i:i + 1] for i in range(len(RECORDED))))[0]) == whole
    for i in range(len(RECORDED)):
        assert _same_created(run(RECORDED, iter([RECORDED[:i], RECORDED[i:]]))[0]) == whole, i


def test_chunks_go_out_as_their_events_arrive() -> None:
    translator = BRIDGE.stream(Reply("gpt-4o"))
    assert chunks(translator.feed(start()))[0]["choices"][0]["delta"]["role"] == "assistant"
    opened = translator.feed(ev("content_block_start", index=0, content_block={"type": "text", "text": ""}))
    assert opened == b""
    sent = translator.feed(ev("content_block_delta", index=0, delta={"type": "text_delta", "text": "Hel"})[:-1])
    assert sent == b""  # not whole yet: the event's blank line is missing
    assert chunks(translator.feed(b"\n"))[0]["choices"][0]["delta"] == {"content": "Hel"}


def test_usage_chunk_only_when_the_client_asked() -> None:
    raw = start() + block(0, {"type": "text", "text": ""}, {"type": "text_delta", "text": "hi"}) + finish()
    asked, _ = run(raw, translator=stream_for({"stream": True, "stream_options": {"include_usage": True}}, "m"))
    assert chunks(asked)[-2]["choices"] == [] and chunks(asked)[-2]["usage"]["completion_tokens"] == 42
    assert all("usage" in p for p in chunks(asked)[:-1])
    silent, translator = run(raw, translator=stream_for({"stream": True}, "m"))
    assert [p["choices"][0]["finish_reason"] for p in chunks(silent)[:-1]] == [None, None, "stop"]
    assert b"usage" not in silent and chunks(silent)[-1] == "[DONE]"
    assert translator.usage.output_tokens == 42  # still counted for the record


@pytest.mark.parametrize(("stop", "reason"), [("end_turn", "stop"), ("max_tokens", "length"),
                                              ("stop_sequence", "stop"), ("refusal", "content_filter"),
                                              ("pause_turn", "length"), ("tool_use", "tool_calls")])
def test_stream_finish_reasons(stop: str, reason: str) -> None:
    out, _ = run(start() + block(0, {"type": "text", "text": ""}, {"type": "text_delta", "text": "x"}) + finish(stop))
    assert accumulate(out)[0].choices[0].finish_reason == reason


def test_a_text_block_that_starts_with_text_and_a_call_with_whole_input() -> None:
    out, _ = run(start() + block(0, {"type": "text", "text": "Hi"})
                 + block(1, {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}}) + finish("tool_use"))
    done = accumulate(out)[0].choices[0].message
    assert done.content == "Hi" and done.tool_calls[0].function.arguments == '{"a":1}'


def test_mid_stream_error_becomes_an_error_chunk_the_sdk_raises() -> None:
    raw = (start() + ev("content_block_start", index=0, content_block={"type": "text", "text": ""})
           + ev("content_block_delta", index=0, delta={"type": "text_delta", "text": "par"})
           + ev("error", error={"type": "overloaded_error", "message": "Overloaded"}) + finish())
    out, _ = run(raw)
    last = chunks(out)[-1]
    assert last["error"]["message"] == "Overloaded" and last["error"]["type"] == "server_error"
    assert b"[DONE]" not in out and b"finish_reason\":\"stop" not in out

    def fake(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=out, headers={"content-type": "text/event-stream"})

    client = openai.OpenAI(api_key="k", base_url="http://fake/v1", http_client=httpx.Client(
        transport=httpx.MockTransport(fake)))
    stream = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}], stream=True)
    got: list[str] = []
    with pytest.raises(openai.APIError, match="Overloaded"):
        for part in stream:
            got.extend(c.delta.content or "" for c in part.choices)
    assert "".join(got) == "par"


def test_a_cut_stream_ends_in_an_error_chunk_and_a_last_event_without_blank_line_completes() -> None:
    out, _ = run(start() + block(0, {"type": "text", "text": ""}, {"type": "text_delta", "text": "x"}))
    assert "error" in chunks(out)[-1] and b"[DONE]" not in out
    assert chunks(run(b"")[0]) == [{"error": {"message": "the upstream stream ended before the answer was complete",
                                              "type": "server_error", "param": None, "code": "bad_gateway"}}]
    whole = start() + finish()
    assert chunks(run(whole[:-2])[0])[-1] == "[DONE]"  # message_stop's blank line cut off
    assert chunks(run(whole + ev("ping") + b"data: junk\n\n")[0])[-1] == "[DONE]"  # nothing after the stop


def test_fuzzed_streams_never_raise_and_always_end_properly() -> None:
    rng = random.Random(2025)
    pieces = [start(), ev("ping"), block(0, {"type": "text", "text": ""}, {"type": "text_delta", "text": "t"}),
              block(1, {"type": "tool_use", "id": "t", "name": "f", "input": {}},
                    {"type": "input_json_delta", "partial_json": "{"}),
              ev("content_block_delta", index=0, delta={"type": "text_delta", "text": 5}),
              ev("content_block_delta", index=0, delta=None), ev("content_block_start", content_block="x"),
              ev("message_delta", delta="x", usage={"output_tokens": "many"}), ev("message_delta", usage=[]),
              ev("error", error="x"), finish(), b"data: [1]\n\n", b"event: x\ndata: {bad\n\n", b": keep-alive\n\n",
              ev("message_start", message=None)]
    for _ in range(300):
        raw = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        cuts = sorted(rng.sample(range(len(raw) + 1), min(3, len(raw) + 1)))
        out, translator = run(raw, (raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)))
        payloads = chunks(out)
        assert payloads[-1] == "[DONE]" or "error" in payloads[-1]
        for payload in payloads[:-1]:
            ChatCompletionChunk.model_validate(payload)


# --- round trips with the Anthropic-client pairs --------------------------------


def _chat_sse(*chunks_: dict[str, Any] | str) -> bytes:
    return b"".join(b"data: " + (c.encode() if isinstance(c, str) else orjson.dumps(c)) + b"\n\n" for c in chunks_)


def _chat_chunk(delta: dict[str, Any], finish_: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_}], "usage": None}


def test_a_chat_stream_through_both_pairs_keeps_text_calls_and_usage() -> None:
    """Chat upstream -> Anthropic events (the existing pair) -> Chat again (this one)."""
    upstream = _chat_sse(
        _chat_chunk({"role": "assistant", "content": ""}), _chat_chunk({"content": "Looking"}),
        _chat_chunk({"content": " up."}),
        _chat_chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                     "function": {"name": "get_weather", "arguments": '{"ci'}}]}),
        _chat_chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Oslo"}'}}]}),
        _chat_chunk({}, "tool_calls"),
        {"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o", "choices": [],
         "usage": {"prompt_tokens": 120, "completion_tokens": 9, "total_tokens": 129,
                   "prompt_tokens_details": {"cached_tokens": 100}}}, "[DONE]")
    translator = compose(BRIDGE, anthropic_openai_chat.BRIDGE).stream((Reply("gpt-4o"), "gpt-4o"))
    out = b"".join(translator.feed(upstream[i:i + 7]) for i in range(0, len(upstream), 7)) + translator.end()
    done, usage = accumulate(out)
    message_ = done.choices[0].message
    assert message_.content == "Looking up." and done.choices[0].finish_reason == "tool_calls"
    assert [(c.id, c.function.name, orjson.loads(c.function.arguments)) for c in message_.tool_calls] == [
        ("call_1", "get_weather", {"city": "Oslo"})]
    assert (usage.prompt_tokens, usage.prompt_tokens_details.cached_tokens, usage.completion_tokens) == (120, 100, 9)


def _gemini_chunk(parts: list[dict[str, Any]], finish_: str | None = None) -> bytes:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish_:
        candidate["finishReason"] = finish_
    return b"data: " + orjson.dumps({
        "candidates": [candidate], "modelVersion": "gemini-2.5-pro", "responseId": "r1",
        "usageMetadata": {"promptTokenCount": 120, "cachedContentTokenCount": 100, "candidatesTokenCount": 10,
                          "thoughtsTokenCount": 5, "totalTokenCount": 135}}) + b"\r\n\r\n"


def test_a_chat_client_on_gemini_through_the_pivot() -> None:
    """Chat -> Messages -> Gemini for the request; Gemini -> Messages -> Chat for answers, errors, streams."""
    bridge = compose(BRIDGE, anthropic_gemini.BRIDGE)
    asked = bridge.request(_rich_conversation(), RequestOptions(model="gemini-2.5-pro"))
    assert asked.path == wire.GEMINI_STREAM_PATH and asked.query == (("alt", "sse"),)
    assert asked.body["systemInstruction"] == {"parts": [{"text": "Be brief.\n\nMind the units."}]}
    assert [d["name"] for d in asked.body["tools"][0]["functionDeclarations"]] == ["get_weather", "get_time"]
    assert asked.body["generationConfig"]["maxOutputTokens"] == 20000
    parts = [{"text": "Looking it up."}, {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}]
    whole = orjson.loads(_gemini_chunk(parts, "STOP")[len(b"data: "):])
    done = ChatCompletion.model_validate(orjson.loads(bridge.answer(orjson.dumps(whole), (Reply("gpt-4o"), "gpt-4o"))))
    message_ = done.choices[0].message
    assert message_.content == "Looking it up." and done.choices[0].finish_reason == "tool_calls"
    assert [(c.function.name, orjson.loads(c.function.arguments)) for c in message_.tool_calls] == [
        ("get_weather", {"city": "Oslo"})]
    assert done.usage is not None and done.usage.prompt_tokens_details is not None
    assert (done.usage.prompt_tokens, done.usage.prompt_tokens_details.cached_tokens,
            done.usage.completion_tokens) == (120, 100, 15)
    upstream = _gemini_chunk([{"text": "Looking"}]) + _gemini_chunk([{"text": " it up."}]) + _gemini_chunk(
        [{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}], "STOP")
    translator = bridge.stream((Reply("gpt-4o"), "gpt-4o"))
    out = b"".join(translator.feed(upstream[i:i + 1]) for i in range(len(upstream))) + translator.end()
    streamed, usage = accumulate(out)
    assert streamed.choices[0].message.content == "Looking it up."
    assert [(c.function.name, orjson.loads(c.function.arguments)) for c in streamed.choices[0].message.tool_calls] == [
        ("get_weather", {"city": "Oslo"})]
    assert (usage.prompt_tokens, usage.prompt_tokens_details.cached_tokens, usage.completion_tokens) == (120, 100, 15)
    error = orjson.loads(bridge.error(429, b'{"error": {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED"}}'))
    assert error["error"]["message"].endswith("Quota") and error["error"]["code"] == "rate_limit_exceeded"


def test_an_agent_loop_round_trips_through_the_client() -> None:
    """Call, result, final answer: the client sends back what the bridge answered."""
    turns: list[dict[str, Any]] = [user("Weather in Paris?")]
    translate({"messages": turns, "tools": TOOLS})
    asked = completion(message([{"type": "tool_use", "id": "toolu_01Q", "name": "get_weather",
                                 "input": {"city": "Paris"}}], "tool_use")).choices[0].message
    turns += [asked.model_dump(exclude_none=True), tool(asked.tool_calls[0].id, "18C, sunny")]
    second = translate({"messages": turns, "tools": TOOLS, "reasoning_effort": "low"})
    assert second["messages"][1:] == [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01Q", "name": "get_weather",
                                           "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01Q", "content": "18C, sunny"}]}]
    assert "thinking" not in second  # the call's thinking did not survive Chat
