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
Claude Code's, do not start sub-agents with valid arguments. Everything else
is the suite's fake unchanged; the Anthropic fake was enough for Claude Code,
so it is the suite's own.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from tests.fakes.anthropic_upstream import FakeAnthropic as RichAnthropic
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
