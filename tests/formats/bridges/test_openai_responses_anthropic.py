"""OpenAI Responses clients on Anthropic upstreams: request, answer, stream, errors, and round trips."""

from __future__ import annotations

import base64
import random
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pydantic
import pytest
from anthropic.types import message_create_params
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent

from aiproxy.formats import wire
from aiproxy.formats.bridges import anthropic_gemini, anthropic_openai_chat, anthropic_openai_responses
from aiproxy.formats.bridges.base import RequestOptions, Untranslatable
from aiproxy.formats.bridges.compose import compose
from aiproxy.formats.bridges.openai_responses_anthropic import (
    BRIDGE,
    DEFAULT_MAX_TOKENS,
    EFFORT_BUDGETS,
    reply_context,
    request,
)
from aiproxy.formats.bridges.openai_responses_anthropic_answer import (
    THINKING_PREFIX,
    ReplyContext,
    answer,
    decode_thinking,
    encode_thinking,
)
from aiproxy.formats.bridges.openai_responses_anthropic_stream import AnthropicToResponsesStream
from aiproxy.formats.openai_responses import StreamTap
from aiproxy.formats.sse import SSEParser

# --- helpers -----------------------------------------------------------------

_PARAMS = {
    False: pydantic.TypeAdapter(message_create_params.MessageCreateParamsNonStreaming),
    True: pydantic.TypeAdapter(message_create_params.MessageCreateParamsStreaming),
}
_KNOWN_FIELDS = (message_create_params.MessageCreateParamsBase.__optional_keys__
                 | message_create_params.MessageCreateParamsBase.__required_keys__ | {"stream"})
_EVENT = pydantic.TypeAdapter(ResponseStreamEvent)


def _consume(value: Any) -> Any:
    # pydantic validates a TypedDict's Iterable fields lazily: walk them all.
    if isinstance(value, dict):
        return {k: _consume(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or (isinstance(value, Iterable) and not isinstance(value, (str, bytes))):
        return [_consume(v) for v in value]
    return value


def translate(body: dict[str, Any], model: str = "claude-sonnet-4-5") -> dict[str, Any]:
    """The Messages body for `body`, checked against the anthropic SDK's own request types."""
    translated = request({"model": "gpt-5-codex", **body}, RequestOptions(model=model))
    assert translated.path == wire.MESSAGES_PATH
    assert translated.body["stream"] is translated.stream
    assert set(translated.body) <= _KNOWN_FIELDS
    _consume(_PARAMS[translated.stream].validate_python(translated.body))
    return translated.body


def user(content: Any) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": content}


def said(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}


def call(call_id: str, name: str = "shell", arguments: str = '{"command":["ls"]}') -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}


def output(call_id: str, out: Any = "ok") -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": out}


SHELL = {"type": "function", "name": "shell", "description": "Runs a command.", "strict": False,
         "parameters": {"type": "object", "properties": {"command": {"type": "array", "items": {"type": "string"}}},
                        "required": ["command"], "additionalProperties": False}}
PATCH = {"type": "custom", "name": "apply_patch", "description": "Edit files with a patch.",
         "format": {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch hunk+ end_patch"}}
THOUGHT = {"type": "thinking", "thinking": "List the files first.", "signature": "EqQBCkYIBxgCKkA="}


def refused(body: dict[str, Any]) -> Untranslatable:
    with pytest.raises(Untranslatable) as caught:
        request({"model": "m", **body}, RequestOptions(model="claude"))
    return caught.value


# --- the request -------------------------------------------------------------------


def test_a_string_input_with_instructions_and_dropped_fields() -> None:
    body = translate({
        "input": "Hi", "instructions": "You are Codex.", "store": False, "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "conv-1", "service_tier": "auto", "truncation": "auto", "temperature": 0.2,
        "top_p": 0.9, "top_logprobs": 3, "metadata": {"k": "v"}, "text": {"verbosity": "low"}, "made_up": 1,
    })
    assert body == {"model": "claude-sonnet-4-5", "max_tokens": DEFAULT_MAX_TOKENS, "system": "You are Codex.",
                    "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}], "stream": False}


def test_developer_and_system_items_join_the_system_prompt_in_order() -> None:
    body = translate({"instructions": "Base.", "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Sandbox: read-only."}]},
        user("one"), {"role": "system", "content": "Be brief."}, said("two"), user([{"type": "input_text", "text": "3"}]),
    ]})
    assert body["system"] == "Base.\n\nSandbox: read-only.\n\nBe brief."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]


def test_images_and_a_pdf() -> None:
    pdf = base64.b64encode(b"%PDF-1.4").decode()
    body = translate({"input": [user([
        {"type": "input_text", "text": "Look"},
        {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"},
        {"type": "input_image", "image_url": "https://example.com/cat.jpg"},
        {"type": "input_file", "filename": "spec.pdf", "file_data": f"data:application/pdf;base64,{pdf}"},
    ])]})
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "Look"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "document", "title": "spec.pdf",
         "source": {"type": "base64", "media_type": "application/pdf", "data": pdf}},
    ]


@pytest.mark.parametrize(("part", "field"), [
    ({"type": "input_image", "file_id": "file-1"}, "input[0].content[0].image_url"),
    ({"type": "input_image", "image_url": "data:image/tiff;base64,AAAA"}, "input[0].content[0].image_url"),
    ({"type": "input_file", "file_id": "file-1"}, "input[0].content[0]"),
    ({"type": "input_file", "file_data": "data:text/csv;base64,YSxi"}, "input[0].content[0]"),
    ({"type": "input_audio", "data": "x"}, "input[0].content[0].type"),
    ({"type": "input_text", "text": 3}, "input[0].content[0].text"),
])
def test_parts_anthropic_cannot_take_are_refused_by_name(part: dict[str, Any], field: str) -> None:
    assert refused({"input": [user([part])]}).field == field


def test_tools_custom_tools_local_shell_and_dropped_web_search() -> None:
    body = translate({"input": "go", "tools": [SHELL, PATCH, {"type": "local_shell"},
                                               {"type": "web_search", "external_web_access": False}],
                      "tool_choice": "auto", "parallel_tool_calls": True})
    shell, patch, local = body["tools"]
    assert shell == {"name": "shell", "description": "Runs a command.", "input_schema": SHELL["parameters"]}
    assert patch["name"] == "apply_patch" and patch["description"] == "Edit files with a patch."
    assert patch["input_schema"]["required"] == ["input"]
    argument = patch["input_schema"]["properties"]["input"]
    assert argument["type"] == "string" and "lark grammar:\nstart: begin_patch hunk+ end_patch" in argument["description"]
    assert local["name"] == "local_shell" and local["input_schema"]["required"] == ["command"]
    assert "tool_choice" not in body


@pytest.mark.parametrize(("choice", "parallel", "expected"), [
    ("required", None, {"type": "any"}),
    ("none", None, {"type": "none"}),
    ({"type": "function", "name": "shell"}, False, {"type": "tool", "name": "shell", "disable_parallel_tool_use": True}),
    ({"type": "custom", "name": "apply_patch"}, None, {"type": "tool", "name": "apply_patch"}),
    (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
])
def test_tool_choice_and_parallel_calls(choice: Any, parallel: Any, expected: dict[str, Any]) -> None:
    body = translate({"input": "go", "tools": [SHELL, PATCH], "tool_choice": choice, "parallel_tool_calls": parallel})
    assert body["tool_choice"] == expected


@pytest.mark.parametrize(("body", "field"), [
    ({"tools": [{"type": "file_search", "vector_store_ids": ["v"]}]}, "tools[0].type"),
    ({"tools": [{"type": "mcp", "server_label": "x"}]}, "tools[0].type"),
    ({"tools": [{"type": "computer_use_preview"}]}, "tools[0].type"),
    ({"tools": [{"type": "function", "name": "f", "parameters": {"type": "array"}}]}, "tools[0].parameters"),
    ({"tools": [{"type": "function"}]}, "tools[0].name"),
    ({"tools": [SHELL, SHELL]}, "tools[1].name"),
    ({"tools": [{**PATCH, "format": {"type": "grammar", "syntax": "regex"}}]}, "tools[0].format.definition"),
    ({"tools": [{**PATCH, "format": {"type": "regex"}}]}, "tools[0].format"),
    ({"tools": [SHELL], "tool_choice": {"type": "function", "name": "nope"}}, "tool_choice.name"),
    ({"tools": [SHELL], "tool_choice": {"type": "allowed_tools", "tools": []}}, "tool_choice"),
    ({"tools": "shell"}, "tools"),
])
def test_bad_or_hosted_tools_are_refused(body: dict[str, Any], field: str) -> None:
    assert refused({"input": "go", **body}).field == field


def test_a_codex_tool_loop_with_parallel_calls_and_custom_tools() -> None:
    body = translate({"tools": [SHELL, PATCH], "input": [
        user("fix it"),
        said("Looking."),
        call("call_a"), call("call_b", arguments='{"command":["cat","x"]}'),
        output("call_a", "a.txt"), output("call_b", [{"type": "input_text", "text": "hello"},
                                                     {"type": "input_image", "image_url": "https://e.com/i.png"}]),
        {"type": "custom_tool_call", "call_id": "call_c", "name": "apply_patch", "input": "*** Begin Patch\n"},
        {"type": "custom_tool_call_output", "call_id": "call_c", "output": "Done!"},
        user("thanks; also"),
        {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "q"}},
        said("Searched."),
        user("ok"),
    ]})
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "fix it"}]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Looking."},
            {"type": "tool_use", "id": "call_a", "name": "shell", "input": {"command": ["ls"]}},
            {"type": "tool_use", "id": "call_b", "name": "shell", "input": {"command": ["cat", "x"]}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_a", "content": "a.txt"},
            {"type": "tool_result", "tool_use_id": "call_b", "content": [
                {"type": "text", "text": "hello"}, {"type": "image", "source": {"type": "url", "url": "https://e.com/i.png"}}]}]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "call_c", "name": "apply_patch", "input": {"input": "*** Begin Patch\n"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_c", "content": "Done!"},
                                     {"type": "text", "text": "thanks; also"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Searched."}]},
        {"role": "user", "content": [{"type": "text", "text": "ok"}]},
    ]


def test_tool_results_come_first_in_their_user_turn() -> None:
    body = translate({"tools": [SHELL], "input": [user("go"), call("c1"), user("(while you run it: hurry)"),
                                                   output("c1", "")]})
    assert body["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "c1"},
                                             {"type": "text", "text": "(while you run it: hurry)"}]


def test_local_shell_calls_and_their_outputs() -> None:
    body = translate({"tools": [{"type": "local_shell"}], "input": [
        user("list"),
        {"type": "local_shell_call", "id": "lsh_1", "call_id": "call_1", "status": "completed",
         "action": {"type": "exec", "command": ["ls", "-la"], "timeout_ms": 1000, "working_directory": "/tmp",
                    "env": {}, "user": None}},
        {"type": "local_shell_call_output", "id": "lsh_1", "output": "total 0"},
    ]})
    assert body["messages"][1:] == [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "local_shell",
                                           "input": {"command": ["ls", "-la"], "workdir": "/tmp", "timeout_ms": 1000}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "total 0"}]},
    ]


@pytest.mark.parametrize(("items", "field"), [
    ([user("go"), call("c1")], "input"),  # ends with the assistant's call
    ([user("go"), call("c1"), user("no output")], "input[1]"),
    ([user("go"), output("c9")], "input[1]"),
    ([user("go"), call("c1"), call("c1"), output("c1")], "input[2].call_id"),
    ([user("go"), call("c1"), output("c1"), output("c1")], "input[3]"),
    ([user("go"), call("c1", arguments="{cut"), output("c1")], "input[1].arguments"),
    ([user("go"), call("c1", arguments="[1]"), output("c1")], "input[1].arguments"),
    ([said("hello"), user("go")], "input"),
    ([user("go"), said("prefill")], "input"),
    ([{"type": "item_reference", "id": "msg_1"}], "input[0].type"),
    ([{"type": "file_search_call", "id": "fs_1"}], "input[0].type"),
    ([{"role": "tool", "content": "x"}], "input[0].role"),
    ([user(5)], "input[0].content"),
    ([{"type": "message", "role": "assistant", "content": [{"type": "input_image", "image_url": "https://e/i"}]}],
     "input[0].content[0].type"),
    ([], "input"),
    ([{"type": "message", "role": "developer", "content": "only rules"}], "input"),
])
def test_conversations_anthropic_would_refuse_are_refused_by_item(items: list[Any], field: str) -> None:
    assert refused({"input": items, "tools": [SHELL]}).field == field


def test_state_kept_by_openai_is_refused_with_a_message_that_says_why() -> None:
    for name, value in (("previous_response_id", "resp_1"), ("conversation", "conv_1"), ("prompt", {"id": "p"}),
                        ("background", True)):
        error = refused({"input": "hi", name: value})
        assert error.field == name
    assert "no server-side state" in refused({"input": "hi", "previous_response_id": "resp_1"}).message


def test_tool_calls_in_a_request_without_tools_get_stand_ins_the_model_may_not_call() -> None:
    body = translate({"tools": [], "input": [user("go"), call("c1"), output("c1"), call("c2"), output("c2"),
                                             user("summarize")]})
    assert body["tools"] == [{"name": "shell", "description": "A tool called earlier in this conversation; not "
                              "offered now.", "input_schema": {"type": "object"}}]
    assert body["tool_choice"] == {"type": "none"}
    assert "tools" not in translate({"input": "no calls", "tools": []})


def test_reasoning_effort_becomes_a_thinking_budget() -> None:
    for effort, budget in EFFORT_BUDGETS.items():
        body = translate({"input": "think", "reasoning": {"effort": effort, "summary": "auto"}})
        assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
        assert body["max_tokens"] == min(DEFAULT_MAX_TOKENS + budget, 32000) > budget
    assert "thinking" not in translate({"input": "x", "reasoning": {"effort": "none"}})
    assert "thinking" not in translate({"input": "x", "reasoning": None})
    # A client limit counts reasoning too: the budget takes at most half of it.
    limited = translate({"input": "x", "reasoning": {"effort": "high"}, "max_output_tokens": 10000})
    assert (limited["max_tokens"], limited["thinking"]["budget_tokens"]) == (10000, 5000)
    assert "thinking" not in translate({"input": "x", "reasoning": {"effort": "high"}, "max_output_tokens": 2000})
    assert refused({"input": "x", "reasoning": {"effort": "max"}}).field == "reasoning.effort"


def test_thinking_is_left_off_where_anthropic_would_refuse_it() -> None:
    for model in ("claude-3-5-haiku-latest", "us.anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-opus-20240229"):
        assert "thinking" not in translate({"input": "x", "reasoning": {"effort": "low"}}, model=model)
    for model in ("claude-3-7-sonnet-latest", "claude-opus-4-1", "anthropic.claude-sonnet-4-5-20250929-v1:0"):
        assert "thinking" in translate({"input": "x", "reasoning": {"effort": "low"}}, model=model)
    forced = translate({"input": "x", "tools": [SHELL], "tool_choice": "required", "reasoning": {"effort": "low"}})
    assert "thinking" not in forced
    loop = [user("go"), call("c1"), output("c1")]
    lost = translate({"input": loop, "tools": [SHELL], "reasoning": {"effort": "low"}})
    assert "thinking" not in lost
    reasoning = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": encode_thinking(THOUGHT)}
    kept = translate({"input": [user("go"), reasoning, call("c1"), output("c1")], "tools": [SHELL],
                      "reasoning": {"effort": "low"}})
    assert kept["thinking"]["type"] == "enabled"
    assert kept["messages"][1]["content"][0] == THOUGHT


def test_reasoning_items_gateway_made_restored_foreign_dropped() -> None:
    redacted = {"type": "redacted_thinking", "data": "EmwKAhgB"}
    body = translate({"tools": [SHELL], "input": [
        user("go"),
        {"type": "reasoning", "id": "rs_0", "summary": [{"type": "summary_text", "text": "x"}],
         "encrypted_content": "gAAAAABo-openai-opaque"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": encode_thinking(THOUGHT)},
        {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": encode_thinking(redacted)},
        {"type": "reasoning", "id": "rs_3", "summary": [], "encrypted_content": THINKING_PREFIX + "not base64!"},
        call("c1"), output("c1"),
        {"type": "reasoning", "id": "rs_4", "summary": [], "encrypted_content": encode_thinking(THOUGHT)},
        user("thinking alone is no turn"),
    ]})
    assert body["messages"][1]["content"] == [THOUGHT, redacted,
                                             {"type": "tool_use", "id": "c1", "name": "shell",
                                              "input": {"command": ["ls"]}}]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert decode_thinking("gAAAAA") is None and decode_thinking(None) is None


def test_structured_output_end_user_stream_and_limit() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    body = translate({"input": "x", "stream": True, "max_output_tokens": 300, "safety_identifier": "user-1",
                      "user": "ignored", "text": {"format": {"type": "json_schema", "name": "o", "schema": schema,
                                                             "strict": True}}})
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert body["metadata"] == {"user_id": "user-1"} and body["stream"] is True and body["max_tokens"] == 300
    assert len(translate({"input": "x", "user": "u" * 300})["metadata"]["user_id"]) == 64
    assert "output_config" not in translate({"input": "x", "text": {"format": {"type": "text"}}})
    assert refused({"input": "x", "text": {"format": {"type": "json_object"}}}).field == "text.format"
    assert refused({"input": "x", "max_output_tokens": 0}).field == "max_output_tokens"


def test_reply_context_reads_custom_tools_local_shell_searches_namespaces_and_summaries() -> None:
    context = reply_context({"tools": [SHELL, PATCH, {"type": "local_shell"}, SEARCH, AGENTS],
                             "reasoning": {"effort": "low", "summary": "auto"},
                             "input": [user("x"), {"type": "tool_search_output", "call_id": "s", "tools": [NOTES]}]})
    assert context == ReplyContext(
        custom_tools=frozenset({"apply_patch", "notes__jot"}), local_shell=True, tool_search=True, summary=True,
        namespaced={"multi_agent_v1__spawn_agent": ("multi_agent_v1", "spawn_agent"), "notes__jot": ("notes", "jot")})
    # A body the request refuses needs no context: the plain one, never an error.
    assert reply_context({"tools": [3], "reasoning": {"summary": "auto"}}) == ReplyContext(summary=True)
    assert reply_context({"tools": "x", "reasoning": "y"}) == ReplyContext()
    assert reply_context([]) == ReplyContext()


SEARCH = {"type": "tool_search", "execution": "client", "description": "Finds more tools.",
          "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "number"}},
                         "required": ["query"], "additionalProperties": False}}
AGENTS = {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents.", "tools": [
    {"type": "function", "name": "spawn_agent", "description": "Starts one.", "strict": False,
     "parameters": {"type": "object", "properties": {"task": {"type": "string"}}}}]}
NOTES = {"type": "namespace", "name": "notes", "description": "Notes.", "tools": [
    {"type": "custom", "name": "jot", "description": "Writes a note."}]}


def test_namespaces_and_a_client_run_tool_search_with_the_tools_it_loaded() -> None:
    body = translate({"tools": [SHELL, SEARCH, AGENTS], "input": [
        user("take notes"),
        {"type": "tool_search_call", "id": "tsc_1", "call_id": "s1", "execution": "client", "status": "completed",
         "arguments": {"query": "notes", "limit": 1}},
        {"type": "tool_search_output", "id": "tso_1", "call_id": "s1", "execution": "client", "status": "completed",
         "tools": [NOTES, AGENTS]},
        {"type": "custom_tool_call", "call_id": "c1", "namespace": "notes", "name": "jot", "input": "buy milk"},
        {"type": "custom_tool_call_output", "call_id": "c1", "output": "saved"},
        {"type": "function_call", "call_id": "c2", "namespace": "multi_agent_v1", "name": "spawn_agent",
         "arguments": '{"task": "t"}'},
        output("c2", "spawned"),
    ]})
    assert [t["name"] for t in body["tools"]] == ["shell", "tool_search", "multi_agent_v1__spawn_agent", "notes__jot"]
    search, spawn, jot = body["tools"][1:]
    assert search["input_schema"] == SEARCH["parameters"] and search["description"] == "Finds more tools."
    assert spawn["description"] == "Sub-agents.\n\nStarts one." and jot["input_schema"]["required"] == ["input"]
    assert body["messages"][1:5] == [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "s1", "name": "tool_search",
                                           "input": {"query": "notes", "limit": 1}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "s1",
                                      "content": "Tools now available: notes__jot, multi_agent_v1__spawn_agent."}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "c1", "name": "notes__jot",
                                           "input": {"input": "buy milk"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c1", "content": "saved"}]},
    ]
    assert body["messages"][5]["content"][0]["name"] == "multi_agent_v1__spawn_agent"
    chosen = translate({"input": "x", "tools": [AGENTS], "tool_choice": {
        "type": "function", "namespace": "multi_agent_v1", "name": "spawn_agent"}})
    assert chosen["tool_choice"] == {"type": "tool", "name": "multi_agent_v1__spawn_agent"}
    for bad, field in (({"execution": "server"}, "input[1].execution"), ({"arguments": "q"}, "input[1].arguments")):
        search_call = {"type": "tool_search_call", "call_id": "s1", "execution": "client", "arguments": {}, **bad}
        assert refused({"tools": [SEARCH], "input": [user("x"), search_call,
                                                     {"type": "tool_search_output", "call_id": "s1", "tools": []}]
                        }).field == field
    assert refused({"input": "x", "tools": [{**SEARCH, "execution": "server"}]}).field == "tools[0].type"
    assert refused({"input": "x", "tools": [{**AGENTS, "tools": [{"type": "local_shell"}]}]}).field == \
        "tools[0].tools[0].type"


def test_namespaced_and_tool_search_calls_come_back_as_codex_reads_them() -> None:
    context = reply_context({"tools": [SEARCH, AGENTS, NOTES]})
    got = response(message([
        {"type": "tool_use", "id": "t1", "name": "tool_search", "input": {"query": "calendar", "limit": 1}},
        {"type": "tool_use", "id": "t2", "name": "multi_agent_v1__spawn_agent", "input": {"task": "x"}},
        {"type": "tool_use", "id": "t3", "name": "notes__jot", "input": {"input": "milk"}}], "tool_use"), context)
    search, spawn, jot = got.output
    assert (search.type, search.call_id, search.execution, search.arguments) == (  # type: ignore[union-attr]
        "tool_search_call", "t1", "client", {"query": "calendar", "limit": 1})
    assert (spawn.type, spawn.namespace, spawn.name) == ("function_call", "multi_agent_v1", "spawn_agent")  # type: ignore[union-attr]
    assert (jot.type, jot.namespace, jot.name, jot.input) == ("custom_tool_call", "notes", "jot", "milk")  # type: ignore[union-attr]
    raw = sse(MESSAGE_START, start(0, {"type": "tool_use", "id": "t1", "name": "tool_search", "input": {}}),
              delta(0, type="input_json_delta", partial_json='{"query": "cal'),
              delta(0, type="input_json_delta", partial_json='endar"}'), stop(0),
              start(1, {"type": "tool_use", "id": "t2", "name": "multi_agent_v1__spawn_agent", "input": {}}),
              delta(1, type="input_json_delta", partial_json='{"task": "x"}'), stop(1), *finish("tool_use"))
    final, _ = accumulate(run(raw, context)[0])
    search, spawn = final.output
    assert (search.type, search.arguments) == ("tool_search_call", {"query": "calendar"})  # type: ignore[union-attr]
    assert (spawn.namespace, spawn.name, spawn.arguments) == ("multi_agent_v1", "spawn_agent", '{"task": "x"}')  # type: ignore[union-attr]


# --- what Codex CLI really sends ---------------------------------------------------------

FIXTURES = Path(__file__).parents[2] / "fixtures"


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("codex_responses_*.json")))
def test_every_captured_codex_request_translates(name: str) -> None:
    captured = orjson.loads((FIXTURES / name).read_bytes())["body"]
    body = translate(captured)
    assert body["stream"] is True and body["system"].startswith(captured["input"][0]["content"][0]["text"])
    assert body["messages"][0]["role"] == "user" and body["messages"][-1]["role"] == "user"
    offered = {t["name"] for t in body["tools"]} if "tools" in body else set()
    kinds = {t["type"] for t in captured["tools"]}
    assert ("apply_patch" in offered) == ("custom" in kinds)
    assert ("tool_search" in offered) == ("tool_search" in kinds)
    if "namespace" in kinds:
        assert "multi_agent_v1__spawn_agent" in offered
    # OpenAI's own reasoning items (the fakes') never reach Anthropic; effort asks for thinking, but
    # not in a tool loop whose thinking was OpenAI's (dropped).
    assert "ZmFrZS1lbmNyeXB0ZWQtcmVhc29uaW5n" not in orjson.dumps(body).decode()
    looping = any(block["type"] == "tool_result" for block in body["messages"][-1]["content"])
    assert ("thinking" in body) == (captured["reasoning"].get("effort") is not None and not looping)
    context = reply_context(captured)
    assert context.summary == ("summary" in captured["reasoning"])
    assert ("apply_patch" in context.custom_tools) == ("custom" in kinds)
    for pair in (anthropic_openai_chat, anthropic_openai_responses, anthropic_gemini):
        pair.request(body, RequestOptions(model="gemini-2.5-pro" if pair is anthropic_gemini else "gpt-5"))


def test_a_captured_codex_tool_loop_answered_by_claude_round_trips() -> None:
    captured = orjson.loads((FIXTURES / "codex_responses_custom_tool_result.json").read_bytes())["body"]
    body = translate(captured)
    assert body["messages"][-2]["content"] == [{"type": "tool_use", "id": "call_fake", "name": "apply_patch",
                                                "input": {"input": captured["input"][-2]["input"]}}]
    assert body["messages"][-1]["content"][0]["tool_use_id"] == "call_fake"
    # The fakes' reasoning was OpenAI's: dropped, so this tool loop has lost its thinking and asks for none.
    assert "thinking" not in body


# --- the request composed with the Anthropic-client pairs ----------------------------

CODEX_LOOP = {
    "instructions": "You are Codex.", "tools": [SHELL, PATCH], "tool_choice": "auto", "parallel_tool_calls": True,
    "reasoning": {"effort": "medium", "summary": "auto"}, "store": False, "stream": True,
    "input": [user("fix it"),
              {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": encode_thinking(THOUGHT)},
              call("call_a"), output("call_a", "a.txt"),
              {"type": "custom_tool_call", "call_id": "call_c", "name": "apply_patch", "input": "*** Begin Patch"},
              {"type": "custom_tool_call_output", "call_id": "call_c", "output": "Done!"}],
}


@pytest.mark.parametrize("pair", [anthropic_openai_chat, anthropic_openai_responses, anthropic_gemini])
def test_the_translated_body_is_accepted_by_every_anthropic_client_pair(pair: Any) -> None:
    messages = translate(CODEX_LOOP)
    composed = pair.request(messages, RequestOptions(model="gpt-5" if pair is not anthropic_gemini else "gemini-2.5-pro"))
    assert composed.stream is True
    text = orjson.dumps(composed.body).decode()
    assert "call_a" in text or pair is anthropic_gemini  # Gemini pairs calls by name and order
    assert "Begin Patch" in text and "a.txt" in text and THOUGHT["signature"] not in text


# --- the whole answer ------------------------------------------------------------------


def message(content: list[dict[str, Any]], stop: str | None = "end_turn", **usage: int) -> bytes:
    return orjson.dumps({"id": "msg_01abc", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                         "content": content, "stop_reason": stop, "stop_sequence": None,
                         "usage": {"input_tokens": 5, "output_tokens": 42, "cache_creation_input_tokens": 15,
                                   "cache_read_input_tokens": 100, **usage}})


def response(body: bytes, context: ReplyContext | None = None) -> Response:
    return Response.model_validate(orjson.loads(answer(body, "gpt-5-codex", context)))


def test_answer_with_thinking_text_calls_and_exact_usage() -> None:
    got = response(message([
        THOUGHT, {"type": "text", "text": "Let me "}, {"type": "text", "text": "look."},
        {"type": "tool_use", "id": "toolu_1", "name": "shell", "input": {"command": ["ls"]}},
        {"type": "tool_use", "id": "toolu_2", "name": "apply_patch", "input": {"input": "*** Begin Patch"}},
        {"type": "tool_use", "id": "toolu_3", "name": "local_shell", "input": {"command": ["pwd"], "workdir": "/w"}},
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
    ], "tool_use"), ReplyContext(custom_tools=frozenset({"apply_patch"}), local_shell=True, summary=True))
    assert (got.id, got.object, got.model, got.status, got.incomplete_details) == (
        "resp_01abc", "response", "gpt-5-codex", "completed", None)
    reasoning, text, shell, patch, local = got.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "List the files first."
    assert decode_thinking(reasoning.encrypted_content) == THOUGHT
    assert text.type == "message" and [p.text for p in text.content] == ["Let me ", "look."]  # type: ignore[union-attr]
    assert (shell.type, shell.call_id, shell.name, orjson.loads(shell.arguments)) == (  # type: ignore[union-attr]
        "function_call", "toolu_1", "shell", {"command": ["ls"]})
    assert (patch.type, patch.call_id, patch.input) == ("custom_tool_call", "toolu_2", "*** Begin Patch")  # type: ignore[union-attr]
    assert (local.type, local.call_id, local.action.command, local.action.working_directory) == (  # type: ignore[union-attr]
        "local_shell_call", "toolu_3", ["pwd"], "/w")
    assert len({item.id for item in got.output}) == 5
    assert got.usage is not None
    usage = got.usage.model_dump()
    assert usage == {"input_tokens": 120, "input_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 15,
                                                                   "cache_write_tokens_details": None},
                     "output_tokens": 42, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 162}


def test_without_a_context_every_call_is_a_function_call_and_no_summary_is_shown() -> None:
    got = response(message([THOUGHT, {"type": "tool_use", "id": "t", "name": "apply_patch", "input": {"input": "x"}}]))
    assert got.output[0].summary == [] and got.output[1].type == "function_call"  # type: ignore[union-attr]


@pytest.mark.parametrize(("stop", "status", "reason"), [
    ("end_turn", "completed", None), ("stop_sequence", "completed", None), ("tool_use", "completed", None),
    ("pause_turn", "completed", None), (None, "completed", None),
    ("max_tokens", "incomplete", "max_output_tokens"),
    ("model_context_window_exceeded", "incomplete", "max_output_tokens"),
    ("refusal", "incomplete", "content_filter"),
])
def test_every_stop_reason(stop: str | None, status: str, reason: str | None) -> None:
    got = response(message([{"type": "text", "text": "x"}], stop))
    assert got.status == status
    assert (got.incomplete_details.reason if got.incomplete_details else None) == reason


def test_an_odd_answer_still_makes_a_valid_response_and_a_non_message_is_refused() -> None:
    got = response(orjson.dumps({"id": None, "content": [3, {"type": "text", "text": ""},
                                                         {"type": "tool_use", "input": "x"}]}))
    assert got.id.startswith("resp_") and [item.type for item in got.output] == ["function_call"]
    with pytest.raises(ValueError):
        answer(b"[]", "m")


def test_errors_come_back_in_openai_shape_with_the_same_status() -> None:
    body = orjson.loads(BRIDGE.error(529, orjson.dumps({"type": "error", "error": {
        "type": "overloaded_error", "message": "Overloaded"}})))
    assert body["error"]["message"] == "Overloaded" and body["error"]["type"] == "server_error"
    assert orjson.loads(BRIDGE.error(429, b"not json"))["error"]["message"] == "the upstream answered 429"
    assert orjson.loads(BRIDGE.error(400, b'{"type":"error","error":{"type":"invalid_request_error",'
                                          b'"message":"max_tokens: too large"}}'))["error"]["type"] == \
        "invalid_request_error"


# --- the stream --------------------------------------------------------------------------


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events)


def start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, **d: Any) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": d}


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


MESSAGE_START = {"type": "message_start", "message": {
    "id": "msg_01XYZ", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [],
    "stop_reason": None, "stop_sequence": None,
    "usage": {"input_tokens": 20, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 100,
              "output_tokens": 1}}}


def finish(reason: str, output_tokens: int = 42) -> list[dict[str, Any]]:
    return [{"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": None},
             "usage": {"output_tokens": output_tokens, "cache_creation_input_tokens": 7,
                       "input_tokens": None}},
            {"type": "message_stop"}]


RECORDED = sse(
    MESSAGE_START, {"type": "ping"},
    start(0, {"type": "thinking", "thinking": "", "signature": ""}),
    delta(0, type="thinking_delta", thinking="List the "), delta(0, type="thinking_delta", thinking="files first."),
    delta(0, type="signature_delta", signature="EqQBCkYIBxgCKkA="), stop(0),
    start(1, {"type": "text", "text": ""}), delta(1, type="text_delta", text="Let me "),
    delta(1, type="text_delta", text="look ✓."), stop(1),
    start(2, {"type": "text", "text": ""}), delta(2, type="citations_delta", citation={}),
    delta(2, type="text_delta", text=" Now."), stop(2),
    start(3, {"type": "tool_use", "id": "toolu_1", "name": "shell", "input": {}}),
    delta(3, type="input_json_delta", partial_json=""), delta(3, type="input_json_delta", partial_json='{"comm'),
    delta(3, type="input_json_delta", partial_json='and": ["ls"]}'), stop(3),
    start(4, {"type": "tool_use", "id": "toolu_2", "name": "apply_patch", "input": {}}),
    delta(4, type="input_json_delta", partial_json='{"input": "*** Begin'),
    delta(4, type="input_json_delta", partial_json=' Patch\\n"}'), stop(4),
    start(5, {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}),
    delta(5, type="input_json_delta", partial_json="{}"), stop(5),
    start(6, {"type": "tool_use", "id": "toolu_3", "name": "noargs", "input": {}}), stop(6),
    *finish("tool_use"),
)
CODEX = ReplyContext(custom_tools=frozenset({"apply_patch"}), summary=True)


def run(raw: bytes, context: ReplyContext | None = CODEX,
        pieces: Iterator[bytes] | None = None) -> tuple[bytes, AnthropicToResponsesStream]:
    translator = AnthropicToResponsesStream("gpt-5-codex", context)
    out = b"".join(translator.feed(p) for p in (pieces if pieces is not None else [raw]))
    return out + translator.end(), translator


def events(raw: bytes) -> list[dict[str, Any]]:
    seen = []
    for event in SSEParser().feed(raw):
        data = orjson.loads(event.data)
        assert event.event == data["type"]
        seen.append(data)
    return seen


def accumulate(raw: bytes) -> tuple[Response, list[str]]:
    """The translated stream through the openai SDK's own accumulator (strict about order and identities)."""
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    final = None
    kinds = []
    for data in events(raw):
        event = _EVENT.validate_python(data)
        kinds.append(event.type)
        for handled in state.handle_event(event):
            if handled.type in ("response.completed", "response.incomplete", "response.failed"):
                final = handled.response
    assert final is not None
    return Response.model_validate(final.model_dump()), kinds


def test_recorded_stream_makes_the_response_the_sdk_and_codex_expect() -> None:
    out, translator = run(RECORDED)
    seen = events(out)
    assert [e["sequence_number"] for e in seen] == list(range(len(seen)))
    assert {e["response"]["id"] for e in seen if "response" in e} == {"resp_01XYZ"}
    final, kinds = accumulate(out)
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert kinds.count("response.output_item.added") == kinds.count("response.output_item.done") == 5
    # The SDK needs each part announced before its deltas.
    assert kinds.index("response.content_part.added") < kinds.index("response.output_text.delta")
    reasoning, text, shell, patch, noargs = final.output
    assert reasoning.summary[0].text == "List the files first."  # type: ignore[union-attr]
    assert decode_thinking(reasoning.encrypted_content) == THOUGHT  # type: ignore[union-attr]
    assert [p.text for p in text.content] == ["Let me look ✓.", " Now."]  # type: ignore[union-attr]
    assert (shell.type, orjson.loads(shell.arguments)) == ("function_call", {"command": ["ls"]})  # type: ignore[union-attr]
    assert (patch.type, patch.input) == ("custom_tool_call", "*** Begin Patch\n")  # type: ignore[union-attr]
    assert (noargs.type, noargs.arguments) == ("function_call", "{}")  # type: ignore[union-attr]
    # Codex acts on each output_item.done's whole item: the same items as the final response.
    done = [e["item"] for e in seen if e["type"] == "response.output_item.done"]
    assert done == seen[-1]["response"]["output"]
    # A custom tool's input streams as text, decoded out of its JSON fragments.
    custom = [e for e in seen if e["type"].startswith("response.custom_tool_call_input")]
    assert [(e["type"].rsplit(".", 1)[1], e.get("delta")) for e in custom] == [
        ("delta", "*** Begin"), ("delta", " Patch\n"), ("done", None)]
    assert custom[-1]["input"] == "*** Begin Patch\n"
    assert final.usage is not None and (final.usage.input_tokens, final.usage.input_tokens_details.cached_tokens,
                                        final.usage.input_tokens_details.cache_write_tokens,
                                        final.usage.output_tokens) == (127, 100, 7, 42)
    assert (translator.usage.input_tokens, translator.usage.cache_read_tokens, translator.usage.cache_creation_tokens,
            translator.usage.output_tokens) == (20, 100, 7, 42)
    tap = StreamTap()  # the route's usage tap reads the translated stream
    tap.feed(out)
    assert tap.complete and tap.error is None and tap.usage.output_tokens == 42


def _stable(raw: bytes) -> list[dict[str, Any]]:
    seen = events(raw)
    for event in seen:
        if "response" in event:
            event["response"]["created_at"] = 0
    return seen


def test_stream_fed_byte_by_byte_and_at_every_split_gives_the_same_events() -> None:
    whole = _stable(run(RECORDED)[0])
    assert _stable(run(RECORDED, pieces=(RECORDED[i:i + 1] for i in range(len(RECORDED))))[0]) == whole
    for i in range(len(RECORDED)):
        assert _stable(run(RECORDED, pieces=iter([RECORDED[:i], RECORDED[i:]]))[0]) == whole, i


@pytest.mark.parametrize("arguments", [
    {"input": "*** Begin Patch\n*** Update File: \"a b\".py\n+é ✓ 😀 \\ \t end"},
    {"input": ""},
    {"other": 1, "input": "late"},  # not the shape followed as it comes: sent whole at the end
])
def test_a_custom_tool_input_streams_as_decoded_text_at_every_split(arguments: dict[str, Any]) -> None:
    encoded = orjson.dumps(arguments).decode().replace("😀", "\\ud83d\\ude00").replace("é", "\\u00e9")
    encoded = encoded.replace('{"input":', '{ "input" : ')
    assert orjson.loads(encoded) == arguments
    for i in range(len(encoded)):
        for j in range(i, len(encoded), 5):
            fragments = [encoded[:i], encoded[i:j], encoded[j:]]
            raw = sse(MESSAGE_START, start(0, {"type": "tool_use", "id": "t", "name": "apply_patch", "input": {}}),
                      *(delta(0, type="input_json_delta", partial_json=f) for f in fragments), stop(0),
                      *finish("tool_use"))
            seen = events(run(raw)[0])
            deltas = "".join(e["delta"] for e in seen if e["type"] == "response.custom_tool_call_input.delta")
            assert deltas == arguments["input"], (i, j)
            assert seen[-1]["response"]["output"][0]["input"] == arguments["input"]


def test_without_summaries_thinking_only_rides_the_encrypted_content() -> None:
    out, _ = run(RECORDED, ReplyContext())
    kinds = [e["type"] for e in events(out)]
    assert not any(kind.startswith("response.reasoning_summary") for kind in kinds)
    final, _ = accumulate(out)
    assert final.output[0].summary == [] and final.output[3].type == "function_call"  # type: ignore[union-attr]


def test_redacted_thinking_and_a_local_shell_call() -> None:
    raw = sse(MESSAGE_START, start(0, {"type": "redacted_thinking", "data": "EmwKAhgB"}), stop(0),
              start(1, {"type": "tool_use", "id": "toolu_9", "name": "local_shell", "input": {}}),
              delta(1, type="input_json_delta", partial_json='{"command": ["ls"], "timeout_ms": 5}'), stop(1),
              *finish("tool_use"))
    final, _ = accumulate(run(raw, ReplyContext(local_shell=True))[0])
    reasoning, shell = final.output
    assert decode_thinking(reasoning.encrypted_content) == {"type": "redacted_thinking", "data": "EmwKAhgB"}  # type: ignore[union-attr]
    assert (shell.type, shell.action.command, shell.action.timeout_ms) == ("local_shell_call", ["ls"], 5)  # type: ignore[union-attr]


@pytest.mark.parametrize(("reason", "terminal", "why"), [
    ("end_turn", "response.completed", None), ("max_tokens", "response.incomplete", "max_output_tokens"),
    ("refusal", "response.incomplete", "content_filter"),
])
def test_stream_stop_reasons(reason: str, terminal: str, why: str | None) -> None:
    raw = sse(MESSAGE_START, start(0, {"type": "text", "text": ""}), delta(0, type="text_delta", text="Hi"),
              stop(0), *finish(reason))
    out, _ = run(raw)
    last = events(out)[-1]
    assert last["type"] == terminal and last["response"]["status"] == terminal.removeprefix("response.")
    assert (last["response"]["incomplete_details"] or {}).get("reason") == why
    accumulate(out)


def test_mid_stream_error_and_a_cut_stream_become_response_failed() -> None:
    cut = sse(MESSAGE_START, start(0, {"type": "text", "text": ""}), delta(0, type="text_delta", text="Hi"))
    for raw, code in ((cut + sse({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
                       "server_error"),
                      (cut + sse({"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}),
                       "rate_limit_exceeded"),
                      (cut, "server_error"),
                      (b"", "server_error")):
        out, _ = run(raw)
        seen = events(out)
        assert seen[0]["type"] == "response.created" and seen[-1]["type"] == "response.failed"
        assert seen[-1]["response"]["error"]["code"] == code and seen[-1]["response"]["status"] == "failed"
        final, _ = accumulate(out)
        assert final.error is not None
        tap = StreamTap()
        tap.feed(out)
        assert tap.error is not None


def test_nothing_is_read_after_the_end_and_a_last_event_without_its_blank_line_counts() -> None:
    raw = sse(MESSAGE_START, *finish("end_turn"))
    translator = AnthropicToResponsesStream("m")
    out = translator.feed(raw[:-1])  # message_stop's closing blank line still missing
    out += translator.end()
    assert events(out)[-1]["type"] == "response.completed"
    assert translator.feed(sse(MESSAGE_START)) == b"" and translator.end() == b""


def test_fuzzed_streams_never_raise() -> None:
    rng = random.Random(13)
    pieces = [e for e in RECORDED.split(b"\n\n") if e]
    for _ in range(200):
        chosen = [rng.choice(pieces) for _ in range(rng.randint(0, 12))]
        raw = b"\n\n".join(chosen) + b"\n\n"
        if rng.random() < 0.3:
            raw = raw.replace(b'"type"', b'"tipe"', 1)
        out, _ = run(raw, rng.choice([CODEX, ReplyContext(), None]))
        assert events(out)[-1]["type"] in ("response.completed", "response.incomplete", "response.failed")


# --- round trips ----------------------------------------------------------------------------


def test_an_agent_loop_round_trips_through_the_client() -> None:
    """Turn 1's answer items, sent back as Codex sends them, make turn 2's Messages body with the thinking kept."""
    turn1 = response(message([THOUGHT, {"type": "text", "text": "Running ls."},
                              {"type": "tool_use", "id": "toolu_1", "name": "shell", "input": {"command": ["ls"]}},
                              {"type": "tool_use", "id": "toolu_2", "name": "apply_patch", "input": {"input": "P"}}],
                             "tool_use"), reply_context(CODEX_LOOP))
    items = [item.model_dump(exclude_none=True) for item in turn1.output]
    body = translate({**CODEX_LOOP, "input": [user("go"), *items, output("toolu_1", "a.txt"),
                                              {"type": "custom_tool_call_output", "call_id": "toolu_2", "output": "ok"}]})
    assert body["thinking"]["type"] == "enabled"
    assert body["messages"][1]["content"] == [
        THOUGHT, {"type": "text", "text": "Running ls."},
        {"type": "tool_use", "id": "toolu_1", "name": "shell", "input": {"command": ["ls"]}},
        {"type": "tool_use", "id": "toolu_2", "name": "apply_patch", "input": {"input": "P"}}]


def test_a_gemini_thought_signature_rides_through_both_pairs_and_back() -> None:
    """Responses client on a Gemini account: Gemini answer -> Anthropic (existing pair) -> Responses (this
    pair); the reasoning item sent back restores the signature on Gemini's part."""
    gemini = orjson.dumps({"candidates": [{"content": {"role": "model", "parts": [
        {"text": "plan", "thought": True, "thoughtSignature": "c2lnLTE="},
        {"functionCall": {"name": "shell", "args": {"command": ["ls"]}}, "thoughtSignature": "c2lnLTI="}]},
        "finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5,
                                                    "totalTokenCount": 15}})
    messages_answer = anthropic_gemini.BRIDGE.answer(gemini, "claude-sonnet-4-5")
    turn1 = response(messages_answer, reply_context(CODEX_LOOP))
    assert [item.type for item in turn1.output] == ["reasoning", "reasoning", "function_call"]
    call_id = turn1.output[2].call_id  # type: ignore[union-attr]
    items = [item.model_dump(exclude_none=True) for item in turn1.output]
    body = translate({**CODEX_LOOP, "input": [user("go"), *items, output(call_id, "a.txt")]})
    composed = anthropic_gemini.request(body, RequestOptions(model="gemini-2.5-pro")).body
    parts = composed["contents"][1]["parts"]
    assert {"thoughtSignature": "c2lnLTE="}.items() <= parts[0].items()
    assert any(part.get("thoughtSignature") == "c2lnLTI=" and "functionCall" in part for part in parts)


def test_an_openai_answer_through_the_responses_pair_keeps_text_calls_and_usage() -> None:
    """Responses client on a chat account: chat answer -> Anthropic (existing pair) -> Responses (this pair)."""
    chat = orjson.dumps({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
                         "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                             "role": "assistant", "content": "Sure.", "tool_calls": [
                                 {"id": "call_9", "type": "function",
                                  "function": {"name": "shell", "arguments": '{"command":["ls"]}'}}]}}],
                         "usage": {"prompt_tokens": 120, "completion_tokens": 8, "total_tokens": 128,
                                   "prompt_tokens_details": {"cached_tokens": 100}}})
    got = response(anthropic_openai_chat.BRIDGE.answer(chat, "claude"), reply_context(CODEX_LOOP))
    text, shell = got.output
    assert text.content[0].text == "Sure." and shell.call_id == "call_9"  # type: ignore[union-attr]
    assert got.usage is not None and (got.usage.input_tokens, got.usage.input_tokens_details.cached_tokens,
                                      got.usage.output_tokens) == (120, 100, 8)


# --- fuzzing the request ------------------------------------------------------------------------


def _pick(rng: random.Random, good: list[Any], bad: list[Any]) -> Any:
    return rng.choice(good if rng.random() < 0.7 else bad)


_ITEMS: list[Any] = [
    user("hi"), user([{"type": "input_text", "text": "x"}, {"type": "input_image", "image_url": "data:image/png;base64,AA"}]),
    said("ok"), call("c1"), output("c1"), {"type": "reasoning", "encrypted_content": encode_thinking(THOUGHT)},
    {"type": "reasoning", "encrypted_content": 5}, {"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch"},
    {"type": "custom_tool_call_output", "call_id": "c2", "output": [3]}, {"type": "local_shell_call", "action": {}},
    {"type": "local_shell_call_output"}, {"type": "web_search_call"}, {"role": "developer", "content": [{"type": "x"}]},
    {"type": "message", "role": "user", "content": [{"type": "input_file", "file_data": 1}]}, None, 3, "s", [],
    {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": "ftp://x"}]},
    output("c1", {"not": "a list"}), call("c3", arguments=5),  # type: ignore[arg-type]
]


def _random_body(rng: random.Random) -> dict[str, Any]:
    body: dict[str, Any] = {"input": _pick(rng, [[rng.choice(_ITEMS) for _ in range(rng.randint(1, 6))], "hi"],
                                            [None, 5, {}, []])}
    options: dict[str, tuple[list[Any], list[Any]]] = {
        "instructions": (["be brief", ""], [3]),
        "tools": ([[SHELL, PATCH], [{"type": "local_shell"}, {"type": "web_search"}]], [[{"type": "mcp"}], "t", [3]]),
        "tool_choice": (["auto", "required", {"type": "function", "name": "shell"}], ["any", {"type": "bogus"}, 3]),
        "parallel_tool_calls": ([True, False], ["no"]),
        "reasoning": ([{"effort": "low"}, {"effort": "high", "summary": "auto"}], [{"effort": 3}, "on"]),
        "max_output_tokens": ([100, 5000], [0, "x", True]),
        "text": ([{"format": {"type": "json_schema", "name": "o", "schema": {}}}], [{"format": {"type": "json_object"}}, 1]),
        "user": (["u"], [5]), "safety_identifier": (["s" * 400], [[]]), "stream": ([True, False], ["yes"]),
        "previous_response_id": ([None], ["resp_1"]), "background": ([False], [True]), "unknown": ([1], [None]),
    }
    for key, (good, bad) in options.items():
        if rng.random() < 0.4:
            body[key] = _pick(rng, good, bad)
    return body


def test_fuzzed_bodies_translate_or_are_refused_by_name() -> None:
    rng = random.Random(1305)
    translated = 0
    for _ in range(600):
        body = _random_body(rng)
        try:
            out = request(body, RequestOptions(model="claude-sonnet-4-5"))
        except Untranslatable as refused:
            assert refused.field and refused.message.startswith(refused.field)
            continue
        translated += 1
        orjson.dumps(out.body)
        reply_context(body)
    assert translated > 50


# --- the openai SDK itself, over HTTP ------------------------------------------------------------


def _sdk(body: bytes, stream: bool) -> openai.OpenAI:
    headers = {"content-type": "text/event-stream" if stream else "application/json"}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body, headers=headers))
    return openai.OpenAI(api_key="k", base_url="http://gateway.test/v1", http_client=httpx.Client(transport=transport),
                         max_retries=0)


def test_the_openai_sdk_reads_the_answer_and_the_stream() -> None:
    whole = answer(message([{"type": "text", "text": "Hello there."}]), "gpt-5-codex")
    got = _sdk(whole, stream=False).responses.create(model="gpt-5-codex", input="hi")
    assert got.output_text == "Hello there." and got.usage is not None and got.usage.input_tokens == 120
    out, _ = run(RECORDED)
    with _sdk(out, stream=True).responses.stream(model="gpt-5-codex", input="hi") as stream:
        texts = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(texts) == "Let me look ✓. Now." and final.output_text == "Let me look ✓. Now."
    assert [item.type for item in final.output] == ["reasoning", "message", "function_call", "custom_tool_call",
                                                   "function_call"]


def test_the_openai_sdk_sees_a_failed_stream_as_failed() -> None:
    cut = sse(MESSAGE_START, start(0, {"type": "text", "text": ""}), delta(0, type="text_delta", text="Hi"))
    out, _ = run(cut + sse({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
    with _sdk(out, stream=True).responses.stream(model="m", input="hi") as stream:
        failed = [event for event in stream if event.type == "response.failed"]
        assert failed and failed[0].response.error is not None
        assert failed[0].response.error.message == "Overloaded"
        with pytest.raises(RuntimeError):
            stream.get_final_response()  # no response.completed: the SDK does not take it for an answer


# --- composed with the Anthropic-client pairs (compose.py) -----------------------------------------


def test_a_codex_turn_on_a_gemini_account_through_the_pivot() -> None:
    captured = orjson.loads((FIXTURES / "codex_responses_custom_tool_result.json").read_bytes())["body"]
    bridge = compose(BRIDGE, anthropic_gemini.BRIDGE)
    composed = bridge.request(captured, RequestOptions(model="gemini-2.5-pro", client_model="gpt-5.5"))
    assert composed.stream and "contents" in composed.body
    gemini_stream = (
        b'data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Patched ","thoughtSignature":"c2ln"}]}}]}'
        b'\n\ndata: {"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"apply_patch",'
        b'"args":{"input":"*** Begin Patch\\n"}}}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":'
        b'100,"cachedContentTokenCount":40,"candidatesTokenCount":9,"totalTokenCount":109}}\n\n')
    # The request's own reply carries its context (the custom tool) to the client-side stream.
    chained = bridge.stream(composed.reply)
    out = b"".join(chained.feed(gemini_stream[i:i + 13]) for i in range(0, len(gemini_stream), 13)) + chained.end()
    final, _ = accumulate(out)
    assert final.status == "completed" and final.output_text == "Patched "
    patch = final.output[-1]
    assert (patch.type, patch.name, patch.input) == ("custom_tool_call", "apply_patch", "*** Begin Patch\n")  # type: ignore[union-attr]
    assert final.usage is not None and (final.usage.input_tokens, final.usage.input_tokens_details.cached_tokens,
                                        final.usage.output_tokens) == (100, 40, 9)
    assert (chained.usage.input_tokens, chained.usage.cache_read_tokens) == (60, 40)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from _paths(child, (*path, key))


def test_mutated_codex_requests_translate_or_are_refused_by_name() -> None:
    """The captured Codex requests with one value at a random place swapped for an odd one."""
    rng = random.Random(1313)
    captured = [orjson.loads(p.read_bytes())["body"] for p in sorted(FIXTURES.glob("codex_responses_*.json"))]
    odd: list[Any] = [None, 0, -1, "", "x", [], {}, True, [None], {"type": "bogus"}, 1.5]
    refusals = 0
    for _ in range(400):
        body = orjson.loads(orjson.dumps(rng.choice(captured)))
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(list(_paths(body))[1:])
            parent = body
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = rng.choice(odd)
        try:
            orjson.dumps(request(body, RequestOptions(model="claude-sonnet-4-5")).body)
        except Untranslatable as refused:
            assert refused.field and refused.message.startswith(refused.field)
            refusals += 1
        reply_context(body)
    assert 0 < refusals < 400
