"""Gemini clients on Anthropic upstreams: the whole answer, errors, and the facts the stream shares.

A Messages answer becomes a GenerateContentResponse with one candidate: text
blocks are text parts, tool_use blocks functionCall parts (with the tool_use
id, which the client sends back on its functionResponse), thinking text
thought parts (`thought: true`, shown to the client, never sent back).

Thinking blocks ride `thoughtSignature`: Anthropic refuses a tool loop with
thinking on whose last assistant turn lost its thinking block, and a block is
valid only with its exact text and signature, which a Gemini client returns
only through a part's thoughtSignature. So each run of thinking and
redacted_thinking blocks is packed whole (`pack_thinking`) into one
gateway-made signature: urlsafe base64 of `THINKING_MAGIC` + the blocks as
JSON. It goes where Gemini puts its own: on the answer's first functionCall
part, else on its last text part, else on an empty text part of its own; the
client keeps it there (google-genai decodes it as bytes and sends it back
urlsafe-encoded, Gemini CLI keeps it on the functionCall in its history) and
the request side (`gemini_anthropic`) unpacks it. Any other signature is
Gemini's own (or the `skip_thought_signature_validator` placeholder) and
never reaches Anthropic.

Usage in Gemini's terms: promptTokenCount = uncached input + cache writes +
cache reads, cachedContentTokenCount = cache reads (Gemini has no field for
cache writes), candidatesTokenCount = output (Anthropic does not count the
thinking apart, so no thoughtsTokenCount), totalTokenCount the sum.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from .. import gemini
from ..anthropic import usage_from_message
from ..error_message import error_message
from ..usage import Usage

# Marks a thoughtSignature the gateway made from Anthropic thinking blocks; 30
# bytes, so its base64 is a fixed 40-character prefix of every such signature.
THINKING_MAGIC = b"aiproxy/anthropic-thinking/v1\n"
_MAGIC_TEXT = base64.urlsafe_b64encode(THINKING_MAGIC).decode()

# Anthropic stop_reason -> Gemini finishReason. A tool call ends with STOP on
# Gemini (the functionCall part says it); a refusal is Gemini's SAFETY.
FINISH_REASONS = {
    "end_turn": "STOP",
    "stop_sequence": "STOP",
    "tool_use": "STOP",
    "pause_turn": "STOP",
    "max_tokens": "MAX_TOKENS",
    "model_context_window_exceeded": "MAX_TOKENS",
    "refusal": "SAFETY",
}
# Anthropic error types -> HTTP status, for an `error` event after the 200.
# Overloaded is 529 on Anthropic; Gemini says 503 UNAVAILABLE for the same.
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 503,
}


def finish_reason(stop_reason: Any) -> str:
    """A stop reason unknown (or missing) ended the answer for no reason Gemini names: OTHER."""
    return FINISH_REASONS.get(stop_reason, "OTHER") if isinstance(stop_reason, str) else "OTHER"


def pack_thinking(blocks: list[dict[str, Any]]) -> str:
    """Thinking blocks as one gateway-made thoughtSignature."""
    return base64.urlsafe_b64encode(THINKING_MAGIC + orjson.dumps(blocks)).decode()


def unpack_thinking(signature: Any) -> list[dict[str, Any]]:
    """The Anthropic thinking blocks a gateway-made signature carries; [] for any
    other signature (Gemini's own, a placeholder, a damaged one)."""
    if not isinstance(signature, str):
        return []
    # google-genai sends bytes back urlsafe-encoded; other clients may use the
    # standard alphabet or drop the padding.
    text = signature.strip().replace("+", "-").replace("/", "_").rstrip("=")
    if not text.startswith(_MAGIC_TEXT.rstrip("=")):
        return []
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        blocks = orjson.loads(raw[len(THINKING_MAGIC):]) if raw.startswith(THINKING_MAGIC) else None
    except (binascii.Error, ValueError):
        return []
    if not isinstance(blocks, list) or not all(_is_thinking_block(b) for b in blocks):
        return []
    return blocks


def _is_thinking_block(block: Any) -> bool:
    if not isinstance(block, dict):
        return False
    if block.get("type") == "thinking":
        return (set(block) == {"type", "thinking", "signature"} and isinstance(block["thinking"], str)
                and isinstance(block["signature"], str) and bool(block["signature"]))
    if block.get("type") == "redacted_thinking":
        return set(block) == {"type", "data"} and isinstance(block["data"], str) and bool(block["data"])
    return False


def thinking_block(block: dict[str, Any]) -> dict[str, Any] | None:
    """A thinking or redacted_thinking block of an answer, with exactly the fields
    Anthropic takes back; None when it is neither (or has no signature)."""
    if block.get("type") == "thinking":
        kept = {"type": "thinking", "thinking": block.get("thinking", ""), "signature": block.get("signature")}
    elif block.get("type") == "redacted_thinking":
        kept = {"type": "redacted_thinking", "data": block.get("data")}
    else:
        return None
    return kept if _is_thinking_block(kept) else None


def usage_metadata(usage: Usage) -> dict[str, int]:
    prompt = usage.input_tokens + usage.cache_creation_tokens + usage.cache_read_tokens
    meta = {"promptTokenCount": prompt, "candidatesTokenCount": usage.output_tokens,
            "totalTokenCount": prompt + usage.output_tokens}
    if usage.cache_read_tokens:
        meta["cachedContentTokenCount"] = usage.cache_read_tokens
    return meta


def response(parts: list[dict[str, Any]], *, model: str, response_id: str, usage: Usage | None,
             finish: str | None = None) -> dict[str, Any]:
    """One GenerateContentResponse (a whole answer, or one chunk of a stream)."""
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish is not None:
        candidate["finishReason"] = finish
    out: dict[str, Any] = {"candidates": [candidate]}
    if usage is not None:
        out["usageMetadata"] = usage_metadata(usage)
    out["modelVersion"] = model
    out["responseId"] = response_id
    return out


def function_call(tool_id: Any, name: str, args: Any) -> dict[str, Any]:
    call: dict[str, Any] = {"name": name, "args": args if isinstance(args, dict) else {}}
    if isinstance(tool_id, str) and tool_id:
        call["id"] = tool_id
    return {"functionCall": call}


def answer(body: bytes, model: str) -> bytes:
    """A GenerateContentResponse for a Messages answer."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        return gemini.error_body(502, "the Anthropic answer was not a JSON object")
    blocks = data.get("content")
    parts: list[dict[str, Any]] = []
    thinking: list[dict[str, Any]] = []
    for block in blocks if isinstance(blocks, list) else []:
        if not isinstance(block, dict):
            continue
        kept = thinking_block(block)
        if kept is not None:
            thinking.append(kept)
            if kept["type"] == "thinking" and kept["thinking"]:
                parts.append({"text": kept["thinking"], "thought": True})
        elif block.get("type") == "text" and isinstance(block.get("text"), str) and block["text"]:
            if parts and "text" in parts[-1] and not parts[-1].get("thought"):
                parts[-1]["text"] += block["text"]  # text split by citations: one part
            else:
                parts.append({"text": block["text"]})
        elif block.get("type") == "tool_use" and isinstance(block.get("name"), str):
            parts.append(function_call(block.get("id"), block["name"], block.get("input")))
        # Other blocks (server tool uses and results) come only with server
        # tools, which the request never asks for.
    if thinking:
        _place_signature(parts, pack_thinking(thinking))
    usage = data.get("usage")
    message_id = data.get("id")
    return orjson.dumps(response(
        parts, model=model, response_id=message_id if isinstance(message_id, str) else "",
        usage=_usage(usage), finish=finish_reason(data.get("stop_reason"))))


def _usage(usage: Any) -> Usage:
    return usage_from_message({"usage": usage}) if isinstance(usage, dict) else Usage()


def _place_signature(parts: list[dict[str, Any]], signature: str) -> None:
    """Where Gemini puts a turn's signature: its first functionCall, else its last text."""
    for part in parts:
        if "functionCall" in part:
            part["thoughtSignature"] = signature
            return
    for part in reversed(parts):
        if "text" in part and not part.get("thought"):
            part["thoughtSignature"] = signature
            return
    parts.append({"text": "", "thoughtSignature": signature})


def error_status(err: dict[str, Any]) -> int:
    kind = err.get("type")
    return ERROR_STATUS.get(kind, 502) if isinstance(kind, str) else 502


def error(status: int, body: bytes) -> bytes:
    """An Anthropic error body in Gemini's shape, for the same status."""
    message = error_message(body)
    if message is None:
        message = body.decode("utf-8", "replace")[:500] or f"the Anthropic upstream answered {status}"
    return gemini.error_body(status, message)
