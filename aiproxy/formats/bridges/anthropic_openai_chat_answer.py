"""Anthropic Messages clients on OpenAI Chat Completions upstreams: answers, usage, errors.

The facts the whole answer and the stream translator share: stop reasons,
usage in Anthropic's terms, and the error rewrite.
"""

from __future__ import annotations

from typing import Any

import orjson

from .. import anthropic
from ..error_message import error_message
from ..openai_chat import CHAT_USAGE
from ..usage import Usage
from . import anthropic_events
from .anthropic_events import message_id, tool_use_id

# Chat finish_reason -> Anthropic stop_reason. Chat cannot say whether `stop`
# was a stop sequence or the natural end (it does not echo the sequence), so
# it is end_turn; `function_call` is the legacy name for tool calls.
_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
# An upstream error's status, from the `type` / `code` of an error sent
# mid-stream (after the 200, so no HTTP status tells it).
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
}
# The longest piece of a non-JSON error body quoted back to the client.
_MAX_QUOTED = 500


def stop_reason(finish: Any, *, refused: bool, tool_calls: bool) -> str:
    """The stop reason for a finish_reason. Some OpenAI-compatible servers end a
    tool call with `stop`: the calls are what the client must act on."""
    if refused:
        return "refusal"
    reason = _STOP_REASONS.get(finish, "end_turn") if isinstance(finish, str) else "end_turn"
    return "tool_use" if tool_calls and reason == "end_turn" else reason


def fill_usage(usage: Usage, u: dict[str, Any]) -> None:
    """Chat usage in Anthropic's terms, in place. prompt_tokens includes the cache
    reads and, where a server reports them, the cache writes, which Anthropic
    counts apart as cache creation: CHAT_USAGE takes both out."""
    CHAT_USAGE.fill(usage, u)


def tool_input(arguments: Any) -> dict[str, Any]:
    """A call's JSON arguments as the object Anthropic's `input` must be. Arguments
    that are not an object are kept under `_raw_arguments`, so the client's tool
    check tells the model its call was malformed rather than running it empty."""
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        parsed = None
    return parsed if isinstance(parsed, dict) else {"_raw_arguments": arguments}


def _content(message: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The content blocks of a Chat message, and whether it was a refusal."""
    blocks: list[dict[str, Any]] = []
    text, refusal = message.get("content"), message.get("refusal")
    if isinstance(text, list):  # some OpenAI-compatible servers answer in parts
        text = "".join(p["text"] for p in text if isinstance(p, dict) and isinstance(p.get("text"), str))
    if isinstance(text, str) and text:
        blocks.append({"type": "text", "text": text})
    if isinstance(refusal, str) and refusal:
        blocks.append({"type": "text", "text": refusal})
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        call_id = call.get("id")
        blocks.append({
            "type": "tool_use",
            "id": call_id if isinstance(call_id, str) and call_id else tool_use_id(),
            "name": str(function.get("name") or ""),
            "input": tool_input(function.get("arguments")),
        })
    return blocks, isinstance(refusal, str) and bool(refusal)


def answer(body: bytes, model: str) -> bytes:
    """A Messages answer for a whole chat completion."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    data = data if isinstance(data, dict) else {}
    choices = data.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message")
    content, refused = _content(message if isinstance(message, dict) else {})
    usage = Usage()
    if isinstance(data.get("usage"), dict):
        fill_usage(usage, data["usage"])
    reason = stop_reason(choice.get("finish_reason"), refused=refused,
                         tool_calls=any(b["type"] == "tool_use" for b in content))
    return anthropic_events.message(id=message_id(), model=model, content=content,
                                    stop_reason=reason, usage=usage)


def error(status: int, body: bytes) -> bytes:
    """A Chat error body in Anthropic's shape, for the same status."""
    message = error_message(body) or body.decode("utf-8", "replace").strip()[:_MAX_QUOTED]
    return anthropic.error_body(status, message or f"upstream answered {status}")


def error_status(err: dict[str, Any]) -> int:
    """The HTTP status an error sent inside a stream stands for."""
    for key in ("code", "type"):
        value = err.get(key)
        if isinstance(value, str) and value in _ERROR_STATUS:
            return _ERROR_STATUS[value]
    return 500
