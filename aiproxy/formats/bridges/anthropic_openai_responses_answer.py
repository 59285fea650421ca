"""Anthropic Messages clients on OpenAI Responses accounts: the whole answer and errors.

A response object's `output` items become Anthropic content blocks: message
items' `output_text` (and `refusal`) parts become text blocks, `function_call`
items `tool_use` blocks under their `call_id`. `reasoning` items are dropped:
their summaries could not be sent back as Anthropic thinking (no signature
Anthropic's format would accept from OpenAI) and `encrypted_content` is valid
only for OpenAI. The stop reason and usage rules are shared with the stream.
"""

from __future__ import annotations

from typing import Any

import orjson

from .. import anthropic
from ..error_message import error_message
from ..openai_responses import RESPONSES_USAGE
from ..usage import Usage
from .anthropic_events import message, message_id, tool_use_id


def stop_reason(status: Any, incomplete: Any, called_tool: bool, refused: bool) -> str:
    """Anthropic's stop reason for a finished response.

    A function call means the model waits for its result (tool_use) even
    though Responses calls that `completed`; `incomplete` names why it was cut.
    """
    if status == "incomplete":
        reason = incomplete.get("reason") if isinstance(incomplete, dict) else None
        if reason == "max_output_tokens":
            return "max_tokens"
        if reason == "content_filter":
            return "refusal"
    if refused:
        return "refusal"
    return "tool_use" if called_tool else "end_turn"


def tool_input(arguments: Any) -> dict[str, Any]:
    """A function call's JSON-string arguments as the object Anthropic's `input` must be."""
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        # Cut-off arguments (the limit hit mid-call) cannot be an object; the
        # stop reason (max_tokens) tells the client why.
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _message_blocks(item: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    blocks: list[dict[str, Any]] = []
    refused = False
    content = item.get("content")
    for part in content if isinstance(content, list) else ():
        if not isinstance(part, dict):
            continue
        if part.get("type") == "output_text" and isinstance(part.get("text"), str) and part["text"]:
            blocks.append({"type": "text", "text": part["text"]})
        elif part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
            refused = True
            blocks.append({"type": "text", "text": part["refusal"]})
    return blocks, refused


def answer(body: bytes, model: str) -> bytes:
    """A Responses response object (2xx) as an Anthropic message; ValueError if it is none."""
    data = orjson.loads(body)
    output = data.get("output") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(output if output is not None else [], list):
        raise ValueError("the upstream's answer is not a Responses response object")
    content: list[dict[str, Any]] = []
    called_tool = refused = False
    for item in output or ():
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "message":
            blocks, refusal = _message_blocks(item)
            content += blocks
            refused = refused or refusal
        elif kind == "function_call":
            called_tool = True
            call_id = item.get("call_id") or item.get("id")
            content.append({"type": "tool_use", "id": call_id if isinstance(call_id, str) else tool_use_id(),
                            "name": str(item.get("name") or ""), "input": tool_input(item.get("arguments"))})
    usage = RESPONSES_USAGE.from_object(data) or Usage()
    reason = stop_reason(data.get("status"), data.get("incomplete_details"), called_tool, refused)
    return message(id=message_id(), model=model, content=content, stop_reason=reason, usage=usage)


def error(status: int, body: bytes) -> bytes:
    """An upstream error in Anthropic's shape, same status."""
    return anthropic.error_body(status, error_message(body) or f"the upstream answered {status}")
