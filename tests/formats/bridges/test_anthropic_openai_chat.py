"""Anthropic Messages clients on OpenAI Chat Completions upstreams: request, answer, stream, errors."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Iterator
from typing import Any

import anthropic
import orjson
import pydantic
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from openai.types.chat import completion_create_params

from aiproxy.formats import wire
from aiproxy.formats.anthropic import StreamUsage
from aiproxy.formats.bridges.anthropic_openai_chat import BRIDGE, is_reasoning_model, request
from aiproxy.formats.bridges.base import RequestOptions, Untranslatable
from aiproxy.formats.sse import SSEParser
from aiproxy.model_limits import OutputCaps

# --- helpers -----------------------------------------------------------------

_PARAMS = {
    False: pydantic.TypeAdapter(completion_create_params.CompletionCreateParamsNonStreaming),
    True: pydantic.TypeAdapter(completion_create_params.CompletionCreateParamsStreaming),
}
CAPS = OutputCaps.load()
_KNOWN_FIELDS = (completion_create_params.CompletionCreateParamsBase.__required_keys__
                 | completion_create_params.CompletionCreateParamsBase.__optional_keys__ | {"stream"})


def _consume(value: Any) -> Any:
    # pydantic validates a TypedDict's Iterable fields lazily: walk them all.
    if isinstance(value, dict):
        return {k: _consume(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or (isinstance(value, Iterable) and not isinstance(value, (str, bytes))):
        return [_consume(v) for v in value]
    return value


def translate(body: dict[str, Any], model: str = "gpt-4o", drop: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The Chat body for `body`, checked against the openai SDK's own request types."""
    translated = request({"model": "claude-sonnet-4-5", "max_tokens": 1024, **body},
                         RequestOptions(model=model, drop=drop))
    assert translated.path == wire.CHAT_PATH
    assert set(translated.body) <= _KNOWN_FIELDS
    _consume(_PARAMS[translated.stream].validate_python(translated.body))
    return translated.body


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    return [(e.event, orjson.loads(e.data)) for e in SSEParser().feed(raw)]


def without_ids(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Events with the (random) message id blanked, to compare two runs."""
    seen = events(raw)
    for name, data in seen:
        if name == "message_start":
            data["message"]["id"] = "msg"
    return seen


def sse(*chunks: dict[str, Any] | str) -> bytes:
    return b"".join(b"data: " + (c.encode() if isinstance(c, str) else orjson.dumps(c)) + b"\n\n" for c in chunks)


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}], "usage": None, **extra}


def call(index: int, arguments: str, id: str | None = None, name: str | None = None) -> dict[str, Any]:
    fragment: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if id is not None:
        fragment.update(id=id, type="function")
        fragment["function"]["name"] = name
    return {"tool_calls": [fragment]}


USAGE = {"prompt_tokens": 120, "completion_tokens": 42, "total_tokens": 162,
         "prompt_tokens_details": {"cached_tokens": 100, "audio_tokens": 0},
         "completion_tokens_details": {"reasoning_tokens": 10}}


def accumulate(raw: bytes) -> anthropic.types.Message:
    """The translated stream as the anthropic SDK's own accumulator builds it."""
    snapshot = None
    bufs: dict[int, bytes] = {}
    for name, data in events(raw):
        assert name != "error", data
        snapshot = accumulate_event(event=data, current_snapshot=snapshot, json_bufs=bufs)  # type: ignore[arg-type]
    assert snapshot is not None
    return anthropic.types.Message.model_validate(snapshot.to_dict())


def run(raw: bytes, model: str = "claude-sonnet-4-5", pieces: Iterator[bytes] | None = None) -> tuple[bytes, Any]:
    translator = BRIDGE.stream(model)
    out = b"".join(translator.feed(p) for p in (pieces if pieces is not None else [raw]))
    return out + translator.end(), translator


# --- the request ---------------------------------------------------------------


def test_text_system_and_unknown_fields() -> None:
    body = translate({
        "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}},
                   {"type": "text", "text": "Answer in French."}],
        "messages": [user("Hi"), {"role": "assistant", "content": "Bonjour"},
                     user([{"type": "text", "text": "Ça va ?", "cache_control": {"type": "ephemeral"}}])],
        "speed": "fast", "service_tier": "auto", "top_k": 5, "inference_geo": "us", "made_up": {"x": 1},
        "cache_control": {"type": "ephemeral"}, "temperature": 0.3, "top_p": 0.9,
    })
    assert body == {
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": "You are terse.\n\nAnswer in French."},
                     {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Bonjour"},
                     {"role": "user", "content": "Ça va ?"}],
        "max_completion_tokens": 1024, "temperature": 0.3, "top_p": 0.9,
    }


def test_system_messages_mid_conversation() -> None:
    body = translate({"messages": [
        user("a"), {"role": "system", "content": "just for this turn", "clear_at": "next_user_message"},
        {"role": "assistant", "content": "b"}, {"role": "system", "content": [{"type": "text", "text": "always"}]},
        user("c"), {"role": "system", "content": "now", "clear_at": "next_user_message", "output_config": {}},
    ]})
    # The first is cleared: a user turn came after it; the last is not (yet).
    assert body["messages"] == [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                                {"role": "system", "content": "always"}, {"role": "user", "content": "c"},
                                {"role": "system", "content": "now"}]
    # Between a call and its result a system message would break Chat's pairing: it moves after the result.
    body = translate({"messages": [
        user("a"), {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
        {"role": "system", "content": "note"},
        user([{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}, {"type": "text", "text": "go"}]),
    ]})
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "tool", "system", "user"]


def test_images_and_documents() -> None:
    body = translate({"messages": [user([
        {"type": "text", "text": "Compare"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "document", "title": "spec", "source": {"type": "base64", "media_type": "application/pdf",
                                                          "data": "JVBERi0x"}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain words"}},
    ])]})
    assert body["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "file", "file": {"filename": "spec.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"}},
        {"type": "text", "text": "plain words"},
    ]}]


@pytest.mark.parametrize(("block", "field"), [
    ({"type": "image", "source": {"type": "file", "file_id": "file_1"}}, "messages[0].content[1]"),
    ({"type": "image", "source": {"type": "base64", "media_type": "image/tiff", "data": "x"}},
     "messages[0].content[1]"),
    ({"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}, "messages[0].content[1]"),
    ({"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}, "messages[0].content[1]"),
    ({"type": "text"}, "messages[0].content[1].text"),
])
def test_blocks_the_target_cannot_take_are_refused_by_name(block: dict[str, Any], field: str) -> None:
    with pytest.raises(Untranslatable) as raised:
        translate({"messages": [user([{"type": "text", "text": "see"}, block])]})
    assert raised.value.field == field


def test_tools_and_tool_choice() -> None:
    tools = [{"name": "get_weather", "description": "Weather now", "cache_control": {"type": "ephemeral"},
              "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
             {"type": "custom", "name": "noop", "input_schema": {"type": "object"}, "strict": True}]
    body = translate({"messages": [user("weather?")], "tools": tools,
                      "tool_choice": {"type": "any", "disable_parallel_tool_use": True}})
    assert body["tools"] == [
        {"type": "function", "function": {"name": "get_weather", "description": "Weather now",
                                          "parameters": tools[0]["input_schema"]}},
        {"type": "function", "function": {"name": "noop", "parameters": {"type": "object"}, "strict": True}},
    ]
    assert body["tool_choice"] == "required" and body["parallel_tool_calls"] is False
    for choice, expected in [({"type": "auto"}, "auto"), ({"type": "none"}, "none"),
                             ({"type": "tool", "name": "noop"}, {"type": "function", "function": {"name": "noop"}})]:
        assert translate({"messages": [user("x")], "tools": tools, "tool_choice": choice})["tool_choice"] == expected
    # Chat refuses a tool_choice without tools; Anthropic's is meaningless there.
    assert "tool_choice" not in translate({"messages": [user("x")], "tool_choice": {"type": "auto"}})


@pytest.mark.parametrize(("tool", "field"), [
    ({"name": "f", "input_schema": {"type": "string"}}, "tools[0].input_schema"),
    ({"name": "f", "input_schema": "not a schema"}, "tools[0].input_schema"),
    ({"name": "f"}, "tools[0].input_schema"),
    ({"name": "has space", "input_schema": {"type": "object"}}, "tools[0].name"),
    ({"type": "web_search_20250305", "name": "web_search"}, "tools[0]"),
    ({"type": "bash_20250124", "name": "bash"}, "tools[0]"),
])
def test_bad_or_server_tools_are_refused(tool: dict[str, Any], field: str) -> None:
    with pytest.raises(Untranslatable) as raised:
        translate({"messages": [user("x")], "tools": [tool]})
    assert raised.value.field == field


def test_a_whole_tool_loop_translates() -> None:
    body = translate({"messages": [
        user("Weather in Paris and Rome?"),
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "two calls", "signature": "sig"},
            {"type": "redacted_thinking", "data": "xx"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}},
        ]},
        user([
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True,
             "content": [{"type": "text", "text": "timeout"},
                         {"type": "image", "source": {"type": "url", "url": "https://example.com/map.png"}}]},
            {"type": "text", "text": "And tomorrow?"},
        ]),
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "only thinking", "signature": "s"}]},
        user("ok"),
    ]})
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "toolu_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}},
        ]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: timeout"},
        # A tool message takes only text: the image follows right after the results.
        {"role": "user", "content": [
            {"type": "text", "text": "(attached to the result of tool call toolu_2)"},
            {"type": "image_url", "image_url": {"url": "https://example.com/map.png"}},
            {"type": "text", "text": "And tomorrow?"},
        ]},
        {"role": "user", "content": "ok"},
    ]
    only_tools = translate({"messages": [user([{"type": "tool_result", "tool_use_id": "t"}])]})
    assert only_tools["messages"] == [{"role": "tool", "tool_call_id": "t", "content": ""}]


def test_reasoning_models_get_their_written_rule() -> None:
    common = {"messages": [user("x")], "temperature": 0.2, "top_p": 0.5, "stop_sequences": ["END"],
              "thinking": {"type": "enabled", "budget_tokens": 10000}}
    plain = translate(common, model="gpt-4o")
    assert (plain["temperature"], plain["top_p"], plain["stop"]) == (0.2, 0.5, ["END"])
    assert "reasoning_effort" not in plain  # gpt-4o refuses it
    for model in ("o1", "o3-mini", "o4-mini-2025-04-16", "gpt-5", "gpt-5.1-codex", "openai/gpt-5-mini", "GPT-5"):
        body = translate(common, model=model)
        assert not {"temperature", "top_p", "stop", "max_tokens"} & set(body), model
        assert body["max_completion_tokens"] == 1024 and body["reasoning_effort"] == "medium"
    assert translate({**common, "temperature": 1}, model="o3")["temperature"] == 1
    assert [is_reasoning_model(m) for m in ("gpt-4o", "gpt-4.1", "o1x", "gpt-50", "deepseek-chat")] == [False] * 5


def test_effort_and_thinking_budgets() -> None:
    def effort(**extra: Any) -> Any:
        return translate({"messages": [user("x")], **extra}, model="gpt-5").get("reasoning_effort")

    assert effort(thinking={"type": "enabled", "budget_tokens": 1024}) == "low"
    assert effort(thinking={"type": "enabled", "budget_tokens": 16384}) == "medium"
    assert effort(thinking={"type": "enabled", "budget_tokens": 32000}) == "high"
    assert effort(thinking={"type": "adaptive"}) is None
    assert effort(thinking={"type": "disabled"}) is None
    assert effort(output_config={"effort": "xhigh"}, thinking={"type": "enabled", "budget_tokens": 2000}) == "xhigh"
    with pytest.raises(Untranslatable, match="output_config.effort"):
        effort(output_config={"effort": "extreme"})


def capped(model: str) -> RequestOptions:
    """The options bridging hands the pair: the model and its packaged output cap."""
    return RequestOptions(model=model, max_output=CAPS.max_output(model))


@pytest.mark.parametrize(("model", "limit", "sent"), [
    ("gpt-4o", 64000, 16384),  # Claude Code's limit on gpt-4o, which refuses more
    ("gpt-4o", 32000, 16384),
    ("gpt-4.1", 64000, 32768),
    ("gpt-4.1", 32000, 32000),  # below the cap: as sent
    ("o3", 64000, 64000),
    ("gpt-4o", 16384, 16384),
    ("deepseek-chat", 64000, 64000),  # no entry: no cap
])
def test_the_limit_is_clamped_to_the_models_cap(model: str, limit: int, sent: int) -> None:
    body = request({"model": "claude-sonnet-4-5", "max_tokens": limit, "messages": [user("x")]}, capped(model)).body
    assert body["max_completion_tokens"] == sent and "max_tokens" not in body


def test_a_thinking_budget_is_read_as_the_cap_allows() -> None:
    # On a model whose cap could not hold the budget, the effort is that of the
    # budget it could: below the cap.
    body = {"model": "claude-sonnet-4-5", "max_tokens": 64000, "messages": [user("x")],
            "thinking": {"type": "enabled", "budget_tokens": 31999}}
    assert request(body, RequestOptions(model="o3", max_output=16384)).body["reasoning_effort"] == "medium"
    assert request(body, RequestOptions(model="o3", max_output=100000)).body["reasoning_effort"] == "high"
    assert request(body, RequestOptions(model="o3")).body["reasoning_effort"] == "high"


def test_structured_output_user_id_and_stream() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = translate({"messages": [user("x")], "stream": True, "metadata": {"user_id": "u-1"},
                      "output_config": {"format": {"type": "json_schema", "schema": schema}}})
    assert body["response_format"] == {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}
    assert body["safety_identifier"] == "u-1"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    long_id = "user_" + "a" * 64 + "_account_" + "b" * 36 + "_session_" + "c" * 36
    hashed = translate({"messages": [user("x")], "metadata": {"user_id": long_id}})["safety_identifier"]
    assert hashed == hashlib.sha256(long_id.encode()).hexdigest()
    assert "stream" not in translate({"messages": [user("x")], "stream": False})


def test_account_drop_list_and_options_with_no_mapping() -> None:
    body = translate({"messages": [user("x")], "metadata": {"user_id": "u"}},
                     drop=frozenset({"safety_identifier", "max_completion_tokens"}))
    assert set(body) == {"model", "messages"}
    for extra, field in [({"mcp_servers": [{"type": "url", "url": "https://mcp", "name": "m"}]}, "mcp_servers"),
                         ({"container": "cntr_1"}, "container"),
                         ({"stop_sequences": ["a", "b", "c", "d", "e"]}, "stop_sequences"),
                         ({"max_tokens": 0}, "max_tokens"),
                         ({"messages": []}, "messages"),
                         ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
                         ({"messages": [{"role": "system", "content": [{"type": "tool_addition"}]}]},
                          "messages[0].content[0]"),
                         ({"output_config": {"format": {"type": "regex"}}}, "output_config.format")]:
        with pytest.raises(Untranslatable) as raised:
            translate({"messages": [user("x")], **extra})
        assert raised.value.field == field


def _pick(rng: random.Random, good: list[Any], bad: list[Any]) -> Any:
    """Mostly a valid value, now and then an odd one."""
    return rng.choice(bad) if rng.random() < 0.04 else rng.choice(good)


_IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}}


def _random_block(rng: random.Random, role: str) -> Any:
    good = [{"type": "text", "text": "hi"}, _IMAGE, {"type": "thinking", "thinking": "t", "signature": "s"}]
    if role == "user":
        good += [{"type": "tool_result", "tool_use_id": "toolu_1", "content": _pick(rng, ["r", [_IMAGE]], [7])},
                 {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "d"}}]
    else:
        good += [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": _pick(rng, [{"a": 1}], ["x", []])}]
    return _pick(rng, good, [{"type": "weird"}, {"type": "text", "text": 3}, "text", 42, {"type": "image"}, None])


def _random_body(rng: random.Random) -> dict[str, Any]:
    roles = [_pick(rng, ["user", "assistant"], ["system", None]) for _ in range(rng.randint(1, 5))]
    body: dict[str, Any] = {"messages": _pick(rng, [[
        {"role": role, "content": _pick(rng, ["hi", [_random_block(rng, str(role)) for _ in range(rng.randint(1, 4))]],
                                        [5, None, []])}
        for role in roles]], [[], "m", None])}
    options: dict[str, tuple[list[Any], list[Any]]] = {
        "system": (["s", [{"type": "text", "text": "t", "cache_control": {"type": "ephemeral"}}]], [[{"type": "x"}], 3]),
        "max_tokens": ([1, 4096], [0, "10", True]), "temperature": ([0.5, 1], ["hot"]), "top_p": ([0.9], [[]]),
        "stop_sequences": ([["x"], []], ["x", [1], ["a"] * 6]),
        "tools": ([[{"name": "f", "input_schema": {"type": "object"}}]], [[{"name": 1}], "t", [3]]),
        "tool_choice": ([{"type": "auto"}, {"type": "tool", "name": "f"}], ["auto", {"type": "bogus"}]),
        "thinking": ([{"type": "enabled", "budget_tokens": 2048}, {"type": "adaptive"}], [{"type": "enabled"}, "on"]),
        "output_config": ([{"effort": "low"}, {"format": {"type": "json_schema", "schema": {}}}], [{"effort": 3}, 1]),
        "metadata": ([{"user_id": "u"}, {}], [{"user_id": 5}, "m"]), "stream": ([True, False], ["yes"]),
        "mcp_servers": ([[]], [[{}]]), "unknown": ([1], [None]),
    }
    for key, (good, bad) in options.items():
        if rng.random() < 0.4:
            body[key] = _pick(rng, good, bad)
    return body


def test_fuzzed_bodies_translate_or_are_refused_by_name() -> None:
    rng = random.Random(1205)
    translated = 0
    for _ in range(400):
        body = _random_body(rng)
        try:
            out = request(body, RequestOptions(model=rng.choice(["gpt-4o", "o3"])))
        except Untranslatable as refused:
            assert refused.field and refused.message.startswith(refused.field)
            continue
        translated += 1
        orjson.dumps(out.body)  # always JSON: nothing of the client's odd types slips through unchecked
    assert translated > 100


# --- the whole answer ----------------------------------------------------------


def completion(message: dict[str, Any], finish: str | None, usage: dict[str, Any] | None = None) -> bytes:
    return orjson.dumps({"id": "chatcmpl-9", "object": "chat.completion", "created": 1, "model": "gpt-4o",
                         "choices": [{"index": 0, "message": {"role": "assistant", **message},
                                      "finish_reason": finish}],
                         "usage": usage or {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}})


def answer(message: dict[str, Any], finish: str | None, usage: dict[str, Any] | None = None) -> anthropic.types.Message:
    return anthropic.types.Message.model_validate(
        orjson.loads(BRIDGE.answer(completion(message, finish, usage), "claude-sonnet-4-5")))


def test_answer_with_text_tool_calls_and_exact_usage() -> None:
    got = answer({"content": "Let me look.", "tool_calls": [
        {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
        {"id": "call_b", "type": "function", "function": {"name": "noop", "arguments": ""}},
        {"id": "call_c", "type": "function", "function": {"name": "bad", "arguments": "{not json"}},
    ]}, "tool_calls", {**USAGE, "prompt_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 15}})
    assert got.model == "claude-sonnet-4-5" and got.role == "assistant" and got.id.startswith("msg_")
    assert [b.to_dict() for b in got.content] == [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_b", "name": "noop", "input": {}},
        {"type": "tool_use", "id": "call_c", "name": "bad", "input": {"_raw_arguments": "{not json"}},
    ]
    assert got.stop_reason == "tool_use"
    # 120 prompt tokens = 100 read from cache + 15 written to it + 5 uncached.
    assert (got.usage.input_tokens, got.usage.cache_read_input_tokens, got.usage.cache_creation_input_tokens,
            got.usage.output_tokens) == (5, 100, 15, 42)


@pytest.mark.parametrize(("message", "finish", "reason"), [
    ({"content": "done"}, "stop", "end_turn"),
    ({"content": "cut"}, "length", "max_tokens"),
    ({"content": None, "tool_calls": [{"id": "c", "type": "function",
                                       "function": {"name": "f", "arguments": "{}"}}]}, "tool_calls", "tool_use"),
    ({"content": None, "tool_calls": [{"id": "c", "type": "function",
                                       "function": {"name": "f", "arguments": "{}"}}]}, "stop", "tool_use"),
    ({"content": "x"}, "function_call", "tool_use"),
    ({"content": ""}, "content_filter", "refusal"),
    ({"content": None, "refusal": "I can't help with that."}, "stop", "refusal"),
    ({"content": "x"}, None, "end_turn"),
])
def test_every_stop_reason(message: dict[str, Any], finish: str | None, reason: str) -> None:
    assert answer(message, finish).stop_reason == reason


def test_an_odd_answer_still_makes_a_valid_message() -> None:
    parts = answer({"content": [{"type": "text", "text": "in "}, {"type": "text", "text": "parts"}, 3]}, "stop")
    assert [b.to_dict() for b in parts.content] == [{"type": "text", "text": "in parts"}]
    for body in (b"", b"[]", b'{"choices": []}', b'{"choices": [{"message": null}], "usage": "x"}'):
        got = anthropic.types.Message.model_validate(orjson.loads(BRIDGE.answer(body, "m")))
        assert got.content == [] and got.usage.input_tokens == 0


# --- errors --------------------------------------------------------------------


def test_errors_come_back_in_anthropic_shape_with_the_same_status() -> None:
    openai_error = orjson.dumps({"error": {"message": "Rate limit reached for gpt-4o", "type": "requests",
                                           "param": None, "code": "rate_limit_exceeded"}})
    assert orjson.loads(BRIDGE.error(429, openai_error)) == {
        "type": "error", "error": {"type": "rate_limit_error", "message": "Rate limit reached for gpt-4o"}}
    assert orjson.loads(BRIDGE.error(400, b'{"error": {"message": "bad tool", "type": "invalid_request_error"}}'))[
        "error"] == {"type": "invalid_request_error", "message": "bad tool"}
    assert orjson.loads(BRIDGE.error(502, b"<html>Bad Gateway</html>"))["error"] == {
        "type": "api_error", "message": "<html>Bad Gateway</html>"}
    assert orjson.loads(BRIDGE.error(503, b""))["error"]["message"] == "upstream answered 503"
    assert orjson.loads(BRIDGE.error(404, b'{"error": "no such model"}'))["error"]["message"] == "no such model"


# --- streams -------------------------------------------------------------------

# A recorded-style stream: Azure's filter chunk, the role chunk, text, two
# parallel tool calls whose fragments interleave by index, the finish, the
# usage chunk, [DONE]; with a keep-alive comment and CRLF lines on the way.
RECORDED = (
    sse({"id": "", "object": "", "created": 0, "model": "", "choices": [],
         "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]},
        chunk({"role": "assistant", "content": "", "refusal": None}),
        chunk({"content": "Checking "}), chunk({"content": "both ☀️."}),
        chunk(call(0, "", id="call_paris", name="get_weather")),
        chunk(call(0, '{"ci')),
        chunk(call(1, "", id="call_rome", name="get_weather")),
        chunk(call(1, '{"city"')), chunk(call(0, 'ty": "Pa')), chunk(call(1, ': "Rome"}')),
        chunk(call(0, 'ris"}')))
    + b": keep-alive\r\n\r\n"
    + sse(chunk({}, "tool_calls"), {**chunk(), "choices": [], "usage": USAGE}, "[DONE]")
)


def expected_message() -> dict[str, Any]:
    return {"content": [{"type": "text", "text": "Checking both ☀️."},
                        {"type": "tool_use", "id": "call_paris", "name": "get_weather", "input": {"city": "Paris"}},
                        {"type": "tool_use", "id": "call_rome", "name": "get_weather", "input": {"city": "Rome"}}],
            "stop_reason": "tool_use", "usage": (20, 100, 0, 42)}


def summary(message: anthropic.types.Message) -> dict[str, Any]:
    u = message.usage
    return {"content": [b.to_dict() for b in message.content], "stop_reason": message.stop_reason,
            "usage": (u.input_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens, u.output_tokens)}


def test_recorded_stream_makes_the_message_the_sdk_expects() -> None:
    out, translator = run(RECORDED)
    names = [name for name, _ in events(out)]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    # One block at a time: every start is closed before the next begins.
    starts = [data["index"] for name, data in events(out) if name == "content_block_start"]
    stops = [data["index"] for name, data in events(out) if name == "content_block_stop"]
    assert starts == stops == [0, 1, 2]
    assert summary(accumulate(out)) == expected_message()
    assert (translator.usage.input_tokens, translator.usage.cache_read_tokens, translator.usage.output_tokens) == (
        20, 100, 42)
    tap = StreamUsage()  # the route's usage tap reads the translated stream
    tap.feed(out)
    assert (tap.usage.input_tokens, tap.usage.cache_read_tokens, tap.usage.output_tokens) == (20, 100, 42)
    assert tap.complete and tap.model == "claude-sonnet-4-5"


def test_stream_fed_byte_by_byte_and_at_every_split_gives_the_same_events() -> None:
    whole = without_ids(run(RECORDED)[0])
    assert without_ids(run(RECORDED, pieces=(RECORDED[i:i + 1] for i in range(len(RECORDED))))[0]) == whole
    for i in range(len(RECORDED)):
        assert without_ids(run(RECORDED, pieces=iter([RECORDED[:i], RECORDED[i:]]))[0]) == whole, i


def test_interleaved_calls_wait_for_the_open_block_and_sequential_ones_flow() -> None:
    translator = BRIDGE.stream("m")
    translator.feed(sse(chunk(call(0, '{"a":', id="c0", name="f"))))
    held = translator.feed(sse(chunk(call(1, '{"b":2}', id="c1", name="g"))))
    assert held == b""  # call 1 waits: call 0's arguments are not whole yet
    released = events(translator.feed(sse(chunk(call(0, "1}")))))
    # Call 0 ends (its arguments are now whole), and call 1 follows at once, before the finish.
    assert [(n, d.get("index"), d.get("delta", {}).get("partial_json")) for n, d in released] == [
        ("content_block_delta", 0, "1}"), ("content_block_stop", 0, None),
        ("content_block_start", 1, None), ("content_block_delta", 1, '{"b":2}')]
    tail = translator.feed(sse(chunk({}, "tool_calls"), {**chunk(), "choices": [], "usage": USAGE}, "[DONE]"))
    assert [n for n, _ in events(tail)] == ["content_block_stop", "message_delta", "message_stop"]


def test_calls_whose_arguments_never_look_whole_are_flushed_at_the_finish() -> None:
    raw = sse(chunk(call(0, '{"a": [1,', id="c0", name="f")), chunk(call(1, '{"b"', id="c1", name="g")),
              chunk(call(0, " 2]}")), chunk(call(1, ": 3}")), chunk({"content": "after"}),
              chunk({}, "tool_calls"), {**chunk(), "choices": [], "usage": USAGE}, "[DONE]")
    message = accumulate(run(raw)[0])
    assert [b.to_dict() for b in message.content] == [
        {"type": "tool_use", "id": "c0", "name": "f", "input": {"a": [1, 2]}},
        {"type": "tool_use", "id": "c1", "name": "g", "input": {"b": 3}},
        {"type": "text", "text": "after"}]


def test_whole_calls_without_an_index_are_separate_blocks() -> None:
    # As some OpenAI-compatible servers send them: each call whole, no `index`.
    whole = [{"id": f"call_{i}", "type": "function", "function": {"name": "f", "arguments": f'{{"n": {i}}}'}}
             for i in range(2)]
    raw = sse(chunk({"tool_calls": whole[:1]}), chunk({"tool_calls": whole[1:]}), chunk({}, "tool_calls"), "[DONE]")
    assert [(b.id, b.input) for b in accumulate(run(raw)[0]).content] == [
        ("call_0", {"n": 0}), ("call_1", {"n": 1})]


@pytest.mark.parametrize(("finish", "reason"), [("stop", "end_turn"), ("length", "max_tokens"),
                                                ("content_filter", "refusal"), ("tool_calls", "tool_use")])
def test_stream_stop_reasons(finish: str, reason: str) -> None:
    raw = sse(chunk({"role": "assistant", "content": "x"}), chunk({}, finish),
              {**chunk(), "choices": [], "usage": USAGE}, "[DONE]")
    assert accumulate(run(raw)[0]).stop_reason == reason


def test_a_refusal_stream() -> None:
    raw = sse(chunk({"role": "assistant", "refusal": "I can't"}), chunk({"refusal": " help."}), chunk({}, "stop"),
              "[DONE]")
    message = accumulate(run(raw)[0])
    assert message.stop_reason == "refusal" and message.content[0].to_dict() == {"type": "text", "text": "I can't help."}


def test_mid_stream_error_becomes_an_anthropic_error_event() -> None:
    raw = sse(chunk({"content": "partial"}),
              {"error": {"message": "Rate limit hit", "type": "requests", "code": "rate_limit_exceeded"}},
              chunk({"content": "never"}))
    out, _ = run(raw)
    seen = events(out)
    assert seen[-1] == ("error", {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limit hit"}})
    assert "message_stop" not in [n for n, _ in seen] and b"never" not in out


def test_a_cut_stream_ends_in_an_error_and_a_stream_without_done_still_completes() -> None:
    cut, _ = run(sse(chunk({"content": "half"})))
    assert events(cut)[-1][0] == "error" and "ended before" in events(cut)[-1][1]["error"]["message"]
    nothing, _ = run(b"")
    assert [n for n, _ in events(nothing)] == ["error"]
    # Finish and usage came, only [DONE] is missing (and the last event has no blank line).
    no_done = sse(chunk({"content": "hi"}), chunk({}, "stop")) + b"data: " + orjson.dumps(
        {**chunk(), "choices": [], "usage": USAGE})
    message = accumulate(run(no_done)[0])
    assert message.stop_reason == "end_turn" and message.usage.output_tokens == 42


def test_usage_in_the_finish_chunk_and_no_usage_at_all() -> None:
    # Some OpenAI-compatible servers put usage on the finish chunk itself.
    raw = sse(chunk({"content": "hi"}), {**chunk({}, "stop"), "usage": {"prompt_tokens": 7, "completion_tokens": 1}},
              "[DONE]")
    assert summary(accumulate(run(raw)[0]))["usage"] == (7, 0, 0, 1)
    assert summary(accumulate(run(sse(chunk({"content": "hi"}, "stop"), "[DONE]"))[0]))["usage"] == (0, 0, 0, 0)


def test_fuzzed_streams_never_raise() -> None:
    rng = random.Random(77)
    pieces = [chunk({"content": "t"}), chunk(call(0, '{"a":1}', id="c", name="f")), chunk(call(1, '{"b"')),
              chunk(call(rng.randint(0, 3), "}", name="n")), chunk({}, "stop"), chunk({"tool_calls": "x"}),
              {"choices": [{"delta": None}]}, {"choices": "x"}, {"error": "x"}, {"usage": {"prompt_tokens": "a"}},
              {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": "0"}, 5]}}]}, "[DONE]", "not json", "[1]"]
    for _ in range(200):
        raw = sse(*[rng.choice(pieces) for _ in range(rng.randint(0, 8))])
        cuts = sorted(rng.sample(range(len(raw) + 1), min(3, len(raw) + 1)))
        out, _ = run(raw, pieces=(raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)))
        names = [n for n, _ in events(out)]
        assert names[-1] in ("message_stop", "error")


def test_an_agent_loop_round_trips_through_the_client() -> None:
    """Call, result, final answer: the client sends back what the bridge answered."""
    tools = [{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    turns: list[dict[str, Any]] = [user("Weather in Paris?")]
    first = translate({"messages": turns, "tools": tools, "stream": True})
    assert first["messages"] == [{"role": "user", "content": "Weather in Paris?"}]
    raw = sse(chunk({"role": "assistant", "content": None}),
              chunk(call(0, '{"city": "Paris"}', id="call_Xy12", name="get_weather")),
              chunk({}, "tool_calls"), {**chunk(), "choices": [], "usage": USAGE}, "[DONE]")
    asked = accumulate(run(raw)[0])
    assert asked.stop_reason == "tool_use"
    turns += [{"role": "assistant", "content": [b.to_dict() for b in asked.content]},
              user([{"type": "tool_result", "tool_use_id": asked.content[0].id, "content": "18C, sunny"}])]
    second = translate({"messages": turns, "tools": tools})
    assert second["messages"][1:] == [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_Xy12", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_Xy12", "content": "18C, sunny"}]
    final = answer({"content": "It is 18C and sunny in Paris."}, "stop")
    assert final.stop_reason == "end_turn" and final.content[0].to_dict()["text"].startswith("It is 18C")
