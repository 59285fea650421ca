"""OpenAI Chat Completions clients on Anthropic Messages upstreams: answers, usage, errors.

The facts the whole answer and the stream writer share: the finish reason of
each stop reason, usage in Chat's terms, the completion id, and the error rewrite.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

from .. import openai_chat
from ..anthropic import usage_from_message
from ..error_message import error_message
from ..usage import Usage

# Anthropic stop_reason -> Chat finish_reason (PROTOCOLS §12). pause_turn (a
# long server-side turn paused, to be sent again to go on) is `length`: the
# answer is unfinished, and a client that continues cut answers does the right
# thing; stop_sequence is `stop`, as Chat says for its own stop sequences.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "pause_turn": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# The HTTP status an Anthropic error type stands for, for an error event sent
# after the 200 (anthropic.py's table the other way round).
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
_MAX_QUOTED = 500  # the longest piece of a non-JSON error body quoted back


def finish_reason(stop_reason: Any) -> str:
    return FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def completion_id(message_id: Any) -> str:
    """A chatcmpl- id made from the Anthropic message id (`msg_01…` -> `chatcmpl-01…`)."""
    if isinstance(message_id, str) and message_id:
        return "chatcmpl-" + message_id.removeprefix("msg_")
    return "chatcmpl-" + secrets.token_hex(12)


def chat_usage(usage: Usage) -> dict[str, Any]:
    """Anthropic's counts as Chat's: the prompt counts every input token (cached,
    written to the cache, neither); cached_tokens are the cache reads."""
    prompt = usage.input_tokens + usage.cache_creation_tokens + usage.cache_read_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens,
                                  "cache_write_tokens": usage.cache_creation_tokens},
    }


def tool_call(index: int | None, id: str, name: str, arguments: str) -> dict[str, Any]:
    call: dict[str, Any] = {"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}
    return call if index is None else {"index": index, **call}


def _message(content: Any) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use":
            tool_input = block.get("input")
            calls.append(tool_call(None, str(block.get("id") or "toolu_" + secrets.token_hex(12)),
                                   str(block.get("name") or ""),
                                   orjson.dumps(tool_input if isinstance(tool_input, dict) else {}).decode()))
        # thinking, redacted_thinking and server-tool blocks: Chat has no place for them.
    # Chat's content is null beside tool calls, a string otherwise (clients read it as one).
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None,
                               "refusal": None}
    if calls:
        message["tool_calls"] = calls
    return message


def answer(body: bytes, model: str) -> bytes:
    """A chat.completion for a whole Messages answer."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    data = data if isinstance(data, dict) else {}
    return orjson.dumps({
        "id": completion_id(data.get("id")),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": _message(data.get("content")), "logprobs": None,
                     "finish_reason": finish_reason(data.get("stop_reason"))}],
        "usage": chat_usage(_usage(data)),
    })


def _usage(data: dict[str, Any]) -> Usage:
    try:
        return usage_from_message(data)
    except (TypeError, ValueError):
        return Usage()  # counts that are no numbers: none known


def error(status: int, body: bytes) -> bytes:
    """An Anthropic error body in Chat's shape, for the same status."""
    message = error_message(body) or body.decode("utf-8", "replace").strip()[:_MAX_QUOTED]
    return openai_chat.error_body(status, message or f"upstream answered {status}")


def error_status(err: Any) -> int:
    """The HTTP status of an error sent inside a stream."""
    kind = err.get("type") if isinstance(err, dict) else None
    return _ERROR_STATUS.get(kind, 500) if isinstance(kind, str) else 500
