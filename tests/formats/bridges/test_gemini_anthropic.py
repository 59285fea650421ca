"""Gemini clients on Anthropic upstreams: request, answer, stream, errors, and round trips
through the pairs it is composed with."""

from __future__ import annotations

import base64
import dataclasses
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pydantic
import pytest
from anthropic.types import message_create_params
from google.genai import types as genai

from aiproxy.formats import gemini, wire
from aiproxy.formats.bridges import anthropic_gemini, anthropic_openai_chat, anthropic_openai_responses
from aiproxy.formats.bridges.base import RequestOptions, Untranslatable
from aiproxy.formats.bridges.gemini_anthropic import BRIDGE, DEFAULT_MAX_TOKENS, DROPPED, Reply, request
from aiproxy.formats.bridges.gemini_anthropic_answer import THINKING_MAGIC, pack_thinking, unpack_thinking
from aiproxy.formats.sse import SSEParser
from aiproxy.formats.usage import Usage

OPTS = RequestOptions(model="claude-sonnet-4-5")
# What the route says of a streamGenerateContent call with `alt=sse` (the method and the query, not the body).
STREAMED = dataclasses.replace(OPTS, stream=True, client_query=(("alt", "sse"),))
_PARAMS = {
    False: pydantic.TypeAdapter(message_create_params.MessageCreateParamsNonStreaming),
    True: pydantic.TypeAdapter(message_create_params.MessageCreateParamsStreaming),
}
_KNOWN = (message_create_params.MessageCreateParamsBase.__required_keys__
          | message_create_params.MessageCreateParamsBase.__optional_keys__ | {"stream"})
WEATHER = {"name": "get_weather", "description": "Weather of a city",
           "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}}


def _consume(value: Any) -> Any:
    # pydantic validates a TypedDict's Iterable fields lazily: walk them all.
    if isinstance(value, dict):
        return {k: _consume(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or (isinstance(value, Iterable) and not isinstance(value, (str, bytes))):
        return [_consume(v) for v in value]
    return value


def check_messages(out: dict[str, Any]) -> None:
    """What the real Messages API insists on, beyond the SDK's types."""
    messages = out["messages"]
    assert messages[0]["role"] == "user"
    for before, after in zip(messages, messages[1:]):
        assert before["role"] != after["role"]  # strict alternation
    for i, message in enumerate(messages):
        content = message["content"]
        assert content and all(b.get("text", "x") for b in content)  # no empty message, no empty text
        assert any(b["type"] not in ("thinking", "redacted_thinking") for b in content)
        if message["role"] == "assistant":
            calls = [b["id"] for b in content if b["type"] == "tool_use"]
            kinds = [b["type"] for b in content]
            thinking = [k for k in kinds if k in ("thinking", "redacted_thinking")]
            assert kinds[:len(thinking)] == thinking  # thinking first
            if calls:
                answer = messages[i + 1]["content"]
                results = [b["tool_use_id"] for b in answer if b["type"] == "tool_result"]
                assert sorted(results) == sorted(calls)  # every tool_use answered, right after
                assert [b["type"] for b in answer][:len(results)] == ["tool_result"] * len(results)
    thinking = out.get("thinking")
    if thinking and thinking["type"] == "enabled":
        assert 1024 <= thinking["budget_tokens"] < out["max_tokens"]


def translate(data: dict[str, Any], options: RequestOptions = OPTS) -> dict[str, Any]:
    """The Messages body for `data`, checked against the anthropic SDK's request types."""
    translated = request(data, options)
    assert translated.path == wire.MESSAGES_PATH
    assert set(translated.body) <= _KNOWN
    assert translated.body["stream"] is translated.stream
    _consume(_PARAMS[translated.stream].validate_python(translated.body))
    check_messages(translated.body)
    return translated.body


def refused(data: dict[str, Any]) -> Untranslatable:
    with pytest.raises(Untranslatable) as caught:
        request(data, OPTS)
    assert caught.value.message.startswith(caught.value.field)
    return caught.value


def user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "parts": list(parts)}


def model(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "model", "parts": list(parts)}


def body(*contents: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"contents": list(contents) or [user({"text": "Hi"})], **fields}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- request ---------------------------------------------------------------------------------------


def test_text_system_turns_and_dropped_fields() -> None:
    out = translate(body(
        user({"text": "Hi"}), {"parts": [{"text": "there"}]},  # no role: a user turn
        model({"text": "Hello"}), user({"text": "Bye"}),
        systemInstruction={"parts": [{"text": "Be brief."}, {"text": ""}, {"text": "Be kind."}]},
        generationConfig={"temperature": 0.2, "topP": 0.9, "topK": 3, "seed": 1, "maxOutputTokens": 100,
                          "stopSequences": ["END"], "candidateCount": 1, "responseMimeType": "text/plain"},
        safetySettings=[{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        labels={"a": "b"}, unknown=1, model="gemini-2.5-pro"))
    assert out == {
        "model": "claude-sonnet-4-5", "max_tokens": 100, "stream": False, "stop_sequences": ["END"],
        "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Be kind."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}]},
                     {"role": "assistant", "content": [{"type": "text", "text": "Hello"}]},
                     {"role": "user", "content": [{"type": "text", "text": "Bye"}]}],
    }
    assert translate(body())["max_tokens"] == DEFAULT_MAX_TOKENS


def test_the_written_drop_list_changes_nothing() -> None:
    values = {"safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}],
              "labels": {"a": "b"}, "temperature": 0.7, "topP": 0.9, "topK": 40, "seed": 3, "presencePenalty": 0.1,
              "frequencyPenalty": 0.1, "mediaResolution": "MEDIA_RESOLUTION_LOW", "speechConfig": {},
              "audioTimestamp": True, "routingConfig": {}, "modelSelectionConfig": {},
              "enableEnhancedCivicAnswers": True, "retrievalConfig": {"languageCode": "en"}}
    plain = body(tools=[{"functionDeclarations": [WEATHER]}], toolConfig={"functionCallingConfig": {"mode": "AUTO"}},
                 generationConfig={"maxOutputTokens": 64})
    full = orjson.loads(orjson.dumps(plain))
    for path in DROPPED:
        *parents, name = path.split(".")
        target = full
        for parent in parents:
            target = target[parent]
        target[name] = values[name]
    assert translate(full) == translate(plain)


def test_field_names_in_protobufs_own_spelling_are_read_too() -> None:
    """Google's API takes snake_case field names, and google-genai sends some (its function
    declarations' parameters_json_schema, thinking_config's fields)."""
    out = translate({
        "contents": [{"role": "user", "parts": [{"text": "Hi"}, {"inline_data": {"mime_type": "image/png",
                                                                                 "data": "iVBO"}}]}],
        "system_instruction": {"parts": [{"text": "Be brief."}]},
        "tools": [{"function_declarations": [{"name": "f", "parameters_json_schema": {
            "type": "object", "properties": {"snake_name": {"type": "string"}}}}]}],
        "tool_config": {"function_calling_config": {"mode": "ANY", "allowed_function_names": ["f"]}},
        "generation_config": {"max_output_tokens": 50, "stop_sequences": ["x"], "response_mime_type": "text/plain"}})
    assert out["system"] == [{"type": "text", "text": "Be brief."}]
    assert out["messages"][0]["content"][1]["source"]["media_type"] == "image/png"
    assert out["tools"][0]["input_schema"]["properties"] == {"snake_name": {"type": "string"}}  # the client's own
    assert (out["tool_choice"], out["max_tokens"], out["stop_sequences"]) == ({"type": "tool", "name": "f"}, 50, ["x"])
    thinking = translate(body(generationConfig={"thinking_config": {"thinking_budget": 3000, "include_thoughts": True}}))
    assert thinking["thinking"] == {"type": "enabled", "budget_tokens": 3000}


def test_stream_is_the_routes_flag_and_the_account_drop_list_applies() -> None:
    translated = request(body(), STREAMED)
    assert translated.stream and translated.body["stream"] is True and translated.query == ()
    assert translated.reply == Reply("", json_array=False)
    # Without alt=sse the client reads one JSON array; a `stream` in the body asks for nothing.
    assert request(body(), dataclasses.replace(OPTS, stream=True, client_model="gemini-2.5-pro")).reply == Reply(
        "gemini-2.5-pro", json_array=True)
    assert not request(body(stream=True), OPTS).stream
    assert "stop_sequences" not in translate(body(generationConfig={"stopSequences": ["x"]}),
                                             RequestOptions(model="m", drop=frozenset({"stop_sequences"})))


def test_images_documents_and_media_that_cannot_go() -> None:
    png, pdf = b64(b"\x89PNG..."), b64(b"%PDF-1.7")
    out = translate(body(user({"text": "Look"}, {"inlineData": {"mimeType": "image/png", "data": png}},
                              {"inlineData": {"mimeType": "application/pdf", "data": pdf}},
                              {"inlineData": {"mimeType": "text/plain", "data": b64("notes ✓".encode())}})))
    assert out["messages"][0]["content"][1:] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": pdf}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes ✓"}},
    ]
    assert refused(body(user({"fileData": {"mimeType": "image/png", "fileUri": "https://x/files/1"}}))).field == \
        "contents[0].parts[0].fileData"
    assert refused(body(user({"inlineData": {"mimeType": "audio/mp3", "data": "AAAA"}}))).field == \
        "contents[0].parts[0].inlineData.mimeType"
    assert refused(body(user({"inlineData": {"mimeType": "text/plain", "data": "%%%"}}))).field == \
        "contents[0].parts[0].inlineData.data"
    assert refused(body(user({"text": "a"}), model({"inlineData": {"mimeType": "image/png", "data": png}}))).field \
        == "contents[1].parts[0]"


@pytest.mark.parametrize("part", [{"executableCode": {"language": "PYTHON", "code": "1"}},
                                  {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1"}},
                                  {"videoMetadata": {"fps": 1}, "bogus": 1}])
def test_parts_with_no_counterpart_are_refused(part: dict[str, Any]) -> None:
    assert refused(body(user(part))).field == "contents[0].parts[0]"
    assert refused(body(user({"text": "a"}), model(part))).field == "contents[1].parts[0]"


def test_tools_schemas_and_tool_choice() -> None:
    tools = [{"functionDeclarations": [
        WEATHER,
        {"name": "search", "parametersJsonSchema": {"type": "object", "properties": {"q": {"type": "string"}},
                                                    "additionalProperties": False},
         "response": {"type": "STRING"}, "behavior": "BLOCKING"},
        {"name": "now"},
        {"name": "deep", "parameters": {"type": "OBJECT", "propertyOrdering": ["a"], "properties": {
            "a": {"type": "ARRAY", "items": {"type": "STRING", "enum": ["x", "y"]}, "maxItems": 2, "example": ["x"]},
            "b": {"anyOf": [{"type": "INTEGER"}, {"type": "BOOLEAN"}], "nullable": True},
            "c": {"type": "NUMBER", "nullable": True, "format": "double", "minimum": 0}}}},
    ]}]
    out = translate(body(tools=tools))
    assert out["tools"] == [
        {"name": "get_weather", "description": "Weather of a city",
         "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
        {"name": "search", "input_schema": tools[0]["functionDeclarations"][1]["parametersJsonSchema"]},
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
        {"name": "deep", "input_schema": {"type": "object", "properties": {
            "a": {"type": "array", "items": {"type": "string", "enum": ["x", "y"]}, "maxItems": 2},
            "b": {"anyOf": [{"type": "integer"}, {"type": "boolean"}, {"type": "null"}]},
            "c": {"type": ["number", "null"], "format": "double", "minimum": 0}}}},
    ]
    assert "tool_choice" not in out
    # Gemini takes its upper-case type names in JSON Schema too; Anthropic does not. Tools stay open.
    upper = translate(body(tools=[{"functionDeclarations": [{"name": "u", "parametersJsonSchema": {
        "type": "OBJECT", "properties": {"a": {"type": ["STRING", "NULL"]}, "b": {"anyOf": [{"type": "Integer"}]}},
        "$defs": {"d": {"type": "BOOLEAN"}}}}]}]))["tools"][0]["input_schema"]
    assert upper == {"type": "object", "properties": {"a": {"type": ["string", "null"]},
                                                      "b": {"anyOf": [{"type": "Integer"}]}},
                     "$defs": {"d": {"type": "boolean"}}}

    def choice(config: dict[str, Any]) -> tuple[Any, list[str]]:
        got = translate(body(tools=tools, toolConfig={"functionCallingConfig": config}))
        return got.get("tool_choice"), [t["name"] for t in got["tools"]]

    every = ["get_weather", "search", "now", "deep"]
    assert choice({"mode": "AUTO"}) == ({"type": "auto"}, every)
    assert choice({"mode": "VALIDATED"}) == ({"type": "auto"}, every)
    assert choice({"mode": "NONE"}) == ({"type": "none"}, every)
    assert choice({"mode": "ANY"}) == ({"type": "any"}, every)
    assert choice({"mode": "ANY", "allowedFunctionNames": ["now"]}) == ({"type": "tool", "name": "now"}, every)
    assert choice({"mode": "any", "allowedFunctionNames": ["now", "search"]}) == ({"type": "any"}, ["search", "now"])
    assert refused(body(tools=tools, toolConfig={"functionCallingConfig": {
        "mode": "ANY", "allowedFunctionNames": ["nope"]}})).field == \
        "toolConfig.functionCallingConfig.allowedFunctionNames"
    assert refused(body(tools=tools, toolConfig={"functionCallingConfig": {"mode": "SOMETIMES"}})).field == \
        "toolConfig.functionCallingConfig.mode"
    # A toolConfig without tools asks nothing of Anthropic.
    assert "tool_choice" not in translate(body(toolConfig={"functionCallingConfig": {"mode": "ANY"}}))


@pytest.mark.parametrize(("tool", "field"), [
    ({"googleSearch": {}}, "tools[0].googleSearch"),
    ({"codeExecution": {}}, "tools[0].codeExecution"),
    ({"urlContext": {}}, "tools[0].urlContext"),
    ({"retrieval": {"vertexAiSearch": {}}}, "tools[0].retrieval"),
    ({"googleSearchRetrieval": {}}, "tools[0].googleSearchRetrieval"),
    ({"functionDeclarations": [{"name": "a.b"}]}, "tools[0].functionDeclarations[0].name"),
    ({"functionDeclarations": [{"name": "x" * 129}]}, "tools[0].functionDeclarations[0].name"),
    ({"functionDeclarations": [{"name": "f", "parameters": {"type": "STRING"}}]},
     "tools[0].functionDeclarations[0].parameters"),
    ({"functionDeclarations": [{"name": "f", "parametersJsonSchema": []}]},
     "tools[0].functionDeclarations[0].parametersJsonSchema"),
    ({"functionDeclarations": [{"name": "f"}, {"name": "f"}]}, "tools[0].functionDeclarations[1].name"),
])
def test_google_tools_and_bad_declarations_are_refused_by_name(tool: dict[str, Any], field: str) -> None:
    assert refused(body(tools=[tool])).field == field


def test_a_tool_loop_pairs_results_by_id_then_by_name_and_order() -> None:
    out = translate(loop := body(
        user({"text": "Weather in Paris and Rome, then the time?"}),
        model({"text": "Looking."}, {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
              {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
              {"functionCall": {"id": "abc-1", "name": "now", "args": {}}}),
        user({"functionResponse": {"id": "abc-1", "name": "now", "response": {"output": "noon"}}},
             {"functionResponse": {"name": "get_weather", "response": {"output": "sunny"}}},
             {"functionResponse": {"name": "get_weather", "response": {"error": "no data"}}}),
        user({"text": "And?"}),
        model({"functionCall": {"id": "odd id!", "name": "now"}}),
        user({"functionResponse": {"id": "odd id!", "name": "now",
                                   "response": {"result": {"h": 12}},
                                   "parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBO"}}]}}),
        tools=[{"functionDeclarations": [WEATHER, {"name": "now"}]}]))
    messages = out["messages"]
    assert messages[1]["content"] == [
        {"type": "text", "text": "Looking."},
        {"type": "tool_use", "id": "gemini_call_1_get_weather", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "gemini_call_2_get_weather", "name": "get_weather", "input": {"city": "Rome"}},
        {"type": "tool_use", "id": "abc-1", "name": "now", "input": {}},
    ]
    assert messages[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "abc-1", "content": "noon"},
        {"type": "tool_result", "tool_use_id": "gemini_call_1_get_weather", "content": "sunny"},
        {"type": "tool_result", "tool_use_id": "gemini_call_2_get_weather", "content": "no data", "is_error": True},
        {"type": "text", "text": "And?"},
    ]
    odd = messages[3]["content"][0]["id"]
    assert odd.startswith("gemini_") and odd == messages[4]["content"][0]["tool_use_id"]
    assert messages[4]["content"][0]["content"] == [
        {"type": "text", "text": '{"result":{"h":12}}'},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}}]
    # The same history gives the same ids (Gemini CLI resends it every turn).
    assert translate(loop) == out


def test_unanswered_calls_get_an_error_result_and_stray_results_are_refused() -> None:
    out = translate(body(user({"text": "go"}), model({"functionCall": {"name": "a"}}, {"functionCall": {"name": "b"}}),
                         user({"functionResponse": {"name": "b", "response": {}}}, {"text": "stop that"})))
    assert out["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "gemini_call_2_b", "content": ""},
        {"type": "tool_result", "tool_use_id": "gemini_call_1_a", "is_error": True,
         "content": "The client sent no result for this call."},
        {"type": "text", "text": "stop that"},
    ]
    # A model turn answered by nothing before the next model turn: its calls get error results too.
    out = translate(body(user({"text": "go"}), model({"functionCall": {"name": "a"}}), user({"text": "hm"}),
                         model({"text": "ok"}), user({"text": "again"})))
    assert out["messages"][2]["content"][0]["is_error"] is True
    assert refused(body(user({"functionResponse": {"name": "a", "response": {}}}))).field == \
        "contents[0].parts[0].functionResponse"
    assert refused(body(user({"text": "go"}), model({"functionCall": {"name": "a"}}))).field == "contents"
    assert refused(body(model({"text": "I start"}), user({"text": "no"}))).field == "contents[0]"
    assert refused(body(user({"text": ""}))).field == "contents"


def test_thought_parts_are_dropped_and_gateway_signatures_restore_thinking() -> None:
    blocks = [{"type": "thinking", "thinking": "Let me think.", "signature": "EqQBCkYIBRgCKkB"},
              {"type": "redacted_thinking", "data": "EmwKAhgBEgy"}]
    signature = pack_thinking(blocks)
    assert base64.urlsafe_b64decode(signature).startswith(THINKING_MAGIC)
    history = (user({"text": "Weather?"}),
               model({"text": "Let me think.", "thought": True},
                     {"functionCall": {"id": "toolu_1", "name": "get_weather", "args": {"city": "Oslo"}},
                      "thoughtSignature": signature}),
               user({"functionResponse": {"id": "toolu_1", "name": "get_weather", "response": {"output": "snow"}}}))
    config = {"thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": True}}
    out = translate(body(*history, tools=[{"functionDeclarations": [WEATHER]}], generationConfig=config))
    assert out["messages"][1]["content"] == [
        *blocks, {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}]
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert out["max_tokens"] == DEFAULT_MAX_TOKENS + 2048
    # google-genai sends it back urlsafe and other clients may use the standard alphabet, without padding.
    for variant in (signature.replace("-", "+").replace("_", "/"), signature.rstrip("=")):
        assert unpack_thinking(variant) == blocks
    # Gemini's own signatures, the CLI's placeholder and damaged ones are dropped; the thinking is then
    # lost for that tool loop, so thinking is not asked for.
    for foreign in (b64(b"gemini-made-signature"), "skip_thought_signature_validator", signature[:50] + "!!",
                    pack_thinking([{"type": "thinking", "thinking": "x"}])):
        lost = (history[0], model({**history[1]["parts"][1], "thoughtSignature": foreign}), history[2])
        out = translate(body(*lost, tools=[{"functionDeclarations": [WEATHER]}], generationConfig=config))
        assert out["messages"][1]["content"][0]["type"] == "tool_use"
        assert "thinking" not in out
    # A turn made only of thoughts (shown, or signed) leaves nothing; its neighbours join.
    for thoughts in (model({"text": "hmm", "thought": True}), model({"text": "", "thoughtSignature": signature})):
        out = translate(body(user({"text": "a"}), thoughts, user({"text": "b"})))
        assert out["messages"] == [{"role": "user", "content": [{"type": "text", "text": "a"},
                                                                {"type": "text", "text": "b"}]}]


def test_thinking_budgets_levels_and_limits() -> None:
    def thinking(config: dict[str, Any], limit: int | None = None) -> tuple[Any, int]:
        generation: dict[str, Any] = {"thinkingConfig": config}
        if limit is not None:
            generation["maxOutputTokens"] = limit
        out = translate(body(generationConfig=generation))
        return out.get("thinking"), out["max_tokens"]

    omitted = {"type": "enabled", "display": "omitted"}
    assert thinking({"thinkingBudget": 0}) == (None, DEFAULT_MAX_TOKENS)
    assert thinking({"thinkingBudget": -1}) == ({**omitted, "budget_tokens": 8192}, DEFAULT_MAX_TOKENS + 8192)
    assert thinking({"thinkingBudget": 100}) == ({**omitted, "budget_tokens": 1024}, DEFAULT_MAX_TOKENS + 1024)
    assert thinking({"thinkingLevel": "HIGH"}) == ({**omitted, "budget_tokens": 16384}, DEFAULT_MAX_TOKENS + 16384)
    assert thinking({"thinkingLevel": "low"})[0]["budget_tokens"] == 2048
    assert thinking({"thinkingLevel": "MINIMAL"}) == (None, DEFAULT_MAX_TOKENS)
    assert thinking({"includeThoughts": True}) == (None, DEFAULT_MAX_TOKENS)
    assert thinking({"thinkingBudget": 30000}, limit=4000) == ({**omitted, "budget_tokens": 3999}, 4000)
    assert thinking({"thinkingBudget": 2000}, limit=1024) == (None, 1024)  # no room for Anthropic's minimum
    assert refused(body(generationConfig={"thinkingConfig": {"thinkingBudget": -2}})).field == \
        "generationConfig.thinkingConfig.thinkingBudget"
    assert refused(body(generationConfig={"thinkingConfig": {"thinkingLevel": "MAX"}})).field == \
        "generationConfig.thinkingConfig.thinkingLevel"
    # A forced tool call cannot think on Anthropic: thinking is left off.
    out = translate(body(tools=[{"functionDeclarations": [WEATHER]}],
                         toolConfig={"functionCallingConfig": {"mode": "ANY"}},
                         generationConfig={"thinkingConfig": {"thinkingBudget": 4096}}))
    assert "thinking" not in out and out["tool_choice"] == {"type": "any"}


def test_structured_output() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "tags": {
        "type": "array", "items": {"type": "object", "properties": {"t": {"type": "string"}}}}}, "required": ["n"]}
    closed = {**schema, "additionalProperties": False, "properties": {**schema["properties"], "tags": {
        "type": "array", "items": {**schema["properties"]["tags"]["items"], "additionalProperties": False}}}}
    out = translate(body(generationConfig={"responseMimeType": "application/json", "responseJsonSchema": schema}))
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": closed}}
    out = translate(body(generationConfig={"responseMimeType": "application/json", "responseSchema": {
        "type": "OBJECT", "required": ["n"], "properties": {"n": {"type": "INTEGER"}, "tags": {
            "type": "ARRAY", "items": {"type": "OBJECT", "properties": {"t": {"type": "STRING"}}}}}}}))
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": closed}}
    # An object that says it is open stays open.
    open_schema = {"type": "object", "additionalProperties": True}
    out = translate(body(generationConfig={"responseMimeType": "application/json", "responseJsonSchema": open_schema}))
    assert out["output_config"]["format"]["schema"] == open_schema
    out = translate(body(generationConfig={"responseMimeType": "application/json"}))
    assert "output_config" not in out and out["system"][-1]["text"].startswith("Answer with a single JSON value")
    assert refused(body(generationConfig={"responseMimeType": "text/x.enum"})).field == \
        "generationConfig.responseMimeType"
    assert refused(body(generationConfig={"responseJsonSchema": schema})).field == "generationConfig.responseMimeType"


@pytest.mark.parametrize(("fields", "field"), [
    ({"generationConfig": {"candidateCount": 2}}, "generationConfig.candidateCount"),
    ({"generationConfig": {"responseModalities": ["TEXT", "IMAGE"]}}, "generationConfig.responseModalities"),
    ({"generationConfig": {"responseLogprobs": True}}, "generationConfig.responseLogprobs"),
    ({"generationConfig": {"maxOutputTokens": 0}}, "generationConfig.maxOutputTokens"),
    ({"generationConfig": {"maxOutputTokens": True}}, "generationConfig.maxOutputTokens"),
    ({"generationConfig": {"stopSequences": "END"}}, "generationConfig.stopSequences"),
    ({"generationConfig": []}, "generationConfig"),
    ({"cachedContent": "cachedContents/abc"}, "cachedContent"),
    ({"systemInstruction": {"parts": [{"inlineData": {}}]}}, "systemInstruction.parts[0].text"),
    ({"contents": []}, "contents"),
    ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "contents[0].role"),
    ({"contents": [{"parts": "x"}]}, "contents[0].parts"),
    ({"contents": [{"parts": [{"text": 1}]}]}, "contents[0].parts[0].text"),
    ({"tools": {"functionDeclarations": []}}, "tools"),
])
def test_bad_input_is_refused_by_name(fields: dict[str, Any], field: str) -> None:
    assert refused(body(**fields)).field == field
    assert refused(body(user({"text": "a"}), model({"functionCall": {"name": "f", "args": []}}),
                        user({"text": "b"}))).field == "contents[1].parts[0].functionCall.args"


# -- the whole answer ------------------------------------------------------------------------------


def message(content: list[dict[str, Any]], stop: str | None = "end_turn", **usage: int) -> bytes:
    return orjson.dumps({"id": "msg_01abc", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                         "content": content, "stop_reason": stop, "stop_sequence": None,
                         "usage": {"input_tokens": 10, "output_tokens": 5, **usage}})


def gemini_answer(raw: bytes) -> genai.GenerateContentResponse:
    data = orjson.loads(raw)
    # google-genai's own response type (it forbids unknown fields), as the SDK reads it.
    return genai.GenerateContentResponse.model_validate_json(orjson.dumps(data))


def test_answer_text_calls_usage_and_shape() -> None:
    raw = BRIDGE.answer(message([
        {"type": "text", "text": "Checking", "citations": None}, {"type": "text", "text": " now."},
        {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_02", "name": "now", "input": {}},
    ], "tool_use", input_tokens=5, cache_creation_input_tokens=15, cache_read_input_tokens=100, output_tokens=42),
        Reply("gemini-2.5-pro"))
    got = gemini_answer(raw)
    assert orjson.loads(raw) == {
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "Checking now."},
            {"functionCall": {"id": "toolu_01", "name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"id": "toolu_02", "name": "now", "args": {}}}]},
            "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 120, "cachedContentTokenCount": 100, "candidatesTokenCount": 42,
                          "totalTokenCount": 162},
        "modelVersion": "gemini-2.5-pro", "responseId": "msg_01abc"}
    assert got.text == "Checking now." and [c.name for c in got.function_calls or []] == ["get_weather", "now"]
    # The gateway's own reader of Gemini usage gets Anthropic's counts back (cache writes join the input).
    assert gemini.usage_from_body(raw) == (Usage(input_tokens=20, output_tokens=42, cache_read_tokens=100),
                                           "gemini-2.5-pro")


@pytest.mark.parametrize(("stop", "finish"), [
    ("end_turn", "STOP"), ("stop_sequence", "STOP"), ("tool_use", "STOP"), ("pause_turn", "STOP"),
    ("max_tokens", "MAX_TOKENS"), ("model_context_window_exceeded", "MAX_TOKENS"), ("refusal", "SAFETY"),
    (None, "OTHER"), ("something_new", "OTHER")])
def test_every_stop_reason(stop: str | None, finish: str) -> None:
    got = gemini_answer(BRIDGE.answer(message([{"type": "text", "text": "x"}], stop), Reply("gemini-2.5-pro")))
    assert got.candidates and got.candidates[0].finish_reason == finish


def test_thinking_rides_the_first_call_else_the_last_text_else_a_part_of_its_own() -> None:
    thinking = {"type": "thinking", "thinking": "Hmm.", "signature": "EqQBsig"}
    redacted = {"type": "redacted_thinking", "data": "EmwKdata"}
    call = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}
    parts = orjson.loads(BRIDGE.answer(message([thinking, redacted, {"type": "text", "text": "a"}, call, call]),
                                       Reply("g")))["candidates"][0]["content"]["parts"]
    assert parts[0] == {"text": "Hmm.", "thought": True}
    assert "thoughtSignature" not in parts[1] and "thoughtSignature" not in parts[3]
    assert unpack_thinking(parts[2]["thoughtSignature"]) == [thinking, redacted]
    parts = orjson.loads(BRIDGE.answer(message([thinking, {"type": "text", "text": "a"}]), Reply("g")))[
        "candidates"][0]["content"]["parts"]
    assert unpack_thinking(parts[1]["thoughtSignature"]) == [thinking]
    parts = orjson.loads(BRIDGE.answer(message([{**thinking, "thinking": ""}], "max_tokens"), Reply("g")))[
        "candidates"][0]["content"]["parts"]
    assert parts == [{"text": "", "thoughtSignature": pack_thinking([{**thinking, "thinking": ""}])}]
    # The signature as google-genai decodes and re-encodes it still restores the block.
    part = genai.Part.model_validate_json(orjson.dumps(parts[0]))
    resent = orjson.loads(orjson.dumps(part.model_dump(mode="json", by_alias=True, exclude_none=True)))
    assert unpack_thinking(resent["thoughtSignature"]) == [{**thinking, "thinking": ""}]


def test_an_odd_answer_still_makes_a_valid_response() -> None:
    got = gemini_answer(BRIDGE.answer(orjson.dumps({"content": [1, {"type": "server_tool_use"}], "usage": None}),
                                      Reply("g")))
    assert got.candidates and got.candidates[0].content and got.candidates[0].content.parts == []
    assert orjson.loads(BRIDGE.answer(b"[1]", Reply("g")))["error"]["code"] == 502


def test_errors_keep_their_status_in_geminis_shape() -> None:
    def err(status: int, raw: bytes) -> dict[str, Any]:
        out: dict[str, Any] = orjson.loads(BRIDGE.error(status, raw))
        return out

    anthropic_error = orjson.dumps({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
    assert err(429, anthropic_error) == {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}
    assert err(400, b'{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}')["error"] == \
        {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}
    assert err(529, b"<html>overloaded</html>")["error"] == {"code": 529, "message": "<html>overloaded</html>",
                                                             "status": "INTERNAL"}
    assert err(503, b"")["error"]["message"] == "the Anthropic upstream answered 503"
    assert err(401, anthropic_error)["error"]["status"] == "UNAUTHENTICATED"


# -- the stream ------------------------------------------------------------------------------------


def event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps({"type": name, **data}) + b"\n\n"


def delta(index: int, **d: Any) -> bytes:
    return event("content_block_delta", {"index": index, "delta": d})


START = event("message_start", {"message": {
    "id": "msg_01stream", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [],
    "stop_reason": None, "stop_sequence": None,
    "usage": {"input_tokens": 12, "cache_creation_input_tokens": 30, "cache_read_input_tokens": 200,
              "output_tokens": 1}}})
RECORDED = b"".join([
    START, event("ping", {}),
    event("content_block_start", {"index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
    delta(0, type="thinking_delta", thinking="The user wants "), delta(0, type="thinking_delta", thinking="weather."),
    delta(0, type="signature_delta", signature="EqQBCkYIsig"),
    event("content_block_stop", {"index": 0}),
    event("content_block_start", {"index": 1, "content_block": {"type": "text", "text": ""}}),
    delta(1, type="text_delta", text="Let me "), delta(1, type="text_delta", text="check ✓."),
    event("content_block_stop", {"index": 1}),
    event("content_block_start", {"index": 2, "content_block": {"type": "tool_use", "id": "toolu_01A",
                                                                "name": "get_weather", "input": {}}}),
    delta(2, type="input_json_delta", partial_json=""), delta(2, type="input_json_delta", partial_json='{"city": "Pa'),
    delta(2, type="input_json_delta", partial_json='ris"}'),
    event("content_block_stop", {"index": 2}),
    event("content_block_start", {"index": 3, "content_block": {"type": "tool_use", "id": "toolu_01B",
                                                                "name": "now", "input": {}}}),
    event("content_block_stop", {"index": 3}),
    event("message_delta", {"delta": {"stop_reason": "tool_use", "stop_sequence": None},
                            "usage": {"output_tokens": 87}}),
    event("message_stop", {}),
])


def run(raw: bytes, pieces: Iterable[bytes] | None = None, json_array: bool = False) -> tuple[bytes, Any]:
    translator = BRIDGE.stream(Reply("gemini-2.5-pro", json_array=json_array))
    out = b"".join(translator.feed(p) for p in (pieces if pieces is not None else [raw]))
    return out + translator.end(), translator


def chunks(raw: bytes) -> list[dict[str, Any]]:
    """The SSE stream's elements, each checked against google-genai's response type."""
    assert raw.endswith(b"\r\n\r\n")
    out = []
    for ev in SSEParser().feed(raw):
        element = orjson.loads(ev.data)
        if "error" not in element:  # Google's error object mid-stream is not a response
            genai.GenerateContentResponse.model_validate_json(ev.data)
        out.append(element)
    return out


def parts_of(elements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for e in elements for c in e.get("candidates", []) for p in c["content"]["parts"]]


def test_a_recorded_stream_is_a_proper_gemini_stream() -> None:
    raw, translator = run(RECORDED)
    elements = chunks(raw)
    assert {e["responseId"] for e in elements} == {"msg_01stream"}
    assert {e["modelVersion"] for e in elements} == {"gemini-2.5-pro"}
    parts = parts_of(elements)
    signature = parts[4].pop("thoughtSignature")
    assert parts == [
        {"text": "The user wants ", "thought": True}, {"text": "weather.", "thought": True},
        {"text": "Let me "}, {"text": "check ✓."},
        {"functionCall": {"id": "toolu_01A", "name": "get_weather", "args": {"city": "Paris"}}},
        {"functionCall": {"id": "toolu_01B", "name": "now", "args": {}}},
    ]
    assert unpack_thinking(signature) == [{"type": "thinking", "thinking": "The user wants weather.",
                                           "signature": "EqQBCkYIsig"}]
    # Usage on the first chunk (input side) and on the last (everything), with the finish.
    assert elements[0]["usageMetadata"] == {"promptTokenCount": 242, "cachedContentTokenCount": 200,
                                            "candidatesTokenCount": 1, "totalTokenCount": 243}
    assert [("usageMetadata" in e) for e in elements] == [True] + [False] * (len(elements) - 2) + [True]
    last = elements[-1]
    assert last["candidates"][0]["finishReason"] == "STOP" and last["candidates"][0]["content"]["parts"] == []
    assert last["usageMetadata"] == {"promptTokenCount": 242, "cachedContentTokenCount": 200,
                                     "candidatesTokenCount": 87, "totalTokenCount": 329}
    assert translator.usage == Usage(input_tokens=12, output_tokens=87, cache_creation_tokens=30,
                                     cache_read_tokens=200)
    # The route's own Gemini usage reader, fed the translated stream, sees the same counts.
    reader = gemini.StreamUsage()
    reader.feed(raw)
    assert reader.usage == Usage(input_tokens=42, output_tokens=87, cache_read_tokens=200)


def test_the_stream_is_the_same_at_every_split_and_relayed_as_it_comes() -> None:
    whole, _ = run(RECORDED)
    assert run(RECORDED, (RECORDED[i:i + 1] for i in range(len(RECORDED))))[0] == whole
    for i in range(len(RECORDED) + 1):
        assert run(RECORDED, [RECORDED[:i], RECORDED[i:]])[0] == whole, i
    translator = BRIDGE.stream(Reply("g"))
    assert translator.feed(START) == b""
    assert translator.feed(event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}))\
        == b""
    out = translator.feed(delta(0, type="text_delta", text="Hi"))
    assert parts_of(chunks(out)) == [{"text": "Hi"}]  # the first text goes out before the block ends


def test_the_json_array_stream() -> None:
    raw, _ = run(RECORDED, json_array=True)
    elements = orjson.loads(raw)
    assert raw.startswith(b"[{") and raw.endswith(b"}]") and b",\r\n{" in raw
    assert elements == chunks(run(RECORDED)[0])
    assert run(RECORDED, (RECORDED[i:i + 1] for i in range(len(RECORDED))), json_array=True)[0] == raw
    # The gateway's own splitter of Gemini's array reads it element by element.
    splitter = gemini.JSONArraySplitter()
    assert [orjson.loads(e) for i in range(len(raw)) for e in splitter.feed(raw[i:i + 1])] == elements
    cut, _ = run(START + delta(0, type="text_delta", text="x"), json_array=True)
    assert orjson.loads(cut)[-1]["error"]["code"] == 502


@pytest.mark.parametrize(("stop", "finish"), [("end_turn", "STOP"), ("max_tokens", "MAX_TOKENS"),
                                              ("refusal", "SAFETY"), ("stop_sequence", "STOP")])
def test_stream_stop_reasons_and_a_signature_with_no_call(stop: str, finish: str) -> None:
    raw = b"".join([
        START,
        event("content_block_start", {"index": 0, "content_block": {"type": "redacted_thinking", "data": "EmwK"}}),
        event("content_block_stop", {"index": 0}),
        event("content_block_start", {"index": 1, "content_block": {"type": "text", "text": "Done"}}),
        event("content_block_stop", {"index": 1}),
        event("message_delta", {"delta": {"stop_reason": stop}, "usage": {"output_tokens": 3}}),
        event("message_stop", {}),
    ])
    elements = chunks(run(raw)[0])
    assert parts_of(elements)[0] == {"text": "Done"}
    last = elements[-1]["candidates"][0]
    assert last["finishReason"] == finish
    assert unpack_thinking(last["content"]["parts"][0]["thoughtSignature"]) == [
        {"type": "redacted_thinking", "data": "EmwK"}]


def test_an_error_event_and_a_cut_stream_end_in_geminis_error() -> None:
    overloaded = event("error", {"error": {"type": "overloaded_error", "message": "Overloaded"}})
    raw, _ = run(START + delta(0, type="text_delta", text="x") + overloaded + event("message_stop", {}))
    assert chunks(raw)[-1] == {"error": {"code": 503, "message": "Overloaded", "status": "UNAVAILABLE"}}
    raw, translator = run(RECORDED[:RECORDED.index(b"event: message_stop")])
    assert chunks(raw)[-1]["error"]["code"] == 502
    assert translator.usage.output_tokens == 87  # what was counted before the cut stays
    assert run(b"")[0].startswith(b"data: {\"error\"")


def test_fuzzed_streams_never_raise() -> None:
    rng = random.Random(1313)
    lines = [line + b"\n\n" for line in RECORDED.split(b"\n\n") if line]
    for _ in range(300):
        picked = [rng.choice(lines) for _ in range(rng.randint(0, 12))]
        if rng.random() < 0.3:
            picked.append(b"event: content_block_delta\ndata: " + orjson.dumps(_random_value(rng)) + b"\n\n")
        raw = b"".join(picked)
        cuts = sorted(rng.sample(range(len(raw) + 1), min(3, len(raw) + 1)))
        pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)])]
        out, _ = run(raw, pieces, json_array=rng.random() < 0.5)
        assert out


# -- what Gemini CLI really sends ------------------------------------------------------------------

FIXTURES = Path(__file__).parents[2] / "fixtures"


def cli_request(name: str) -> tuple[dict[str, Any], RequestOptions]:
    """A captured Gemini CLI request's body, and the route's options for it (the method asks for a stream)."""
    record = orjson.loads((FIXTURES / name).read_bytes())
    data: dict[str, Any] = record["body"]
    return data, STREAMED if record["path"].endswith(":streamGenerateContent") else OPTS


@pytest.mark.parametrize("name", ["gemini_cli_classifier.json", "gemini_cli_generate_first.json",
                                  "gemini_cli_generate_tool_result.json"])
def test_gemini_clis_requests_translate(name: str) -> None:
    data, options = cli_request(name)
    out = translate(data, options)
    assert out["stream"] is (name != "gemini_cli_classifier.json")
    assert out["system"] and len(out["messages"][0]["content"]) == 2
    assert "temperature" not in orjson.dumps(out).decode()
    if "tools" in data:
        assert [t["name"] for t in out["tools"]] == [d["name"] for d in data["tools"][0]["functionDeclarations"]]
    for pair, upstream in ((anthropic_gemini, "gemini-2.5-pro"), (anthropic_openai_chat, "gpt-4o")):
        pair.request(out, RequestOptions(model=upstream))


def test_gemini_clis_classifier_gets_a_closed_lower_case_schema_and_thinking() -> None:
    out = translate(*cli_request("gemini_cli_classifier.json"))
    assert out["output_config"]["format"]["schema"] == {
        "type": "object", "additionalProperties": False, "required": ["complexity_reasoning", "complexity_score"],
        "properties": {"complexity_reasoning": {"type": "string", "description": "Brief explanation for the score."},
                       "complexity_score": {"type": "integer", "description": "Complexity score from 1-100."}}}
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 16384}


def test_gemini_clis_tool_turn_pairs_by_its_id_and_leaves_the_fakes_signature_behind() -> None:
    data, options = cli_request("gemini_cli_generate_tool_result.json")
    call = data["contents"][1]["parts"][0]
    out = translate(data, options)
    assert out["messages"][1] == {"role": "assistant", "content": [
        {"type": "tool_use", "id": call["functionCall"]["id"], "name": "list_directory", "input": {"dir_path": "."}}]}
    result = out["messages"][2]["content"][0]
    assert result["tool_use_id"] == call["functionCall"]["id"] and result["content"].startswith("Directory listing")
    # The signature is the Gemini fake's, not a gateway-made one: the thinking of that turn is lost,
    # so this request does not think (Anthropic would refuse the tool loop otherwise).
    assert "thinking" not in out and out["max_tokens"] == DEFAULT_MAX_TOKENS


# -- round trips through the pairs this one is composed with --------------------------------------


LOOP = body(
    user({"text": "Weather in Paris?"}, {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}),
    model({"functionCall": {"id": "toolu_01A", "name": "get_weather", "args": {"city": "Paris"}}}),
    user({"functionResponse": {"id": "toolu_01A", "name": "get_weather", "response": {"output": "sunny"}}}),
    systemInstruction={"parts": [{"text": "Be brief."}]},
    tools=[{"functionDeclarations": [WEATHER]}],
    toolConfig={"functionCallingConfig": {"mode": "AUTO"}},
    generationConfig={"maxOutputTokens": 2048, "stopSequences": ["END"]})


@pytest.mark.parametrize("pair", [anthropic_gemini, anthropic_openai_chat, anthropic_openai_responses])
def test_the_anthropic_body_is_one_the_anthropic_client_pairs_accept(pair: Any) -> None:
    loop = LOOP
    if pair is anthropic_openai_responses:  # the Responses API has no stop sequences: that pair refuses them
        loop = {**LOOP, "generationConfig": {"maxOutputTokens": 2048}}
    for data, options in ((loop, OPTS), (loop, STREAMED),
                          (body(generationConfig={"responseMimeType": "application/json",
                                                  "responseJsonSchema": {"type": "object"}}), OPTS)):
        anthropic_body = translate(data, options)
        translated = pair.request(anthropic_body, RequestOptions(model="gemini-2.5-pro" if pair is anthropic_gemini
                                                                 else "gpt-4o"))
        assert translated.stream is anthropic_body["stream"]


def test_gemini_on_gemini_through_the_pivot_keeps_calls_usage_and_signatures() -> None:
    """Gemini client -> Anthropic -> Gemini upstream and back: what Gemini said reaches the client,
    and the next turn gives the upstream its own thoughtSignatures back (all of a turn's thinking
    goes to its front, where Anthropic wants it, so the call's signature comes on the part after
    the thoughts; a Gemini client on a Gemini account is served natively, never this way)."""
    upstream = orjson.dumps({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "Thinking…", "thought": True, "thoughtSignature": b64(b"thought-sig")},
            {"text": "Calling."},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": b64(b"call-sig")},
        ]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 300, "cachedContentTokenCount": 100, "candidatesTokenCount": 20,
                          "thoughtsTokenCount": 5, "totalTokenCount": 325},
        "modelVersion": "gemini-2.5-pro", "responseId": "r1"})
    messages_answer = anthropic_gemini.BRIDGE.answer(upstream, "claude-sonnet-4-5")
    client = orjson.loads(BRIDGE.answer(messages_answer, Reply("gemini-2.5-pro")))
    parts = client["candidates"][0]["content"]["parts"]
    assert [p.get("text") for p in parts[:2]] == ["Thinking…", "Calling."]
    call = parts[2]["functionCall"]
    assert (call["name"], call["args"]) == ("get_weather", {"city": "Paris"})
    assert client["usageMetadata"]["promptTokenCount"] == 300 and client["usageMetadata"]["candidatesTokenCount"] == 25
    # Next turn: the client sends the turn back as it got it.
    nxt = translate(body(user({"text": "Weather?"}), client["candidates"][0]["content"],
                         user({"functionResponse": {"id": call["id"], "name": "get_weather",
                                                    "response": {"output": "sunny"}}}),
                         tools=[{"functionDeclarations": [WEATHER]}]))
    upstream_body = anthropic_gemini.request(nxt, RequestOptions(model="gemini-2.5-pro")).body
    model_parts = upstream_body["contents"][1]["parts"]
    assert {"text": "Thinking…", "thought": True, "thoughtSignature": b64(b"thought-sig")} in model_parts
    assert {p.get("thoughtSignature") for p in model_parts} >= {b64(b"thought-sig"), b64(b"call-sig")}
    assert {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}} in [
        {k: v for k, v in p.items() if k != "thoughtSignature"} for p in model_parts]


def test_a_gemini_stream_through_the_pivot_keeps_text_calls_and_usage() -> None:
    def sse(obj: dict[str, Any]) -> bytes:
        return b"data: " + orjson.dumps(obj) + b"\r\n\r\n"

    meta = {"promptTokenCount": 50, "candidatesTokenCount": 9, "totalTokenCount": 59}
    upstream = b"".join([
        sse({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}], "usageMetadata": meta}),
        sse({"candidates": [{"content": {"role": "model", "parts": [{"text": "lo"}]}}], "usageMetadata": meta}),
        sse({"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "now", "args": {"tz": "UTC"}}}]}, "finishReason": "STOP"}],
            "usageMetadata": meta}),
    ])
    first = anthropic_gemini.BRIDGE.stream("claude-sonnet-4-5")
    second = BRIDGE.stream(Reply("gemini-2.5-pro"))
    out = b"".join(second.feed(first.feed(upstream[i:i + 7])) for i in range(0, len(upstream), 7))
    out += second.feed(first.end()) + second.end()
    elements = chunks(out)
    parts = parts_of(elements)
    assert "".join(p.get("text", "") for p in parts) == "Hello"
    assert [p["functionCall"]["name"] for p in parts if "functionCall" in p] == ["now"]
    assert elements[-1]["usageMetadata"]["promptTokenCount"] == 50
    assert elements[-1]["usageMetadata"]["candidatesTokenCount"] == 9
    assert second.usage == Usage(input_tokens=50, output_tokens=9)


# -- fuzz ------------------------------------------------------------------------------------------


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["str", "int", "none", "bool", "float"] + (["list", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "list":
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind == "dict":
        keys = ["type", "text", "name", "args", "id", "parts", "role", "response", "mimeType", "data", "x"]
        return {rng.choice(keys): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    return {"str": "s", "int": rng.randint(-2, 3), "none": None, "bool": rng.random() < 0.5, "float": 0.5}[kind]


def _pick(rng: random.Random, good: list[Any], bad: list[Any]) -> Any:
    return rng.choice(good) if rng.random() < 0.7 else rng.choice(bad + [_random_value(rng)])


def _random_part(rng: random.Random, role: str) -> Any:
    signed = pack_thinking([{"type": "thinking", "thinking": "t", "signature": "s"}])
    good = {"user": [{"text": "hi"}, {"text": ""}, {"inlineData": {"mimeType": "image/png", "data": "iVBO"}},
                     {"functionResponse": {"name": "f", "response": {"output": "ok"}}},
                     {"functionResponse": {"id": "c1", "name": "g", "response": {"error": "x"}}}],
            "model": [{"text": "t", "thought": True}, {"text": "ok"}, {"text": "", "thoughtSignature": signed},
                      {"functionCall": {"name": "f", "args": {"a": 1}}}, {"functionCall": {"id": "c1", "name": "g"}},
                      {"functionCall": {"name": "f"}, "thoughtSignature": "c2ln"}]}[role]
    bad = [{"fileData": {}}, {"executableCode": {}}, {"inlineData": {"mimeType": 3}}, "p", {},
           {"functionCall": {"name": 1}}, {"functionResponse": {"response": []}}, {"text": "x", "bogus": 1}]
    return rng.choice(good) if rng.random() < 0.9 else _pick(rng, good, bad)


def _random_body(rng: random.Random) -> dict[str, Any]:
    contents = []
    for turn in range(rng.randint(1, 6)):
        role = "user" if turn % 2 == 0 else "model"
        parts = [_random_part(rng, role) for _ in range(rng.randint(0, 3))]
        if turn == 0:  # a first turn answering calls never made is refused; fuzz the rest more
            parts = [p for p in parts if not (isinstance(p, dict) and "functionResponse" in p)] or [{"text": "go"}]
        contents.append({"role": role if rng.random() < 0.95 else rng.choice([None, "bogus", "model"]),
                         "parts": parts})
    data: dict[str, Any] = {"contents": contents if rng.random() < 0.95 else rng.choice(["c", [1], []])}
    options: dict[str, tuple[list[Any], list[Any]]] = {
        "systemInstruction": ([{"parts": [{"text": "s"}]}, "s"], [{"parts": "x"}, 3]),
        "tools": ([[{"functionDeclarations": [WEATHER, {"name": "f"}, {"name": "g"}]}]],
                  [[{"googleSearch": {}}], [{"functionDeclarations": [{"name": "a.b"}]}], {}]),
        "toolConfig": ([{"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}},
                        {"functionCallingConfig": {"mode": "NONE"}}], [{"functionCallingConfig": {"mode": 1}}, "x"]),
        "generationConfig": ([{"maxOutputTokens": 2000, "thinkingConfig": {"thinkingBudget": -1}},
                              {"responseMimeType": "application/json", "responseSchema": {"type": "OBJECT"}},
                              {"thinkingConfig": {"thinkingLevel": "HIGH", "includeThoughts": True}}],
                             [{"candidateCount": 3}, {"maxOutputTokens": "1"}, {"thinkingConfig": []}]),
        "stream": ([True, False], ["yes"]), "cachedContent": ([None, None, None], ["c"]), "unknown": ([1], [None]),
    }
    for key, (good, bad) in options.items():
        if rng.random() < 0.4:
            data[key] = _pick(rng, good, bad)
    return data


def test_fuzzed_bodies_translate_or_are_refused_by_name() -> None:
    rng = random.Random(1313)
    translated = 0
    for _ in range(1500):
        data = _random_body(rng)
        try:
            out = request(data, OPTS)
        except Untranslatable as refusal:
            assert refusal.field and refusal.message.startswith(refusal.field)
            continue
        translated += 1
        orjson.dumps(out.body)
        check_messages(out.body)
        _consume(_PARAMS[out.stream].validate_python(out.body))
    assert translated > 100


def test_fuzzed_answers_always_give_a_response() -> None:
    rng = random.Random(7)
    for _ in range(300):
        content = [_random_value(rng) for _ in range(rng.randint(0, 4))]
        raw = orjson.dumps({"content": content, "stop_reason": _random_value(rng), "usage": {"output_tokens": 1}})
        out = orjson.loads(BRIDGE.answer(raw, Reply("g")))
        genai.GenerateContentResponse.model_validate_json(orjson.dumps(out))


# -- the google-genai SDK itself on the translated answers ------------------------------------------


class FakeClaude:
    """The composed gateway in miniature: the SDK's request through this pair, a Claude that thinks
    and calls get_weather until it has a result, its answer (whole or streamed) back through the pair."""

    THINKING = {"type": "thinking", "thinking": "I should call the tool.", "signature": "EqQBCkYIBRgCsig=="}

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def transport(self) -> Any:
        import httpx

        def handle(req: httpx.Request) -> httpx.Response:
            method = req.url.path.rpartition(":")[2]
            data = orjson.loads(req.content)
            # What the route says: the method asks for a stream, the query for SSE.
            options = dataclasses.replace(OPTS, stream=method == "streamGenerateContent",
                                          client_query=tuple(req.url.params.multi_items()),
                                          client_model="gemini-2.5-pro")
            reply = request(data, options).reply
            body = translate(data, options)
            self.bodies.append(body)
            message = self.answer(body)
            if not body["stream"]:
                return httpx.Response(200, content=BRIDGE.answer(orjson.dumps(message), reply))
            translator = BRIDGE.stream(reply)
            raw = self.events(message)
            out = b"".join(translator.feed(raw[i:i + 5]) for i in range(0, len(raw), 5)) + translator.end()
            return httpx.Response(200, content=out, headers={"content-type": "text/event-stream"})

        return httpx.MockTransport(handle)

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        last = body["messages"][-1]["content"]
        if any(b["type"] == "tool_result" for b in last):
            content: list[dict[str, Any]] = [{"type": "text", "text": "It is sunny in Paris."}]
            stop = "end_turn"
        else:
            content = [self.THINKING, {"type": "tool_use", "id": "toolu_01W", "name": "get_weather",
                                       "input": {"city": "Paris"}}]
            stop = "tool_use"
        return {"id": f"msg_{len(self.bodies)}", "type": "message", "role": "assistant", "model": body["model"],
                "content": content, "stop_reason": stop, "stop_sequence": None,
                "usage": {"input_tokens": 30, "cache_read_input_tokens": 70, "output_tokens": 12}}

    @staticmethod
    def events(message: dict[str, Any]) -> bytes:
        out = [event("message_start", {"message": {**message, "content": [], "stop_reason": None,
                                                   "usage": {**message["usage"], "output_tokens": 1}}})]
        for i, block in enumerate(message["content"]):
            kind = block["type"]
            start = {"tool_use": {**block, "input": {}}, "text": {"type": "text", "text": ""},
                     "thinking": {"type": "thinking", "thinking": "", "signature": ""}}[kind]
            out.append(event("content_block_start", {"index": i, "content_block": start}))
            if kind == "text":
                out += [delta(i, type="text_delta", text=block["text"][:5]),
                        delta(i, type="text_delta", text=block["text"][5:])]
            elif kind == "thinking":
                out += [delta(i, type="thinking_delta", thinking=block["thinking"]),
                        delta(i, type="signature_delta", signature=block["signature"])]
            else:
                arguments = orjson.dumps(block["input"]).decode()
                out += [delta(i, type="input_json_delta", partial_json=arguments[:4]),
                        delta(i, type="input_json_delta", partial_json=arguments[4:])]
            out.append(event("content_block_stop", {"index": i}))
        out.append(event("message_delta", {"delta": {"stop_reason": message["stop_reason"]},
                                           "usage": {"output_tokens": message["usage"]["output_tokens"]}}))
        return b"".join(out) + event("message_stop", {})


def sdk_client(fake: FakeClaude) -> Any:
    import httpx
    from google import genai as sdk

    return sdk.Client(api_key="k", http_options=genai.HttpOptions(
        base_url="http://gateway/gemini", httpx_client=httpx.Client(transport=fake.transport())))


def test_the_sdks_automatic_function_calling_loop_keeps_claudes_thinking() -> None:
    fake = FakeClaude()

    def get_weather(city: str) -> str:
        """The weather of a city."""
        return f"sunny in {city}"

    config = genai.GenerateContentConfig(
        tools=[get_weather], system_instruction="Be brief.", temperature=0.3,
        thinking_config=genai.ThinkingConfig(thinking_budget=2048, include_thoughts=True))
    got = sdk_client(fake).models.generate_content(model="gemini-2.5-pro", contents="Weather in Paris?",
                                                   config=config)
    assert got.text == "It is sunny in Paris."
    assert got.usage_metadata and got.usage_metadata.prompt_token_count == 100
    assert got.usage_metadata.cached_content_token_count == 70
    first, second = fake.bodies
    assert first["tools"][0]["name"] == "get_weather" and first["thinking"]["budget_tokens"] == 2048
    # The SDK sent the model's turn back (the signature decoded to bytes and encoded again):
    # Claude gets its exact thinking block in front of its call, so thinking stays on.
    assert second["messages"][1]["content"][0] == FakeClaude.THINKING
    assert second["messages"][2]["content"][0] == {"type": "tool_result", "tool_use_id": "toolu_01W",
                                                   "content": '{"result":"sunny in Paris"}'}
    assert second["thinking"]["type"] == "enabled"


def test_the_sdks_stream_and_a_manual_tool_loop() -> None:
    fake = FakeClaude()
    client = sdk_client(fake)
    config = genai.GenerateContentConfig(
        tools=[genai.Tool(function_declarations=[genai.FunctionDeclaration(
            name="get_weather", parameters=genai.Schema(type=genai.Type.OBJECT, properties={
                "city": genai.Schema(type=genai.Type.STRING)}))])],
        thinking_config=genai.ThinkingConfig(thinking_level=genai.ThinkingLevel.LOW, include_thoughts=True))
    question = genai.Content(role="user", parts=[genai.Part(text="Weather in Paris?")])
    pieces = list(client.models.generate_content_stream(model="gemini-2.5-pro", contents=[question],
                                                        config=config))
    parts = [p for c in pieces for p in (c.candidates[0].content.parts or []) if c.candidates and c.candidates[0].content]
    thoughts = [p.text for p in parts if p.thought]
    calls = [p for p in parts if p.function_call]
    assert thoughts == ["I should call the tool."] and len(calls) == 1
    assert calls[0].function_call.args == {"city": "Paris"} and calls[0].thought_signature
    turn = genai.Content(role="model", parts=calls)  # as Gemini CLI keeps it: the call part with its signature
    result = genai.Content(role="user", parts=[genai.Part.from_function_response(
        name="get_weather", response={"output": "sunny"})])
    pieces = list(client.models.generate_content_stream(model="gemini-2.5-pro", contents=[question, turn, result],
                                                        config=config))
    assert "".join(p.text or "" for p in pieces) == "It is sunny in Paris."
    assert pieces[-1].candidates and pieces[-1].candidates[0].finish_reason == genai.FinishReason.STOP
    assert pieces[-1].usage_metadata and pieces[-1].usage_metadata.total_token_count == 112
    second = fake.bodies[1]
    assert second["messages"][1]["content"][0] == FakeClaude.THINKING
    assert second["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "toolu_01W",
                                                 "content": "sunny"}]
    assert second["thinking"] == {"type": "enabled", "budget_tokens": 2048}


def test_composed_with_the_chat_pair_a_gemini_client_is_served_by_a_chat_account() -> None:
    from aiproxy.formats.bridges.compose import compose

    bridge = compose(BRIDGE, anthropic_openai_chat.BRIDGE)
    assert (bridge.client, bridge.upstream) == (wire.GEMINI, wire.OPENAI_CHAT)
    out = bridge.request(LOOP, RequestOptions(model="gpt-4o", stream=True, client_query=(("alt", "sse"),)))
    assert out.path == wire.CHAT_PATH and out.stream and out.body["model"] == "gpt-4o"
    assert [m["role"] for m in out.body["messages"]] == ["system", "user", "assistant", "tool"]
    completion = orjson.dumps({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Checking.", "tool_calls": [{
                "id": "call_1", "type": "function", "function": {"name": "get_weather",
                                                                 "arguments": '{"city":"Rome"}'}}]}}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 9, "total_tokens": 129,
                  "prompt_tokens_details": {"cached_tokens": 100}}})
    got = gemini_answer(bridge.answer(completion, (Reply("gemini-2.5-pro"), "gemini-2.5-pro")))
    assert got.text == "Checking."
    assert [(c.id, c.name, c.args) for c in got.function_calls or []] == [("call_1", "get_weather", {"city": "Rome"})]
    assert got.usage_metadata and (got.usage_metadata.prompt_token_count, got.usage_metadata.cached_content_token_count,
                                   got.usage_metadata.candidates_token_count) == (120, 100, 9)

    def data(chunk: dict[str, Any]) -> bytes:
        return b"data: " + orjson.dumps({"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o",
                                         "created": 1, **chunk}) + b"\n\n"

    upstream = b"".join([
        data({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi "}}]}),
        data({"choices": [{"index": 0, "delta": {"content": "there"}}]}),
        data({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        data({"choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 2, "total_tokens": 22}}),
        b"data: [DONE]\n\n"])
    def run_split(cut: int) -> list[dict[str, Any]]:
        translator = bridge.stream((Reply("gemini-2.5-pro"), "gemini-2.5-pro"))
        raw = translator.feed(upstream[:cut]) + translator.feed(upstream[cut:]) + translator.end()
        return [{k: v for k, v in e.items() if k != "responseId"} for e in chunks(raw)]  # the chat pair's id is random

    elements = run_split(0)
    assert all(run_split(cut) == elements for cut in range(len(upstream) + 1))
    assert "".join(p.get("text", "") for p in parts_of(elements)) == "Hi there"
    assert elements[-1]["candidates"][0]["finishReason"] == "STOP"
    assert elements[-1]["usageMetadata"]["totalTokenCount"] == 22
