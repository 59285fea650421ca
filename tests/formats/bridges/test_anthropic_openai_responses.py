"""Anthropic Messages clients on OpenAI Responses accounts (API key and the ChatGPT Codex backend)."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import anthropic.types
import orjson
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from openai.types.responses.response_create_params import ResponseCreateParamsStreaming
from pydantic import TypeAdapter

from aiproxy.formats import wire
from aiproxy.formats.anthropic import StreamUsage
from aiproxy.formats.bridges.anthropic_openai_responses import BRIDGE, DROPPED_FIELDS
from aiproxy.formats.bridges.base import RequestOptions, Untranslatable
from aiproxy.formats.openai_responses import ResponseCollector
from aiproxy.formats.sse import SSEParser
from aiproxy.model_limits import OutputCaps
from tests.fakes.openai_oauth import codex_stream
from tests.fakes.openai_upstream import TEXT, responses_stream

API = RequestOptions(model="gpt-5")
# What the ChatGPT Codex backend refuses with `400 {"detail": "Unsupported parameter: …"}`
# (peer gateways' reports; the account type hands it over as RequestOptions.drop).
CODEX = RequestOptions(model="gpt-5-codex",
                       drop=frozenset({"max_output_tokens", "temperature", "top_p", "safety_identifier"}))
SDK_REQUEST = TypeAdapter(ResponseCreateParamsStreaming)
CAPS = OutputCaps.load()

WEATHER_TOOL = {
    "name": "get_weather", "description": "Weather of a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "cache_control": {"type": "ephemeral"},
}


def translate(body: dict[str, Any], options: RequestOptions = API) -> dict[str, Any]:
    return BRIDGE.request({"model": "claude-sonnet-4-5", "max_tokens": 1024, **body}, options).body


def sdk_checked(body: dict[str, Any]) -> None:
    """The body fits the openai SDK's own request type. Assistant history goes
    as Codex CLI sends it (output_text parts, no item id), which the SDK types
    only as its own output (with id and status): those items are checked here."""
    items = []
    for item in body["input"]:
        if item.get("role") == "assistant":
            assert set(item) == {"type", "role", "content"}
            assert all(set(part) == {"type", "text"} and part["type"] == "output_text" for part in item["content"])
        else:
            items.append(item)
    SDK_REQUEST.validate_python({**body, "input": items, "stream": True}, strict=True)


# --- the request -----------------------------------------------------------


def test_text_and_system_become_instructions_and_input_items() -> None:
    out = BRIDGE.request({
        "model": "claude-sonnet-4-5", "max_tokens": 2048, "stream": True,
        "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}},
                   {"type": "text", "text": "Answer in French."}],
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Salut"},
                     {"role": "user", "content": [{"type": "text", "text": "Again", "cache_control": {"type": "ephemeral"}}]}],
    }, API)
    assert out.path == wire.RESPONSES_PATH and out.stream is True
    assert out.body == {
        "model": "gpt-5", "instructions": "You are terse.\n\nAnswer in French.", "store": False, "stream": True,
        "max_output_tokens": 2048,
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Salut"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Again"}]},
        ],
    }
    sdk_checked(out.body)
    assert (BRIDGE.client, BRIDGE.upstream) == (wire.ANTHROPIC_MESSAGES, wire.OPENAI_RESPONSES)


def test_instructions_are_always_sent_and_the_codex_backend_gets_no_output_limit() -> None:
    body = translate({"messages": [{"role": "user", "content": "Hi"}], "temperature": 0.3, "top_p": 0.5,
                      "metadata": {"user_id": "u1"}}, CODEX)
    assert body["instructions"] == "" and body["store"] is False and body["model"] == "gpt-5-codex"
    assert not {"max_output_tokens", "temperature", "top_p", "safety_identifier"} & set(body)
    assert translate({"messages": [{"role": "user", "content": "Hi"}]})["max_output_tokens"] == 1024


def test_a_tiny_limit_is_raised_to_the_responses_minimum() -> None:
    # Claude Code checks its quota with max_tokens 1; Responses refuses < 16.
    assert translate({"max_tokens": 1, "messages": [{"role": "user", "content": "quota"}]})["max_output_tokens"] == 16


@pytest.mark.parametrize(("model", "limit", "sent"), [
    ("gpt-4o", 64000, 16384),  # Claude Code's limit on gpt-4o, which refuses more
    ("gpt-4.1", 64000, 32768),
    ("gpt-5", 64000, 64000),  # below the cap: as sent
    ("gpt-4o", 1, 16),  # the Responses minimum still holds
    ("my-model", 64000, 64000),  # no entry: no cap
])
def test_the_limit_is_clamped_to_the_models_cap(model: str, limit: int, sent: int) -> None:
    options = RequestOptions(model=model, max_output=CAPS.max_output(model))
    body = translate({"max_tokens": limit, "messages": [{"role": "user", "content": "x"}]}, options)
    assert body["max_output_tokens"] == sent
    sdk_checked(body)
    codex = RequestOptions(model="gpt-5-codex", drop=CODEX.drop, max_output=CAPS.max_output("gpt-5-codex"))
    assert "max_output_tokens" not in translate({"max_tokens": limit, "messages": [{"role": "user", "content": "x"}]},
                                                codex)


def test_a_thinking_budget_is_read_as_the_cap_allows() -> None:
    # Claude Code's ultrathink (31999) on a model that cannot write 24576 tokens:
    # the effort of the budget it could hold.
    ask = {"max_tokens": 32000, "thinking": {"type": "enabled", "budget_tokens": 31999},
           "messages": [{"role": "user", "content": "x"}]}
    assert translate(ask, RequestOptions(model="gpt-5", max_output=16384))["reasoning"] == {"effort": "medium"}
    assert translate(ask, RequestOptions(model="gpt-5", max_output=128000))["reasoning"] == {"effort": "high"}


def test_images_and_documents() -> None:
    body = translate({"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "document", "title": "spec.pdf",
         "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0"}},
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain notes"}},
        {"type": "text", "text": "What are these?"},
    ]}]})
    assert body["input"][0]["content"] == [
        {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0", "detail": "auto"},
        {"type": "input_image", "image_url": "https://example.com/cat.jpg", "detail": "auto"},
        {"type": "input_file", "filename": "spec.pdf", "file_data": "data:application/pdf;base64,JVBERi0"},
        {"type": "input_file", "file_url": "https://example.com/a.pdf"},
        {"type": "input_text", "text": "plain notes"},
        {"type": "input_text", "text": "What are these?"},
    ]
    sdk_checked(body)


def test_an_image_the_target_cannot_take_names_its_block() -> None:
    with pytest.raises(Untranslatable) as caught:
        translate({"messages": [
            {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
            {"role": "user", "content": [{"type": "text", "text": "see"},
                                         {"type": "image", "source": {"type": "file", "file_id": "file_1"}}]},
        ]})
    assert caught.value.field == "messages[2].content[1].source"
    with pytest.raises(Untranslatable) as caught:
        translate({"messages": [{"role": "user", "content": [
            {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "x"}]}}]}]})
    assert caught.value.field == "messages[0].content[0].source"


def test_tools_become_flat_function_tools() -> None:
    body = translate({"tools": [WEATHER_TOOL, {"name": "noop", "input_schema": {"type": "object"}, "strict": True}],
                      "messages": [{"role": "user", "content": "Weather in Paris?"}]})
    assert body["tools"] == [
        {"type": "function", "name": "get_weather", "description": "Weather of a city", "strict": False,
         "parameters": WEATHER_TOOL["input_schema"]},
        {"type": "function", "name": "noop", "strict": True, "parameters": {"type": "object"}},
    ]
    sdk_checked(body)


@pytest.mark.parametrize(("choice", "expected"), [
    ({"type": "auto"}, "auto"),
    ({"type": "any"}, "required"),
    ({"type": "none"}, "none"),
    ({"type": "tool", "name": "get_weather"}, {"type": "function", "name": "get_weather"}),
])
def test_tool_choice(choice: dict[str, Any], expected: Any) -> None:
    body = translate({"tools": [WEATHER_TOOL], "tool_choice": choice, "messages": [{"role": "user", "content": "x"}]})
    assert body["tool_choice"] == expected and "parallel_tool_calls" not in body
    sdk_checked(body)
    serial = translate({"tools": [WEATHER_TOOL], "tool_choice": {**choice, "disable_parallel_tool_use": True},
                        "messages": [{"role": "user", "content": "x"}]})
    assert serial["tool_choice"] == expected and serial["parallel_tool_calls"] is False


def test_a_malformed_tool_schema_or_a_server_tool_is_refused_by_name() -> None:
    messages = [{"role": "user", "content": "x"}]
    with pytest.raises(Untranslatable) as caught:
        translate({"tools": [WEATHER_TOOL, {"name": "bad", "input_schema": {"type": "string"}}], "messages": messages})
    assert caught.value.field == "tools[1].input_schema"
    with pytest.raises(Untranslatable) as caught:
        translate({"tools": [{"name": "bad", "input_schema": {"type": "object", "properties": []}}],
                   "messages": messages})
    assert caught.value.field == "tools[0].input_schema"
    with pytest.raises(Untranslatable) as caught:
        translate({"tools": [{"type": "web_search_20250305", "name": "web_search"}], "messages": messages})
    assert caught.value.field == "tools[0].type"
    with pytest.raises(Untranslatable) as caught:
        translate({"tool_choice": {"type": "sometimes"}, "messages": messages})
    assert caught.value.field == "tool_choice.type"


AGENT_LOOP = [
    {"role": "user", "content": "Weather in Paris and Rome?"},
    {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "Two cities: two calls.", "signature": "EqQBCkYIBxgCKkD"},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy"},
        {"type": "text", "text": "Checking both."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}},
    ]},
    {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18°C, sunny"},
        {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True,
         "content": [{"type": "text", "text": "station offline"}]},
        {"type": "text", "text": "And make it short."},
    ]},
]


def test_a_tool_loop_becomes_function_calls_and_their_outputs() -> None:
    body = translate({"tools": [WEATHER_TOOL], "messages": AGENT_LOOP})
    assert body["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in Paris and Rome?"}]},
        # Thinking blocks and signatures are Anthropic's: never sent to OpenAI.
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking both."}]},
        {"type": "function_call", "call_id": "toolu_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call", "call_id": "toolu_2", "name": "get_weather", "arguments": '{"city":"Rome"}'},
        {"type": "function_call_output", "call_id": "toolu_1", "output": "18°C, sunny"},
        {"type": "function_call_output", "call_id": "toolu_2", "output": "Error: station offline"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "And make it short."}]},
    ]
    sdk_checked(body)


def test_a_tool_result_with_an_image_keeps_the_list_form() -> None:
    body = translate({"messages": [
        {"role": "user", "content": "Screenshot?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_9", "name": "shot", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": [
            {"type": "text", "text": "here"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}}]}]},
    ]})
    assert body["input"][2] == {"type": "function_call_output", "call_id": "toolu_9", "output": [
        {"type": "input_text", "text": "here"},
        {"type": "input_image", "image_url": "data:image/jpeg;base64,/9j/", "detail": "auto"}]}
    assert body["input"][1]["arguments"] == "{}"
    sdk_checked(body)


@pytest.mark.parametrize(("thinking", "effort"), [
    ({"type": "enabled", "budget_tokens": 1024}, "low"),
    ({"type": "enabled", "budget_tokens": 4000}, "low"),  # Claude Code's "think"
    ({"type": "enabled", "budget_tokens": 10000}, "medium"),  # "think hard"
    ({"type": "enabled", "budget_tokens": 31999}, "high"),  # "ultrathink"
    ({"type": "adaptive"}, None),
    ({"type": "disabled"}, None),
])
def test_thinking_budget_becomes_reasoning_effort(thinking: dict[str, Any], effort: str | None) -> None:
    body = translate({"max_tokens": 32000, "thinking": thinking, "messages": [{"role": "user", "content": "x"}]})
    assert body.get("reasoning") == ({"effort": effort} if effort else None)
    sdk_checked(body)


def test_output_config_effort_wins_and_its_format_becomes_text_format() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "additionalProperties": False}
    body = translate({"thinking": {"type": "enabled", "budget_tokens": 2000},
                      "output_config": {"effort": "xhigh", "format": {"type": "json_schema", "schema": schema}},
                      "messages": [{"role": "user", "content": "x"}]})
    assert body["reasoning"] == {"effort": "xhigh"}
    assert body["text"] == {"format": {"type": "json_schema", "name": "output", "schema": schema, "strict": False}}
    sdk_checked(body)
    with pytest.raises(Untranslatable) as caught:
        translate({"output_config": {"effort": "extreme"}, "messages": [{"role": "user", "content": "x"}]})
    assert caught.value.field == "output_config.effort"
    with pytest.raises(Untranslatable) as caught:
        translate({"output_config": {"format": {"type": "regex"}}, "messages": [{"role": "user", "content": "x"}]})
    assert caught.value.field == "output_config.format"


def test_user_id_becomes_a_safety_identifier_short_enough_for_openai() -> None:
    messages = [{"role": "user", "content": "x"}]
    assert translate({"metadata": {"user_id": "u-42"}, "messages": messages})["safety_identifier"] == "u-42"
    claude_code = "user_" + "a" * 64 + "_account_" + "b" * 36 + "_session_" + "c" * 36
    hashed = translate({"metadata": {"user_id": claude_code}, "messages": messages})["safety_identifier"]
    assert hashed == hashlib.sha256(claude_code.encode()).hexdigest()


def test_sampling_defaults_and_dropped_fields_are_not_sent() -> None:
    messages = [{"role": "user", "content": "x"}]
    sent = translate({"temperature": 1, "top_p": 1.0, "top_k": 40, "messages": messages,
                      "service_tier": "auto", "speed": "fast", "cache_control": {"type": "ephemeral"},
                      "context_management": {"edits": []}, "container": "c1", "made_up_field": True})
    assert set(sent) == {"model", "instructions", "input", "store", "stream", "max_output_tokens"}
    assert {"top_k", "service_tier", "speed", "cache_control", "context_management", "container"} <= DROPPED_FIELDS
    kept = translate({"temperature": 0.2, "top_p": 0.9, "messages": messages})
    assert (kept["temperature"], kept["top_p"]) == (0.2, 0.9)


@pytest.mark.parametrize(("body", "field"), [
    ({"stop_sequences": ["\n\nHuman:"]}, "stop_sequences"),
    ({"mcp_servers": [{"type": "url", "url": "https://mcp.example", "name": "x"}]}, "mcp_servers"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "{"}]}, "messages[1]"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
    ({"messages": []}, "messages"),
    ({"system": [{"type": "image", "source": {}}]}, "system[0]"),
    ({"max_tokens": "lots"}, "max_tokens"),
    ({"temperature": "warm"}, "temperature"),
    ({"thinking": {"type": "enabled"}}, "thinking.budget_tokens"),
    ({"messages": [{"role": "user", "content": [{"type": "search_result", "source": "x"}]}]},
     "messages[0].content[0]"),
    ({"messages": [{"role": "user", "content": "x"},
                   {"role": "assistant", "content": [{"type": "server_tool_use", "id": "s", "name": "web"}]},
                   {"role": "user", "content": "y"}]}, "messages[1].content[0]"),
    ({"messages": [{"role": "user", "content": [{"type": "tool_result", "content": "x"}]}]},
     "messages[0].content[0].tool_use_id"),
])
def test_what_responses_cannot_carry_is_refused_naming_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(Untranslatable) as caught:
        translate({"messages": [{"role": "user", "content": "x"}], **body})
    assert caught.value.field == field and caught.value.message.startswith(field + ": ")


def test_a_claude_code_shaped_request_translates_whole() -> None:
    """The shape Claude Code sends (2023-06-01): system blocks with cache_control, many tools whose
    schemas carry $schema, a long user_id, thinking, temperature 1, context_management."""
    tools = [{"name": f"mcp__srv__tool_{i}", "description": "d" * 400, "input_schema": {
        "$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "additionalProperties": False,
        "properties": {"path": {"type": "string"}, "limit": {"type": "number"}}, "required": ["path"]}}
        for i in range(60)]
    body = {
        "model": "claude-sonnet-4-5", "max_tokens": 32000, "stream": True, "temperature": 1,
        "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197; cc_entrypoint=cli"},
                   {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
                   {"type": "text", "text": "p" * 20000, "cache_control": {"type": "ephemeral"}}],
        "tools": tools,
        "messages": [*AGENT_LOOP[:2], {"role": "user", "content": [
            *AGENT_LOOP[2]["content"][:2],
            {"type": "text", "text": "<system-reminder>r</system-reminder>", "cache_control": {"type": "ephemeral"}}]}],
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "metadata": {"user_id": "user_" + "a" * 64 + "_account_" + "b" * 36 + "_session_" + "c" * 36},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    }
    assert len(orjson.dumps(body)) > 45_000
    out = BRIDGE.request(body, API)
    assert out.stream is True and len(out.body["tools"]) == 60 and out.body["reasoning"] == {"effort": "high"}
    assert out.body["instructions"].startswith("x-anthropic-billing-header") and "temperature" not in out.body
    assert "cache_control" not in orjson.dumps(out.body).decode()
    sdk_checked(out.body)


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    choices: list[Any] = [None, True, 0, -1, 3.5, "", "text", "tool_use", "image", "base64", "url"]
    if depth < 2:
        choices += [[_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))],
                    {rng.choice(["type", "text", "source", "id", "name", "input", "content"]):
                     _random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}]
    return rng.choice(choices)


def _valid_body(rng: random.Random) -> dict[str, Any]:
    """A plausible Anthropic body: a conversation drawn from real block kinds, some options."""
    user_blocks = [
        {"type": "text", "text": "hello"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
        {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc"}},
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "r"}],
         "is_error": True},
    ]
    assistant_blocks = [{"type": "text", "text": "ok"}, {"type": "thinking", "thinking": "t", "signature": "s"},
                        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "x"}}]
    messages: list[Any] = []
    for turn in range(rng.randint(0, 2) * 2 + 1):
        pool = user_blocks if turn % 2 == 0 else assistant_blocks
        content = rng.choice(["hi", [dict(rng.choice(pool)) for _ in range(rng.randint(1, 3))]])
        messages.append({"role": "user" if turn % 2 == 0 else "assistant", "content": content})
    body: dict[str, Any] = {"model": "claude-x", "max_tokens": rng.choice([1, 100, 8192]), "messages": messages}
    options = {
        "system": lambda: rng.choice(["sys", [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}]]),
        "tools": lambda: [WEATHER_TOOL],
        "tool_choice": lambda: rng.choice([{"type": "auto"}, {"type": "tool", "name": "get_weather"},
                                           {"type": "any", "disable_parallel_tool_use": True}]),
        "thinking": lambda: rng.choice([{"type": "enabled", "budget_tokens": rng.randint(1024, 40000)},
                                        {"type": "adaptive"}]),
        "output_config": lambda: {"effort": rng.choice(["low", "max"])},
        "metadata": lambda: {"user_id": "u" * rng.randint(1, 200)},
        "temperature": lambda: rng.choice([0.5, 1]),
        "stream": lambda: rng.choice([True, False]),
    }
    for key in rng.sample(sorted(options), rng.randint(0, len(options))):
        body[key] = options[key]()
    return body


def _mutate(rng: random.Random, node: Any) -> Any:
    """The same body with one node somewhere replaced by a random value."""
    if isinstance(node, dict) and node and rng.random() < 0.8:
        key = rng.choice(sorted(node))
        return {**node, key: _mutate(rng, node[key])}
    if isinstance(node, list) and node and rng.random() < 0.8:
        i = rng.randrange(len(node))
        return [*node[:i], _mutate(rng, node[i]), *node[i + 1:]]
    return _random_value(rng)


def test_fuzzed_bodies_translate_or_raise_untranslatable_only() -> None:
    rng = random.Random(12)
    translated = refused = 0
    for _ in range(600):
        body = _valid_body(rng)
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            body = _mutate(rng, body)
        try:
            out = BRIDGE.request(body, API)
        except Untranslatable:
            refused += 1
            continue
        translated += 1
        orjson.dumps(out.body)  # always serialisable
        assert out.body["store"] is False and isinstance(out.body["input"], list)
    assert translated > 150 and refused > 50  # both outcomes are reached


# --- the whole answer ------------------------------------------------------


def response_object(output: list[dict[str, Any]], status: str = "completed", reason: str | None = None,
                    usage: dict[str, Any] | None = None) -> bytes:
    return orjson.dumps({
        "id": "resp_1", "object": "response", "created_at": 1, "model": "gpt-5", "status": status,
        "error": None, "incomplete_details": {"reason": reason} if reason else None, "output": output,
        "usage": usage if usage is not None else {"input_tokens": 120, "input_tokens_details": {"cached_tokens": 100},
                                                  "output_tokens": 30,
                                                  "output_tokens_details": {"reasoning_tokens": 12},
                                                  "total_tokens": 150},
    })


REASONING_ITEM = {"id": "rs_1", "type": "reasoning", "encrypted_content": "gAAAA-secret",
                  "summary": [{"type": "summary_text", "text": "Thinking about weather"}]}


def text_item(text: str) -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def call_item(call_id: str, arguments: str) -> dict[str, Any]:
    return {"id": "fc_" + call_id, "type": "function_call", "status": "completed", "call_id": call_id,
            "name": "get_weather", "arguments": arguments}


def test_a_text_answer_is_an_anthropic_message_with_exact_usage() -> None:
    answer = orjson.loads(BRIDGE.answer(response_object([REASONING_ITEM, text_item("Sunny.")]), "claude-sonnet-4-5"))
    message = anthropic.types.Message.model_validate(answer)
    assert message.model == "claude-sonnet-4-5" and message.id.startswith("msg_")
    # Reasoning items (and their encrypted content) stay on OpenAI's side.
    assert answer["content"] == [{"type": "text", "text": "Sunny."}] and "secret" not in str(answer)
    assert message.stop_reason == "end_turn"
    assert answer["usage"] == {"input_tokens": 20, "cache_read_input_tokens": 100,
                               "cache_creation_input_tokens": 0, "output_tokens": 30}


def test_function_calls_become_tool_use_blocks() -> None:
    body = response_object([text_item("Checking."), call_item("call_a", '{"city":"Paris"}'),
                            call_item("call_b", '{"city":')])
    answer = orjson.loads(BRIDGE.answer(body, "claude-sonnet-4-5"))
    anthropic.types.Message.model_validate(answer)
    assert answer["content"] == [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_b", "name": "get_weather", "input": {}},  # cut-off arguments
    ]
    assert answer["stop_reason"] == "tool_use"


@pytest.mark.parametrize(("output", "status", "reason", "stop"), [
    ([text_item("done")], "completed", None, "end_turn"),
    ([text_item("long")], "incomplete", "max_output_tokens", "max_tokens"),
    ([call_item("c", '{"ci')], "incomplete", "max_output_tokens", "max_tokens"),
    ([text_item("")], "incomplete", "content_filter", "refusal"),
    ([{"type": "message", "role": "assistant", "content": [{"type": "refusal", "refusal": "I can't help."}]}],
     "completed", None, "refusal"),
    ([call_item("c", "{}")], "completed", None, "tool_use"),
])
def test_every_stop_reason(output: list[dict[str, Any]], status: str, reason: str | None, stop: str) -> None:
    answer = orjson.loads(BRIDGE.answer(response_object(output, status, reason), "m"))
    assert answer["stop_reason"] == stop
    anthropic.types.Message.model_validate(answer)


def test_a_codex_backend_answer_collected_from_its_stream() -> None:
    collector = ResponseCollector()
    collector.feed(b"".join(codex_stream("gpt-5-codex")))
    status, body = collector.result()
    answer = orjson.loads(BRIDGE.answer(body, "claude-sonnet-4-5"))
    assert status == 200 and answer["content"] == [{"type": "text", "text": TEXT}]
    assert (answer["usage"]["input_tokens"], answer["usage"]["cache_read_input_tokens"]) == (24, 16)


def test_an_answer_that_is_no_response_object_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        BRIDGE.answer(b"not json", "m")
    with pytest.raises(ValueError):
        BRIDGE.answer(b'{"output": 3}', "m")


@pytest.mark.parametrize(("status", "body", "kind", "message"), [
    (429, b'{"error":{"message":"Rate limit reached","type":"rate_limit_error","code":"rate_limit_exceeded"}}',
     "rate_limit_error", "Rate limit reached"),
    (400, b'{"detail":"Unsupported parameter: max_output_tokens"}', "invalid_request_error",
     "Unsupported parameter: max_output_tokens"),
    (429, b'{"error":{"type":"usage_limit_reached","message":"The usage limit has been reached"}}',
     "rate_limit_error", "The usage limit has been reached"),
    (401, b'{"error":{"message":"Incorrect API key","code":"invalid_api_key"}}', "authentication_error",
     "Incorrect API key"),
    (502, b"<html>Bad gateway</html>", "api_error", "the upstream answered 502"),
])
def test_errors_take_anthropics_shape_and_keep_the_status(status: int, body: bytes, kind: str, message: str) -> None:
    assert orjson.loads(BRIDGE.error(status, body)) == {"type": "error", "error": {"type": kind, "message": message}}


# --- the stream ------------------------------------------------------------


def sse(kind: str, seq: int, **data: Any) -> bytes:
    return f"event: {kind}\ndata: {orjson.dumps({'type': kind, 'sequence_number': seq, **data}).decode()}\n\n".encode()


def recorded_stream() -> bytes:
    """A Responses stream as the API sends one: reasoning, text, two tool calls, usage at the end."""
    base = {"id": "resp_1", "object": "response", "model": "gpt-5", "output": [], "usage": None}
    call_a, call_b = call_item("call_a", ""), call_item("call_b", "")
    events = [
        sse("response.created", 0, response={**base, "status": "in_progress"}),
        sse("response.in_progress", 1, response={**base, "status": "in_progress"}),
        sse("response.output_item.added", 2, output_index=0, item={**REASONING_ITEM, "summary": []}),
        sse("response.reasoning_summary_text.delta", 3, item_id="rs_1", output_index=0, summary_index=0,
            delta="Thinking"),
        sse("response.output_item.done", 4, output_index=0, item=REASONING_ITEM),
        sse("response.output_item.added", 5, output_index=1, item={**text_item(""), "content": []}),
        sse("response.content_part.added", 6, item_id="msg_1", output_index=1, content_index=0,
            part={"type": "output_text", "text": "", "annotations": []}),
        sse("response.output_text.delta", 7, item_id="msg_1", output_index=1, content_index=0, delta="Checking "),
        sse("response.output_text.delta", 8, item_id="msg_1", output_index=1, content_index=0, delta="é ✓."),
        sse("response.output_text.done", 9, item_id="msg_1", output_index=1, content_index=0, text="Checking é ✓."),
        sse("response.output_item.done", 10, output_index=1, item=text_item("Checking é ✓.")),
        sse("response.output_item.added", 11, output_index=2, item=call_a),
        sse("response.function_call_arguments.delta", 12, item_id="fc_call_a", output_index=2, delta='{"city"'),
        sse("response.function_call_arguments.delta", 13, item_id="fc_call_a", output_index=2, delta=':"Paris"}'),
        sse("response.function_call_arguments.done", 14, item_id="fc_call_a", output_index=2,
            arguments='{"city":"Paris"}'),
        sse("response.output_item.done", 15, output_index=2, item={**call_a, "arguments": '{"city":"Paris"}'}),
        sse("response.output_item.added", 16, output_index=3, item=call_b),
        sse("response.function_call_arguments.delta", 17, item_id="fc_call_b", output_index=3, delta='{"city":"Rome"}'),
        sse("response.output_item.done", 18, output_index=3, item={**call_b, "arguments": '{"city":"Rome"}'}),
        sse("response.completed", 19, response={**base, "status": "completed", "usage": {
            "input_tokens": 300, "input_tokens_details": {"cached_tokens": 256}, "output_tokens": 42,
            "output_tokens_details": {"reasoning_tokens": 20}, "total_tokens": 342}}),
    ]
    return b"".join(events)


def run(raw: bytes, pieces: list[bytes] | None = None) -> tuple[bytes, Any]:
    translator = BRIDGE.stream("claude-sonnet-4-5")
    out = b"".join(translator.feed(piece) for piece in (pieces if pieces is not None else [raw]))
    return out + translator.end(), translator


def events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    return [(e.event, orjson.loads(e.data)) for e in SSEParser().feed(raw)]


def without_ids(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    seen = events(raw)
    for name, data in seen:
        if name == "message_start":
            data["message"]["id"] = "msg"
    return seen


def accumulated(raw: bytes) -> anthropic.types.Message:
    snapshot: Any = None
    bufs: dict[int, bytes] = {}
    for _, data in events(raw):
        snapshot = accumulate_event(event=data, current_snapshot=snapshot, json_bufs=bufs)  # type: ignore[arg-type]
    return anthropic.types.Message.model_validate(snapshot.model_dump())


def test_a_recorded_stream_becomes_the_anthropic_event_sequence() -> None:
    out, translator = run(recorded_stream())
    seen = events(out)
    assert [name for name, _ in seen] == [
        "message_start",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop",
    ]
    assert seen[5][1]["content_block"] == {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {}}
    assert [d["delta"]["partial_json"] for n, d in seen if d.get("delta", {}).get("type") == "input_json_delta"] == [
        '{"city"', ':"Paris"}', '{"city":"Rome"}']
    # The reasoning summary is not sent as a thinking block.
    assert all(d.get("content_block", {}).get("type") != "thinking" for _, d in seen)
    message = accumulated(out)
    assert [block.model_dump(exclude_none=True) for block in message.content] == [
        {"type": "text", "text": "Checking é ✓."},
        {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_b", "name": "get_weather", "input": {"city": "Rome"}},
    ]
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens, message.usage.output_tokens) == (
        44, 256, 42)
    assert (translator.usage.input_tokens, translator.usage.cache_read_tokens, translator.usage.output_tokens) == (
        44, 256, 42)
    tap = StreamUsage()
    tap.feed(out)
    assert tap.complete and (tap.usage.input_tokens, tap.usage.cache_read_tokens, tap.usage.output_tokens) == (
        44, 256, 42)


def test_the_stream_gives_the_same_events_at_every_split_and_byte_by_byte() -> None:
    raw = recorded_stream()
    whole = without_ids(run(raw)[0])
    assert without_ids(run(raw, [raw[i:i + 1] for i in range(len(raw))])[0]) == whole
    for i in range(len(raw)):
        assert without_ids(run(raw, [raw[:i], raw[i:]])[0]) == whole, i


def test_events_are_relayed_as_their_chunks_arrive() -> None:
    translator = BRIDGE.stream("m")
    raw = recorded_stream()
    marker = raw.index(b"event: response.output_text.delta")
    first = translator.feed(raw[:marker + raw[marker:].index(b"\n\n") + 2])
    assert events(first)[-1][1]["delta"] == {"type": "text_delta", "text": "Checking "}


def test_the_fakes_streams_translate_with_crlf_and_a_trailing_done() -> None:
    for raw in (b"".join(responses_stream("gpt-5")), b"".join(codex_stream("gpt-5-codex"))):
        crlf = raw.replace(b"\n", b"\r\n") + b"data: [DONE]\r\n\r\n"
        out, translator = run(crlf, [crlf[i:i + 7] for i in range(0, len(crlf), 7)])
        message = accumulated(out)
        assert [block.model_dump(exclude_none=True) for block in message.content] == [{"type": "text", "text": TEXT}]
        assert message.stop_reason == "end_turn"
        assert (translator.usage.input_tokens, translator.usage.cache_read_tokens,
                translator.usage.output_tokens) == (24, 16, 9)


def test_items_sent_only_whole_are_relayed_whole() -> None:
    base = {"id": "resp_2", "object": "response", "model": "gpt-5", "output": []}
    raw = (sse("response.created", 0, response={**base, "status": "in_progress"})
           + sse("response.output_item.done", 1, output_index=0, item=text_item("Whole text."))
           + sse("response.output_item.done", 2, output_index=1, item=call_item("call_w", '{"city":"Oslo"}'))
           + sse("response.completed", 3, response={**base, "status": "completed",
                                                    "output": [text_item("Whole text."),
                                                               call_item("call_w", '{"city":"Oslo"}'),
                                                               call_item("call_x", '{"city":"Bern"}')]}))
    message = accumulated(run(raw)[0])
    assert [block.model_dump(exclude_none=True) for block in message.content] == [
        {"type": "text", "text": "Whole text."},
        {"type": "tool_use", "id": "call_w", "name": "get_weather", "input": {"city": "Oslo"}},
        # Never streamed at all: taken from the terminal response's output.
        {"type": "tool_use", "id": "call_x", "name": "get_weather", "input": {"city": "Bern"}},
    ]
    assert message.stop_reason == "tool_use"


def test_arguments_sent_only_in_their_done_event_are_relayed_once() -> None:
    call = call_item("call_d", "")
    raw = (sse("response.output_item.added", 0, output_index=0, item=call)
           + sse("response.function_call_arguments.done", 1, output_index=0, arguments='{"city":"Lima"}')
           + sse("response.output_item.done", 2, output_index=0, item={**call, "arguments": '{"city":"Lima"}'})
           + sse("response.completed", 3, response={"status": "completed", "output": []}))
    out, _ = run(raw)
    assert out.count(b"input_json_delta") == 1
    assert accumulated(out).content[0].model_dump(exclude_none=True) == {
        "type": "tool_use", "id": "call_d", "name": "get_weather", "input": {"city": "Lima"}}


def test_an_incomplete_stream_stops_for_max_tokens_or_refusal() -> None:
    base = {"id": "resp_3", "object": "response", "model": "gpt-5", "output": []}
    for reason, stop in (("max_output_tokens", "max_tokens"), ("content_filter", "refusal")):
        raw = (sse("response.output_text.delta", 0, output_index=0, content_index=0, delta="Once upon")
               + sse("response.incomplete", 1, response={**base, "status": "incomplete",
                                                          "incomplete_details": {"reason": reason},
                                                          "usage": {"input_tokens": 5, "output_tokens": 16}}))
        out, translator = run(raw)
        assert accumulated(out).stop_reason == stop
        assert (translator.usage.input_tokens, translator.usage.output_tokens) == (5, 16)
    refusal = sse("response.refusal.delta", 0, output_index=0, content_index=0, delta="I can't.") + sse(
        "response.completed", 1, response={**base, "status": "completed"})
    assert accumulated(run(refusal)[0]).stop_reason == "refusal"


def test_upstream_failures_become_an_anthropic_error_event() -> None:
    base = {"id": "resp_4", "object": "response", "model": "gpt-5", "output": []}
    start = sse("response.created", 0, response={**base, "status": "in_progress"}) + sse(
        "response.output_text.delta", 1, output_index=0, content_index=0, delta="Par")
    cases = [
        (sse("response.failed", 2, response={**base, "status": "failed", "error": {
            "code": "server_error", "message": "The model crashed"}}), "api_error", "The model crashed"),
        (sse("response.failed", 2, response={**base, "status": "failed", "error": {
            "code": "rate_limit_exceeded", "message": "Slow down"}}), "rate_limit_error", "Slow down"),
        (sse("error", 2, code="usage_limit_reached", message="Limit reached", param=None), "rate_limit_error",
         "Limit reached"),
        (b'data: {"error": {"type": "server_error", "message": "relay broke"}}\n\n', "api_error", "relay broke"),
    ]
    for tail, kind, message in cases:
        out, _ = run(start + tail + sse("response.output_text.delta", 3, output_index=0, delta="ignored"))
        seen = events(out)
        assert seen[-1] == ("error", {"type": "error", "error": {"type": kind, "message": message}})
        assert "message_stop" not in [name for name, _ in seen] and b"ignored" not in out


def test_a_stream_cut_before_its_terminal_event_ends_in_an_error_event() -> None:
    raw = recorded_stream()
    cut = raw[:raw.index(b"event: response.completed")]
    out, _ = run(cut)
    seen = events(out)
    assert seen[-1][0] == "error" and seen[-1][1]["error"]["type"] == "api_error"
    assert "message_delta" not in [name for name, _ in seen]
    # A last event that only lacks its blank line is still read.
    out, _ = run(raw.rstrip(b"\n"))
    assert events(out)[-1][0] == "message_stop"


def test_fuzzed_streams_never_raise_and_always_end() -> None:
    rng = random.Random(7)
    frames = [orjson.loads(e.data) for e in SSEParser().feed(recorded_stream())]
    for _ in range(300):
        mutated = list(frames)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(mutated))
            mutated[i] = _mutate(rng, mutated[i])
        raw = b"".join(b"data: " + orjson.dumps(frame) + b"\n\n" for frame in mutated)
        out, _ = run(raw, [raw[i:i + 97] for i in range(0, len(raw), 97)])
        seen = [name for name, _ in events(out)]
        assert seen[-1] in ("message_stop", "error")
        # The usage tap the route puts after the translator reads it whatever happened.
        StreamUsage().feed(out)


def test_fuzzed_answers_are_messages_or_value_errors() -> None:
    rng = random.Random(8)
    whole = orjson.loads(response_object([REASONING_ITEM, text_item("a"), call_item("c", '{"x":1}')]))
    for _ in range(300):
        body = whole
        for _ in range(rng.randint(1, 3)):
            body = _mutate(rng, body)
        try:
            answer = BRIDGE.answer(orjson.dumps(body), "m")
        except ValueError:
            continue
        anthropic.types.Message.model_validate(orjson.loads(answer))
