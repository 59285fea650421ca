"""Fake upstreams a little richer than the suite's, for trying real CLIs (tests/cli/run_gateway.py --rich).

The suite's fakes answer every generation with the text "Hello, world!". Gemini
CLI (0.61) first asks the model for JSON (its model router's classifier:
`generateContent` with `generationConfig.responseMimeType: application/json`
and a `responseJsonSchema`), and retries, then gives up on routing, when the
answer does not parse. RichGemini answers such requests with JSON that fits the
schema.

When the user's last message names one of the offered tools ("use
list_directory to ..."), RichGemini and RichOpenAI answer a streamed request
as a reasoning model starting an agent loop does, so that the next request
carries what the CLI sends back after a tool call (the captures in
tests/fixtures): a thought (Gemini) or a `reasoning` item with a summary and
`encrypted_content` (Responses; Codex returns it with `store: false`), then a
call of that tool with arguments that fit its schema (the CLIs validate them;
the suite's fakes send `{"path": ...}`), or, for a `custom` (freeform) tool
such as Codex's `apply_patch`, a `custom_tool_call` whose input is a patch
adding one file. A message that names no tool gets the suite's fakes' answer
(their first tool called with `{"path": ...}`), so that other trials, such as
Claude Code's, do not start sub-agents with valid arguments. RichAnthropic does
the same for Messages (for Codex CLI and Gemini CLI on a Claude account, through
the gateway's translation): a tool named in the prompt (the last text block of
the last user message) is called, after a signed thinking block when thinking
is on, with arguments that fit its `input_schema` (a patch for a tool whose
description shows Codex's patch grammar); `output_config.format` (structured
outputs, what Gemini CLI's classifier becomes) is answered with JSON that fits
the schema; and, as Anthropic does, a tool loop sent back with thinking on but
without the thinking block it was answered with (or with another signature)
is refused with a 400. Everything else is the suite's fake unchanged.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from tests.fakes.anthropic_upstream import USAGE as ANTHROPIC_USAGE
from tests.fakes.anthropic_upstream import FakeAnthropic, sse
from tests.fakes.gemini_upstream import THOUGHT, THOUGHT_SIGNATURE, USAGE, FakeGemini
from tests.fakes.openai_upstream import HEADERS, RESPONSES_USAGE, FakeOpenAI, compact, response_object, responses_stream

__all__ = ["RichAnthropic", "RichGemini", "RichOpenAI"]


def sample(schema: dict[str, Any], required_only: bool = False) -> Any:
    """A value that fits a (Gemini / JSON Schema) schema: the smallest plausible one."""
    kind = str(schema.get("type", "object")).lower()
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    if kind == "object":
        wanted = set(schema.get("required") or ()) if required_only else None
        # A path the CLIs can resolve ("." is the workspace), so that a tool call succeeds.
        return {name: "." if name.endswith("path") and str(sub.get("type")).lower() == "string"
                else sample(sub, required_only)
                for name, sub in (schema.get("properties") or {}).items() if wanted is None or name in wanted}
    if kind == "array":
        return [sample(schema.get("items") or {"type": "string"})]
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return False
    return "fake"


def named(tools: list[dict[str, Any]], text: str) -> dict[str, Any] | None:
    """The first of the tools whose name the text mentions as a word."""
    return next((t for t in tools if t.get("name") and re.search(rf"\b{re.escape(str(t['name']))}\b", text)), None)


def gemini_user_text(contents: list[Any]) -> str:
    for content in reversed(contents):
        if isinstance(content, dict) and content.get("role") == "user":
            return " ".join(str(p.get("text", "")) for p in content.get("parts") or [] if isinstance(p, dict))
    return ""


def gemini_call(body: dict[str, Any]) -> dict[str, Any] | None:
    """The stream element calling a declared function, after a thought; none after a functionResponse."""
    declarations = [d for t in body.get("tools") or [] if isinstance(t, dict)
                    for d in t.get("functionDeclarations") or [] if isinstance(d, dict)]
    contents = body.get("contents")
    if not declarations or not isinstance(contents, list) or not contents or not isinstance(contents[-1], dict):
        return None
    if any(isinstance(p, dict) and "functionResponse" in p for p in contents[-1].get("parts") or []):
        return None
    chosen = named(declarations, gemini_user_text(contents))
    if chosen is None:
        return None
    schema = chosen.get("parametersJsonSchema") or chosen.get("parameters") or {}
    call = {"functionCall": {"name": chosen["name"], "args": sample(schema, required_only=True)},
            "thoughtSignature": THOUGHT_SIGNATURE}
    parts = [{"text": THOUGHT, "thought": True}, call]
    return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": USAGE, "modelVersion": "fake", "responseId": "resp_fake_call"}


class RichGemini(FakeGemini):
    async def model_call(self, request: Request) -> Response:
        model, _, method = request.path_params["rest"].partition(":")
        if (request.method == "POST" and method == "streamGenerateContent" and not model.startswith("fail-")
                and request.query_params.get("alt") == "sse"):
            element = gemini_call(json.loads(await request.body() or b"{}"))
            if element is not None:
                await self._record(request)
                element["modelVersion"] = model
                return StreamingResponse(iter([b"data: " + json.dumps(element).encode() + b"\r\n\r\n"]),
                                         media_type="text/event-stream")
        if request.method == "POST" and method == "generateContent" and not model.startswith("fail-"):
            body = json.loads(await request.body() or b"{}")
            config = body.get("generationConfig") or {}
            schema = config.get("responseJsonSchema") or config.get("responseSchema")
            if config.get("responseMimeType") == "application/json":
                await self._record(request)
                text = json.dumps(sample(schema) if schema else {})
                return JSONResponse({
                    "candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                                    "finishReason": "STOP", "index": 0}],
                    "usageMetadata": USAGE, "modelVersion": model, "responseId": "resp_fake_json",
                })
        return await super().model_call(request)


# What a reasoning model's turn carries before its tool call: Codex keeps the
# item and sends it back, whole, in the next request's input.
REASONING_ITEM = {"id": "rs_fake", "type": "reasoning", "encrypted_content": "ZmFrZS1lbmNyeXB0ZWQtcmVhc29uaW5n",
                  "summary": [{"type": "summary_text", "text": "**Looking around**\n\nI will use a tool first."}]}
# The input of a call of a freeform tool: Codex's apply_patch grammar, one file added.
PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n"
OUTPUTS = {"function_call_output", "custom_tool_call_output"}


def last_user_text(items: list[Any]) -> str:
    for item in reversed(items):
        if isinstance(item, dict) and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            return " ".join(str(part.get("text", "")) for part in content or [] if isinstance(part, dict))
    return ""


def after_output(body: dict[str, Any]) -> bool:
    items = body.get("input")
    return isinstance(items, list) and bool(items) and isinstance(items[-1], dict) and items[-1].get("type") in OUTPUTS


def tool_to_call(body: dict[str, Any]) -> dict[str, Any] | None:
    """The offered tool the user's last message names; none after a tool's output."""
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type") in ("function", "custom")]
    items = body.get("input")
    if not tools or not isinstance(items, list) or not items or after_output(body):
        return None
    return named(tools, last_user_text(items))


def call_item(tool: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    if tool["type"] == "custom":
        return {"id": "ctc_fake", "type": "custom_tool_call", "status": status, "call_id": "call_fake",
                "name": tool["name"], "input": PATCH if status == "completed" else ""}
    arguments = compact(sample(tool.get("parameters") or {}, required_only=True)) if status == "completed" else ""
    return {"id": "fc_fake", "type": "function_call", "status": status, "call_id": "call_fake",
            "name": tool["name"], "arguments": arguments}


def tool_stream(model: str, tool: dict[str, Any]) -> list[bytes]:
    """A streamed reasoning item, then the tool call, its input in one delta, then response.completed."""
    seq = 0

    def ev(kind: str, **data: Any) -> bytes:
        nonlocal seq
        payload = {"type": kind, "sequence_number": seq, **data}
        seq += 1
        return f"event: {kind}\ndata: {compact(payload)}\n\n".encode()

    done = call_item(tool)
    delta_kind, field = (("response.custom_tool_call_input", "input") if tool["type"] == "custom"
                         else ("response.function_call_arguments", "arguments"))
    return [
        ev("response.created", response=response_object(model, "in_progress", [], None)),
        ev("response.output_item.added", output_index=0, item={**REASONING_ITEM, "summary": []}),
        ev("response.output_item.done", output_index=0, item=REASONING_ITEM),
        ev("response.output_item.added", output_index=1, item=call_item(tool, "in_progress")),
        ev(f"{delta_kind}.delta", item_id=done["id"], output_index=1, delta=done[field]),
        ev(f"{delta_kind}.done", item_id=done["id"], output_index=1, **{field: done[field]}),
        ev("response.output_item.done", output_index=1, item=done),
        ev("response.completed", response=response_object(model, "completed", [REASONING_ITEM, done],
                                                           RESPONSES_USAGE)),
    ]


class RichOpenAI(FakeOpenAI):
    async def responses(self, request: Request) -> Response:
        body = json.loads(await request.body() or b"{}")
        model = str(body.get("model", ""))
        if not body.get("stream") or model.startswith("fail-") or model == "stream-failed":
            return await super().responses(request)
        tool = tool_to_call(body)
        if tool is None and not (after_output(body) and body["input"][-1].get("type") == "custom_tool_call_output"):
            return await super().responses(request)
        await self._record(request)
        # After a custom tool's output the turn ends in text (the suite's fake knows function outputs only).
        events = tool_stream(model, tool) if tool is not None else responses_stream(model)
        return StreamingResponse(iter(events), media_type="text/event-stream", headers=HEADERS)


# What the Anthropic fake's thinking says, and the signature it signs it with:
# a later request that sends the block back must carry this signature, as
# Anthropic checks its own.
ANTHROPIC_THINKING = "The user wants a tool run first."
ANTHROPIC_SIGNATURE = "c2lnbmVkLWJ5LXRoZS1mYWtl"
_MESSAGE_HEADERS = {"request-id": "req_fake"}


def messages_user_text(messages: list[Any]) -> str:
    """The last text block of the last (user) message: the prompt. Only that one, since the blocks
    before it (Claude Code's system reminders, Codex's environment context) name tools too."""
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    if last.get("role") != "user":
        return ""
    content = last.get("content")
    if isinstance(content, str):
        return content
    texts = [str(b.get("text", "")) for b in content or [] if isinstance(b, dict) and b.get("type") == "text"]
    return texts[-1] if texts else ""


def has_block(message: Any, kind: str) -> bool:
    content = message.get("content") if isinstance(message, dict) else None
    return isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == kind for b in content)


def thinking_refusal(body: dict[str, Any]) -> str | None:
    """Anthropic's 400 for a tool loop sent back without its thinking (or with a thinking block
    that is not the fake's own): with thinking on, the last assistant turn that called a tool
    must start with the thinking block it was answered with."""
    if (body.get("thinking") or {}).get("type") != "enabled":
        return None
    assistants = [(i, m) for i, m in enumerate(body.get("messages") or [])
                  if isinstance(m, dict) and m.get("role") == "assistant"]
    if not assistants or not has_block(assistants[-1][1], "tool_use"):
        return None
    index, last = assistants[-1]
    first = (last["content"] or [{}])[0]
    if not isinstance(first, dict) or first.get("type") not in ("thinking", "redacted_thinking"):
        kind = first.get("type") if isinstance(first, dict) else None
        return (f"messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, "
                f"but found `{kind}`. When `thinking` is enabled, a final `assistant` message must start with a "
                "thinking block.")
    if first.get("type") == "thinking" and first.get("signature") != ANTHROPIC_SIGNATURE:
        return f"messages.{index}.content.0: Invalid `signature` in `thinking` block"
    return None


def anthropic_tool_input(tool: dict[str, Any]) -> dict[str, Any]:
    """Arguments that fit the tool's schema; for a one-string tool whose argument's description
    shows Codex's patch grammar (apply_patch, a custom tool offered so), a patch in that grammar,
    as a model reading the grammar would write it."""
    schema = tool.get("input_schema") or {}
    properties = schema.get("properties") or {}
    if list(properties) == ["input"] and "Begin Patch" in json.dumps(properties["input"].get("description", "")):
        return {"input": PATCH}
    value = sample(schema, required_only=True)
    return value if isinstance(value, dict) else {}


def anthropic_blocks(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str] | None:
    """The content and stop reason of an answer the suite's fake does not give: a call of the tool
    the user's last message names (after a thinking block when thinking is on), or JSON that fits
    `output_config.format`'s schema (structured outputs). None: the suite's fake answers."""
    messages = body.get("messages") if isinstance(body.get("messages"), list) else []
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
    chosen = None if not messages or has_block(messages[-1], "tool_result") else named(tools, messages_user_text(messages))
    if chosen is not None and (body.get("tool_choice") or {}).get("type") != "none":
        blocks: list[dict[str, Any]] = []
        if (body.get("thinking") or {}).get("type") == "enabled":
            blocks.append({"type": "thinking", "thinking": ANTHROPIC_THINKING, "signature": ANTHROPIC_SIGNATURE})
        blocks.append({"type": "tool_use", "id": "toolu_rich", "name": chosen["name"],
                       "input": anthropic_tool_input(chosen)})
        return blocks, "tool_use"
    fmt = (body.get("output_config") or {}).get("format") or {}
    if fmt.get("type") == "json_schema":
        return [{"type": "text", "text": json.dumps(sample(fmt.get("schema") or {}))}], "end_turn"
    return None


def anthropic_events(model: str, blocks: list[dict[str, Any]], stop: str) -> list[bytes]:
    """The Messages stream of an answer: each block started, its content in one or two deltas, stopped."""
    events = [sse("message_start", {"type": "message_start", "message": {
        "id": "msg_rich", "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {**ANTHROPIC_USAGE, "output_tokens": 1}}})]
    for index, block in enumerate(blocks):
        if block["type"] == "thinking":
            start: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": block["thinking"]},
                      {"type": "signature_delta", "signature": block["signature"]}]
        elif block["type"] == "tool_use":
            start = {**block, "input": {}}
            text = json.dumps(block["input"])
            deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in (text[:5], text[5:])]
        else:
            start = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": block["text"]}]
        events.append(sse("content_block_start", {"type": "content_block_start", "index": index,
                                                  "content_block": start}))
        events += [sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
                   for d in deltas]
        events.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events + [
        sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                              "usage": {"output_tokens": ANTHROPIC_USAGE["output_tokens"]}}),
        sse("message_stop", {"type": "message_stop"}),
    ]


class RichAnthropic(FakeAnthropic):
    async def messages(self, request: Request) -> Response:
        body = json.loads(await request.body() or b"{}")
        model = str(body.get("model", ""))
        if model.startswith("fail-"):
            return await super().messages(request)
        refusal = thinking_refusal(body)
        answer = anthropic_blocks(body) if refusal is None else None
        if refusal is None and answer is None:
            return await super().messages(request)
        await self._record(request)
        if refusal is not None:
            return JSONResponse({"type": "error", "error": {"type": "invalid_request_error", "message": refusal}},
                                status_code=400, headers=_MESSAGE_HEADERS)
        assert answer is not None
        blocks, stop = answer
        if body.get("stream"):
            return StreamingResponse(iter(anthropic_events(model, blocks, stop)), media_type="text/event-stream",
                                     headers=_MESSAGE_HEADERS)
        return JSONResponse({"id": "msg_rich", "type": "message", "role": "assistant", "model": model,
                             "content": blocks, "stop_reason": stop, "stop_sequence": None,
                             "usage": ANTHROPIC_USAGE}, headers=_MESSAGE_HEADERS)
