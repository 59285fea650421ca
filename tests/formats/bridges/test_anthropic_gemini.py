"""Anthropic Messages clients on Gemini accounts: request, answer, stream, errors."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message
from google.genai import types as genai

from aiproxy.formats import anthropic, wire
from aiproxy.formats.bridges import anthropic_events
from aiproxy.formats.bridges.anthropic_gemini import BRIDGE, DROPPED, count_answer_of, count_request, request
from aiproxy.formats.bridges.anthropic_gemini_answer import SIGNATURE_PREFIX
from aiproxy.formats.bridges.base import RequestOptions, Untranslatable, UpstreamCount
from aiproxy.formats.sse import SSEParser
from aiproxy.model_limits import OutputCaps

OPTS = RequestOptions(model="gemini-3-pro-preview")
CAPS = OutputCaps.load()
# thoughtSignature is base64 bytes on the wire (google-genai Part.thought_signature).
SIG_THOUGHT, SIG_CALL, SIG_TEXT = "c2lnLXRob3VnaHQ=", "c2lnLWNhbGw=", "c2lnLXRleHQ="
TOOL = {"name": "get_weather", "description": "Weather of a city",
        "input_schema": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                         "properties": {"city": {"type": "string"},
                                        "unit": {"anyOf": [{"const": "c"}, {"const": "f"}]}},
                         "required": ["city"], "additionalProperties": False}}


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "max_tokens": 256,
            "messages": [{"role": "user", "content": "Hi"}], **fields}


def valid_gemini(out: dict[str, Any]) -> None:
    """The translated body as google-genai's wire types read it (they forbid unknown fields)."""
    for content in out["contents"]:
        genai.Content.model_validate_json(orjson.dumps(content))
    if "systemInstruction" in out:
        genai.Content.model_validate_json(orjson.dumps(out["systemInstruction"]))
    for tool in out.get("tools", []):
        genai.Tool.model_validate_json(orjson.dumps(tool))
    if "toolConfig" in out:
        genai.ToolConfig.model_validate_json(orjson.dumps(out["toolConfig"]))
    if "generationConfig" in out:
        genai.GenerationConfig.model_validate_json(orjson.dumps(out["generationConfig"]))
    assert set(out) <= {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig"}


def refused(b: dict[str, Any]) -> Untranslatable:
    with pytest.raises(Untranslatable) as caught:
        request(b, OPTS)
    return caught.value


# -- request -------------------------------------------------------------------------------------

def test_text_system_and_turns() -> None:
    b = body(system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
                     {"type": "text", "text": "Use French."}],
             messages=[{"role": "user", "content": "Hi"},
                       {"role": "assistant", "content": [{"type": "text", "text": "Salut"}]},
                       {"role": "user", "content": [{"type": "text", "text": "Ça va ?", "cache_control": {"type": "ephemeral"}}]}],
             metadata={"user_id": "u1"}, service_tier="auto", some_future_field=1)
    out = request(b, OPTS)
    assert out.path == wire.GEMINI_GENERATE_PATH and not out.stream and out.query == ()
    assert out.body == {
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Use French."}]},
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]},
                     {"role": "model", "parts": [{"text": "Salut"}]},
                     {"role": "user", "parts": [{"text": "Ça va ?"}]}],
        "generationConfig": {"maxOutputTokens": 256},
    }
    valid_gemini(out.body)
    assert "metadata" in DROPPED and "cache_control" in DROPPED


def test_a_turn_left_empty_joins_its_neighbours() -> None:
    # An assistant turn of another vendor's thinking only has nothing for Gemini.
    out = request(body(messages=[{"role": "user", "content": "a"},
                                 {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "x"}]},
                                 {"role": "user", "content": "b"}]), OPTS)
    assert out.body["contents"] == [{"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}]


def test_stream_path_and_generation_fields() -> None:
    out = request(body(stream=True, stop_sequences=["END"], temperature=0.5, top_p=0.9, top_k=40,
                       output_config={"format": {"type": "json_schema", "schema": {"type": "object"}}}), OPTS)
    assert out.stream and out.path == wire.GEMINI_STREAM_PATH and out.query == (("alt", "sse"),)
    assert out.path == "/v1beta/models/{model}:streamGenerateContent"
    assert out.body["generationConfig"] == {
        "maxOutputTokens": 256, "temperature": 0.5, "topP": 0.9, "topK": 40, "stopSequences": ["END"],
        "responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}}
    valid_gemini(out.body)
    # An account-specific drop list removes target fields.
    dropped = request(body(top_k=40), RequestOptions(model="m", drop=frozenset({"topK"})))
    assert dropped.body["generationConfig"] == {"maxOutputTokens": 256}


def test_images_and_documents() -> None:
    png = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}}
    txt = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"}}
    out = request(body(messages=[{"role": "user", "content": [png, pdf, txt, {"type": "text", "text": "?"}]}]), OPTS)
    assert out.body["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
        {"text": "notes"}, {"text": "?"}]
    valid_gemini(out.body)
    url = {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
    err = refused(body(messages=[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                                 {"role": "user", "content": [{"type": "text", "text": "see"}, url]}]))
    assert err.field == "messages[2].content[1]" and "does not fetch URLs" in err.message
    file_doc = {"type": "document", "source": {"type": "file", "file_id": "file_1"}}
    assert refused(body(messages=[{"role": "user", "content": [file_doc]}])).field == "messages[0].content[0].source"


def test_tools_and_tool_choice() -> None:
    out = request(body(tools=[TOOL], tool_choice={"type": "auto", "disable_parallel_tool_use": True}), OPTS)
    assert out.body["tools"] == [{"functionDeclarations": [{
        "name": "get_weather", "description": "Weather of a city", "parametersJsonSchema": TOOL["input_schema"]}]}]
    assert out.body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    valid_gemini(out.body)
    for choice, config in (({"type": "any"}, {"mode": "ANY"}), ({"type": "none"}, {"mode": "NONE"}),
                           ({"type": "tool", "name": "get_weather"},
                            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]})):
        got = request(body(tools=[TOOL], tool_choice=choice), OPTS).body
        assert got["toolConfig"] == {"functionCallingConfig": config}
        valid_gemini(got)
    assert "toolConfig" not in request(body(tools=[TOOL]), OPTS).body
    assert refused(body(tools=[TOOL], tool_choice={"type": "tool", "name": "nope"})).field == "tool_choice.name"
    assert refused(body(tool_choice={"type": "any"})).field == "tool_choice"
    assert refused(body(tools=[TOOL], tool_choice={"type": "sometimes"})).field == "tool_choice"


@pytest.mark.parametrize(("tool", "field"), [
    ({"name": "t", "input_schema": {"type": "string"}}, "tools[0].input_schema"),
    ({"name": "t", "input_schema": "not a schema"}, "tools[0].input_schema"),
    ({"name": "t", "input_schema": {"type": "object", "properties": []}}, "tools[0].input_schema.properties"),
    ({"name": "t", "input_schema": {"type": "object", "properties": {"a": 3}}}, "tools[0].input_schema.properties.a"),
    ({"name": "t", "input_schema": {"type": "object", "required": "a"}}, "tools[0].input_schema.required"),
    ({"name": "t", "input_schema": {"type": "object", "properties": {"a": {"anyOf": {}}}}},
     "tools[0].input_schema.properties.a.anyOf"),
    ({"name": "9lives", "input_schema": {"type": "object"}}, "tools[0].name"),
    ({"type": "web_search_20250305", "name": "web_search"}, "tools[0]"),
])
def test_bad_tools_are_named(tool: dict[str, Any], field: str) -> None:
    assert refused(body(tools=[tool])).field == field


def test_an_agent_loop_pairs_calls_and_results_by_name() -> None:
    b = body(tools=[TOOL], messages=[
        {"role": "user", "content": "Weather in Paris and Oslo?"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call-from-gemini", "name": "get_weather", "input": {"city": "Oslo"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "call-from-gemini", "is_error": True,
             "content": [{"type": "text", "text": "timeout"},
                         {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}]},
            {"type": "text", "text": "Go on."}]},
    ])
    contents = request(b, OPTS).body["contents"]
    assert contents[1] == {"role": "model", "parts": [
        {"text": "Checking."},
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
        # An id Gemini gave goes back to it; the toolu_ ones are Anthropic's or made here.
        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}, "id": "call-from-gemini"}}]}
    assert contents[2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "get_weather", "response": {"output": "18C"}}},
        {"functionResponse": {"name": "get_weather", "response": {"error": "timeout"}, "id": "call-from-gemini"}},
        {"inlineData": {"mimeType": "image/png", "data": "AA=="}},
        {"text": "Go on."}]}
    valid_gemini(request(b, OPTS).body)
    orphan = body(messages=[{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x"}]}])
    assert refused(orphan).field == "messages[0].content[0].tool_use_id"


def test_thinking_budget_adaptive_effort_and_disabled() -> None:
    def config(**fields: Any) -> Any:
        return request(body(**fields), OPTS).body["generationConfig"].get("thinkingConfig")

    assert config(thinking={"type": "enabled", "budget_tokens": 2048}) == {"includeThoughts": True,
                                                                            "thinkingBudget": 2048}
    assert config(thinking={"type": "adaptive"}) == {"includeThoughts": True}
    assert config(thinking={"type": "adaptive", "display": "omitted"}) == {"includeThoughts": False}
    assert config(thinking={"type": "disabled"}) is None
    # An effort is a thinkingLevel, which Gemini never takes together with a budget.
    assert config(thinking={"type": "enabled", "budget_tokens": 2048}, output_config={"effort": "high"}) == {
        "includeThoughts": True, "thinkingLevel": "HIGH"}
    assert config(output_config={"effort": "max"}) == {"thinkingLevel": "XHIGH"}
    # Gemini 2.x takes only budgets: the effort is dropped there, the budget kept.
    older = request(body(thinking={"type": "enabled", "budget_tokens": 2048}, output_config={"effort": "high"}),
                    RequestOptions(model="gemini-2.5-flash")).body["generationConfig"]
    assert older["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 2048}
    assert "thinkingConfig" not in request(body(output_config={"effort": "low"}),
                                           RequestOptions(model="gemini-2.5-pro")).body["generationConfig"]
    valid_gemini(request(body(thinking={"type": "enabled", "budget_tokens": 1024},
                              output_config={"effort": "low"}), OPTS).body)
    assert refused(body(thinking={"type": "enabled"})).field == "thinking.budget_tokens"
    assert refused(body(thinking={"type": "sometimes"})).field == "thinking"
    assert refused(body(output_config={"effort": "extreme"})).field == "output_config.effort"


@pytest.mark.parametrize(("model", "limit", "sent"), [
    ("gemini-2.0-flash", 64000, 8192),  # Claude Code's limit on a model that refuses more
    ("gemini-2.5-pro", 64000, 64000),  # below the cap: as sent
    ("gemini-2.5-flash", 100000, 65535),
    ("gemini-3-pro-preview", 32000, 32000),
    ("my-gemini", 64000, 64000),  # no entry: no cap
])
def test_the_limit_is_clamped_to_the_models_cap(model: str, limit: int, sent: int) -> None:
    out = request(body(max_tokens=limit), RequestOptions(model=model, max_output=CAPS.max_output(model))).body
    assert out["generationConfig"]["maxOutputTokens"] == sent
    valid_gemini(out)


def test_a_thinking_budget_stays_below_the_cap() -> None:
    # The cap counts thinking too: a budget the clamped limit could not hold is
    # kept below it, as Anthropic keeps budget_tokens below max_tokens.
    def config(budget: int, cap: int | None) -> Any:
        ask = body(max_tokens=64000, thinking={"type": "enabled", "budget_tokens": budget})
        return request(ask, RequestOptions(model="gemini-2.5-flash", max_output=cap)).body["generationConfig"]

    assert config(31999, 8192) == {"maxOutputTokens": 8192,
                                   "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 8191}}
    assert config(8192, 8192)["thinkingConfig"]["thinkingBudget"] == 8191
    assert config(8191, 8192)["thinkingConfig"]["thinkingBudget"] == 8191
    assert config(31999, 65535)["thinkingConfig"]["thinkingBudget"] == 31999
    assert config(31999, None)["thinkingConfig"]["thinkingBudget"] == 31999


def test_options_with_no_mapping_are_refused() -> None:
    assert refused(body(mcp_servers=[{"type": "url", "url": "https://x", "name": "x"}])).field == "mcp_servers"
    # A system message alone leaves no turn to send (its text joins the system instruction).
    assert refused(body(messages=[{"role": "system", "content": "x"}])).field == "messages"
    assert refused(body(messages=[{"role": "tool", "content": "x"}])).field == "messages[0]"
    assert refused(body(messages=[])).field == "messages"
    assert refused(body(messages=[{"role": "user", "content": [{"type": "server_tool_use", "id": "s",
                                                                "name": "web_search", "input": {}}]}])).field \
        == "messages[0].content[0]"
    assert refused(body(system=[{"type": "image"}])).field == "system[0]"
    assert refused(body(max_tokens="many")).field == "max_tokens"
    assert refused(body(output_config={"format": {"type": "xml"}})).field == "output_config.format"


# -- answer --------------------------------------------------------------------------------------

def gemini_answer(parts: list[dict[str, Any]], finish: str = "STOP", **extra: Any) -> bytes:
    return orjson.dumps({
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}],
        "usageMetadata": {"promptTokenCount": 100, "cachedContentTokenCount": 40, "candidatesTokenCount": 7,
                          "thoughtsTokenCount": 5, "totalTokenCount": 112},
        "modelVersion": "gemini-2.5-pro", "responseId": "resp1", **extra})


def test_answer_text_usage_and_shape() -> None:
    out = orjson.loads(BRIDGE.answer(gemini_answer([{"text": "Hel"}, {"text": "lo"}]), "claude-sonnet-4-5"))
    Message.model_validate(out)
    assert out["id"] == "msg_resp1" and out["model"] == "claude-sonnet-4-5"
    assert out["content"] == [{"type": "text", "text": "Hello"}]
    assert out["stop_reason"] == "end_turn"
    # promptTokenCount includes the cached tokens; thoughts are billed as output.
    assert out["usage"] == {"input_tokens": 60, "cache_read_input_tokens": 40,
                            "cache_creation_input_tokens": 0, "output_tokens": 12}


@pytest.mark.parametrize(("finish", "stop"), [
    ("STOP", "end_turn"), ("MAX_TOKENS", "max_tokens"), ("SAFETY", "refusal"), ("RECITATION", "refusal"),
    ("BLOCKLIST", "refusal"), ("PROHIBITED_CONTENT", "refusal"), ("SPII", "refusal"), ("IMAGE_SAFETY", "refusal"),
    ("OTHER", "end_turn"), ("MALFORMED_FUNCTION_CALL", "end_turn"),
])
def test_every_finish_reason(finish: str, stop: str) -> None:
    assert orjson.loads(BRIDGE.answer(gemini_answer([{"text": "x"}], finish), "m"))["stop_reason"] == stop


def test_a_blocked_prompt_is_a_refusal() -> None:
    raw = orjson.dumps({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 9}})
    out = orjson.loads(BRIDGE.answer(raw, "m"))
    Message.model_validate(out)
    assert out["stop_reason"] == "refusal" and out["content"] == [] and out["usage"]["input_tokens"] == 9


def test_function_calls_become_tool_use_with_ids_and_signatures() -> None:
    parts = [{"text": "Planning", "thought": True, "thoughtSignature": SIG_THOUGHT},
             {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": SIG_CALL},
             {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}, "id": "g-2"}}]
    out = orjson.loads(BRIDGE.answer(gemini_answer(parts), "m"))
    Message.model_validate(out)
    assert out["stop_reason"] == "tool_use"
    kinds = [(b["type"], b.get("signature")) for b in out["content"]]
    assert kinds == [("thinking", SIGNATURE_PREFIX + SIG_THOUGHT), ("thinking", SIGNATURE_PREFIX + SIG_CALL),
                     ("tool_use", None), ("tool_use", None)]
    made, given = out["content"][2], out["content"][3]
    assert made["id"].startswith("toolu_") and made["input"] == {"city": "Paris"}
    assert given["id"] == "g-2"


def test_thought_signatures_come_back_on_their_parts_next_turn() -> None:
    parts = [{"text": "Planning", "thought": True, "thoughtSignature": SIG_THOUGHT},
             {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": SIG_CALL}]
    first = orjson.loads(BRIDGE.answer(gemini_answer(parts), "m"))
    call_id = first["content"][-1]["id"]
    final = orjson.loads(BRIDGE.answer(gemini_answer([{"text": "Sunny."}, {"text": "", "thoughtSignature": SIG_TEXT}]),
                                       "m"))
    assert final["content"] == [{"type": "text", "text": "Sunny."},
                                {"type": "thinking", "thinking": "", "signature": SIGNATURE_PREFIX + SIG_TEXT}]
    b = body(tools=[TOOL], messages=[
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "mine", "signature": "RXJhbnRob3BpYw=="},
                                          {"type": "redacted_thinking", "data": "xyz"}, {"type": "text", "text": "Hm."}]},
        {"role": "user", "content": "Go"},
        {"role": "assistant", "content": first["content"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": "sun"}]},
        {"role": "assistant", "content": final["content"]},
        {"role": "user", "content": "Thanks"},
    ])
    contents = request(b, OPTS).body["contents"]
    # Another vendor's thinking blocks are dropped.
    assert contents[1] == {"role": "model", "parts": [{"text": "Hm."}]}
    assert contents[3]["parts"] == [
        {"text": "Planning", "thought": True, "thoughtSignature": SIG_THOUGHT},
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": SIG_CALL}]
    assert contents[5]["parts"] == [{"text": "Sunny."}, {"text": "", "thoughtSignature": SIG_TEXT}]
    valid_gemini(request(b, OPTS).body)


def test_errors_keep_their_status_in_anthropic_shape() -> None:
    raw = orjson.dumps({"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}})
    assert orjson.loads(BRIDGE.error(429, raw)) == {
        "type": "error", "error": {"type": "rate_limit_error", "message": "RESOURCE_EXHAUSTED: Quota exceeded"}}
    assert orjson.loads(BRIDGE.error(503, b"upstream down"))["error"] == {"type": "overloaded_error",
                                                                         "message": "upstream down"}
    assert orjson.loads(BRIDGE.answer(b"not json", "m"))["type"] == "error"


# -- stream --------------------------------------------------------------------------------------

def sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\r\n\r\n"  # Google separates events with CRLF


def usage(prompt: int, out: int, thoughts: int = 0, cached: int = 0) -> dict[str, int]:
    return {"promptTokenCount": prompt, "candidatesTokenCount": out, "thoughtsTokenCount": thoughts,
            "cachedContentTokenCount": cached, "totalTokenCount": prompt + out + thoughts}


def chunk(parts: list[dict[str, Any]], meta: dict[str, int], finish: str | None = None) -> bytes:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return sse({"candidates": [candidate], "usageMetadata": meta, "modelVersion": "gemini-2.5-pro",
                "responseId": "r-1"})


RECORDED = b"".join([
    chunk([{"text": "The user wants ", "thought": True}], usage(120, 0, 8, 100)),
    chunk([{"text": "the weather. ✓", "thought": True, "thoughtSignature": SIG_THOUGHT}], usage(120, 0, 21, 100)),
    chunk([{"text": "Let me check é"}], usage(120, 4, 21, 100)),
    chunk([{"text": " the sky."}], usage(120, 8, 21, 100)),
    chunk([{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": SIG_CALL}],
          usage(120, 20, 21, 100), "STOP"),
])


def run(raw: bytes, pieces: list[bytes] | None = None) -> tuple[bytes, Any]:
    translator = BRIDGE.stream("claude-sonnet-4-5")
    out = b"".join(translator.feed(p) for p in (pieces if pieces is not None else [raw]))
    return out + translator.end(), translator


def accumulate(raw: bytes) -> Any:
    snapshot, bufs = None, {}
    for event in SSEParser().feed(raw):
        snapshot = accumulate_event(event=orjson.loads(event.data), current_snapshot=snapshot, json_bufs=bufs)
    return snapshot


@pytest.fixture
def fixed_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(anthropic_events, "tool_use_id", lambda: "toolu_fixed")


def test_a_recorded_stream_is_a_proper_anthropic_stream(fixed_ids: None) -> None:
    out, translator = run(RECORDED)
    names = [e.event for e in SSEParser().feed(out)]
    assert names == ["message_start",
                     "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta",
                     "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_stop",
                     "message_delta", "message_stop"]
    message = accumulate(out)
    assert message.id == "msg_r-1" and message.stop_reason == "tool_use"
    assert [b.model_dump(exclude_none=True) for b in message.content] == [
        {"type": "thinking", "thinking": "The user wants the weather. ✓", "signature": SIGNATURE_PREFIX + SIG_THOUGHT},
        {"type": "text", "text": "Let me check é the sky."},
        {"type": "thinking", "thinking": "", "signature": SIGNATURE_PREFIX + SIG_CALL},
        {"type": "tool_use", "id": "toolu_fixed", "name": "get_weather", "input": {"city": "Paris"}}]
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens, message.usage.output_tokens) == (20, 100, 41)
    tap = anthropic.StreamUsage()
    tap.feed(out)
    assert (tap.usage.input_tokens, tap.usage.cache_read_tokens, tap.usage.output_tokens) == (20, 100, 41)
    assert tap.complete
    assert (translator.usage.input_tokens, translator.usage.output_tokens) == (20, 41)
    # The streamed turn, sent back, restores both signatures on their parts.
    blocks = [b.model_dump(exclude_none=True) for b in message.content]
    back = request(body(tools=[TOOL], messages=[{"role": "user", "content": "?"},
                                                {"role": "assistant", "content": blocks}]), OPTS).body
    assert back["contents"][1]["parts"] == [
        {"text": "The user wants the weather. ✓", "thought": True, "thoughtSignature": SIG_THOUGHT},
        {"text": "Let me check é the sky."},
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": SIG_CALL}]


def test_the_stream_gives_the_same_events_at_every_split(fixed_ids: None) -> None:
    whole, _ = run(RECORDED)
    assert run(RECORDED, [RECORDED[i:i + 1] for i in range(len(RECORDED))])[0] == whole
    for i in range(len(RECORDED)):
        assert run(RECORDED, [RECORDED[:i], RECORDED[i:]])[0] == whole, i


def test_events_are_relayed_as_chunks_arrive() -> None:
    translator = BRIDGE.stream("m")
    first = translator.feed(chunk([{"text": "Hi"}], usage(5, 1)))
    assert b"message_start" in first and b'"text_delta"' in first
    last = translator.feed(chunk([{"text": "!"}], usage(5, 2), "MAX_TOKENS"))
    assert b"content_block_stop" in last and b"message_delta" not in last
    events = [(e.event, orjson.loads(e.data)) for e in SSEParser().feed(translator.end())]
    assert events[0][1]["delta"]["stop_reason"] == "max_tokens"
    assert events[0][1]["usage"]["output_tokens"] == 2 and events[1][0] == "message_stop"


def test_an_error_mid_stream_and_a_cut_stream() -> None:
    translator = BRIDGE.stream("m")
    out = translator.feed(chunk([{"text": "par"}], usage(5, 1)))
    out += translator.feed(sse({"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}))
    out += translator.feed(chunk([{"text": "more"}], usage(5, 2), "STOP")) + translator.end()
    events = [(e.event, orjson.loads(e.data)) for e in SSEParser().feed(out)]
    assert events[-1] == ("error", {"type": "error", "error": {"type": "overloaded_error",
                                                               "message": "UNAVAILABLE: overloaded"}})
    assert b"more" not in out
    cut = BRIDGE.stream("m")
    cut.feed(chunk([{"text": "par"}], usage(5, 1)))
    assert [e.event for e in SSEParser().feed(cut.end())] == ["error"]
    assert [e.event for e in SSEParser().feed(BRIDGE.stream("m").end())] == ["error"]


def test_a_blocked_prompt_in_a_stream_is_a_refusal() -> None:
    out, _ = run(sse({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": usage(7, 0)}))
    message = accumulate(out)
    assert message.stop_reason == "refusal" and message.content == [] and message.usage.input_tokens == 7


# -- fuzz ----------------------------------------------------------------------------------------

def _random_value(rng: random.Random, depth: int = 0) -> Any:
    choices: list[Any] = [None, True, 0, -1, 3.5, "", "x", "toolu_1", "auto", "base64", "object"]
    if depth < 3:
        choices += [[_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))],
                    {k: _random_value(rng, depth + 1) for k in rng.sample(_KEYS, rng.randint(0, 4))}]
    return rng.choice(choices)


_KEYS = ["type", "text", "content", "role", "source", "media_type", "data", "id", "name", "input",
         "tool_use_id", "is_error", "signature", "thinking", "url", "input_schema", "properties", "required"]
_VALID_BLOCKS: list[dict[str, Any]] = [
    {"type": "text", "text": "hello"},
    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}},
    {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
    {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc"}},
    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "ok"}]},
    {"type": "thinking", "thinking": "", "signature": SIGNATURE_PREFIX + SIG_CALL},
    {"type": "thinking", "thinking": "hm", "signature": "RXJhbnRob3BpYw=="},
    {"type": "redacted_thinking", "data": "x"},
]


def _random_block(rng: random.Random, assistant: bool) -> Any:
    block = dict(rng.choice(_VALID_BLOCKS[4:5] + _VALID_BLOCKS[6:] if assistant else _VALID_BLOCKS[:6]))
    if rng.random() < 0.15:  # one field broken, or one more
        block[rng.choice(_KEYS)] = _random_value(rng)
    return block if rng.random() > 0.03 else _random_value(rng)


def _random_body(rng: random.Random) -> dict[str, Any]:
    messages = [{"role": "user" if i % 2 == 0 else "assistant",
                 "content": rng.choice(["hi", [_random_block(rng, i % 2 == 1) for _ in range(rng.randint(1, 4))]])}
                for i in range(rng.randint(1, 5))]
    if rng.random() < 0.05:
        messages[0]["role"] = _random_value(rng)
    b: dict[str, Any] = {"model": "claude", "max_tokens": 100, "messages": messages}
    for key, value in (("system", rng.choice(["be brief", [{"type": "text", "text": "x"}], _random_value(rng)])),
                       ("max_tokens", rng.choice([1, -1, "x", None])),
                       ("tools", [rng.choice([TOOL, TOOL, _random_value(rng)])]),
                       ("tool_choice", rng.choice([{"type": "auto"}, {"type": "tool", "name": "get_weather"},
                                                   _random_value(rng)])),
                       ("thinking", rng.choice([{"type": "enabled", "budget_tokens": 1024}, _random_value(rng)])),
                       ("output_config", rng.choice([{"effort": "low"}, _random_value(rng)])),
                       ("stop_sequences", rng.choice([["END"], _random_value(rng)])),
                       ("stream", rng.choice([True, False, "yes"])), ("temperature", _random_value(rng))):
        if rng.random() < 0.3:
            b[key] = value
    return b


def _random_part(rng: random.Random) -> Any:
    part = rng.choice([{"text": "a"}, {"text": "t", "thought": True}, {"text": "", "thoughtSignature": SIG_TEXT},
                       {"functionCall": {"name": "f", "args": {"a": 1}}}, {"inlineData": {"mimeType": "x"}}])
    if rng.random() < 0.3:
        part = {**part, rng.choice(["text", "thought", "functionCall", "thoughtSignature"]): _random_value(rng)}
    return part if rng.random() > 0.05 else _random_value(rng)


def _random_answer(rng: random.Random) -> dict[str, Any]:
    candidate = {"content": {"parts": [_random_part(rng) for _ in range(rng.randint(0, 3))]},
                 "finishReason": rng.choice([None, "STOP", "MAX_TOKENS", "SAFETY", 7, "NEW_REASON"])}
    out: dict[str, Any] = {"candidates": rng.choice([[candidate], [candidate], [], _random_value(rng)]),
                           "usageMetadata": rng.choice([usage(3, 2), {"promptTokenCount": "x"}, _random_value(rng)])}
    if rng.random() < 0.1:
        out["error"] = rng.choice([{"code": 500, "message": "m"}, {"code": "x"}, _random_value(rng)])
    return out


def test_fuzzed_bodies_only_ever_raise_untranslatable() -> None:
    rng = random.Random(12)
    translated = 0
    for _ in range(400):
        try:
            out = request(_random_body(rng), OPTS)
        except Untranslatable:
            continue
        translated += 1
        orjson.dumps(out.body)
    assert translated > 25  # enough bodies are sound for the fuzz to reach past the first checks


def test_fuzzed_answers_and_streams_always_translate() -> None:
    rng = random.Random(13)
    for _ in range(300):
        element = _random_answer(rng)
        BRIDGE.answer(orjson.dumps(element), "m")
        translator = BRIDGE.stream("m")
        out = translator.feed(sse(element)) + translator.feed(sse(_random_answer(rng))) + translator.end()
        names = [e.event for e in SSEParser().feed(out)]
        # Always a whole Messages stream, or one the client sees broken off by an error.
        assert names[-1] in ("message_stop", "error") and names.count(names[-1]) == 1
        if names[-1] == "message_stop":
            Message.model_validate(accumulate(out).to_dict())


def test_count_request_is_the_whole_generate_request_so_system_and_tools_count() -> None:
    assert isinstance(BRIDGE.count, UpstreamCount) and BRIDGE.count.request is count_request
    body = {"model": "claude-sonnet-4-5", "system": "Be brief.", "tools": [TOOL], "stream": True,
            "messages": [{"role": "user", "content": "Weather in Paris?"}]}
    counted = count_request(body, OPTS)
    assert (counted.path, counted.stream, counted.query) == (wire.GEMINI_COUNT_PATH, False, ())
    generate = request({**body, "stream": False}, OPTS).body
    assert counted.body == {"generateContentRequest": {"model": "models/gemini-3-pro-preview", **generate}}
    inner = counted.body["generateContentRequest"]
    assert inner["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert inner["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
    # google-genai reads it as a GenerateContentRequest's parts.
    genai.Content.model_validate(inner["contents"][0])
    # Refused as /v1/messages refuses it.
    with pytest.raises(Untranslatable):
        count_request({**body, "messages": []}, OPTS)


@pytest.mark.parametrize(("upstream", "client"), [
    (b'{"totalTokens": 31}', {"input_tokens": 31}),
    (b'{"totalTokens": 31, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 31}]}', {"input_tokens": 31}),
    (b"{}", {"input_tokens": 0}),  # protobuf JSON leaves a zero out
])
def test_count_answer(upstream: bytes, client: dict[str, Any]) -> None:
    assert orjson.loads(count_answer_of(upstream)) == client


def test_a_count_answer_that_is_not_one_is_an_error_body() -> None:
    for raw in (b"oops", b"[]", b'{"totalTokens": "many"}'):
        assert orjson.loads(count_answer_of(raw))["type"] == "error"
