"""Anthropic Messages clients on Gemini accounts: the answer, the stream and errors.

A GenerateContentResponse's first candidate becomes the Messages answer: thought
parts are thinking blocks, text parts text blocks, functionCall parts tool_use
blocks (Gemini sends whole `args`, so a streamed call is one block start and one
`input_json_delta`). Each `thoughtSignature` reaches the client as a thinking
block's `signature` (`SIGNATURE_PREFIX` + the signature): on a thought part's own
block, else on a block with no text written just before the block of the part it
came with. The request side (`anthropic_gemini`) puts it back on that part.
Gemini does not say which stop sequence matched: STOP is always `end_turn`.
"""

from __future__ import annotations

from typing import Any

import orjson

from .. import anthropic, gemini
from ..sse import SSEParser
from ..usage import Usage
from . import anthropic_events
from .anthropic_events import AnthropicEvents

# Marks a thinking block's signature as a Gemini thoughtSignature the gateway
# carries, never an Anthropic signature (base64, so never containing `:`).
SIGNATURE_PREFIX = "gemini-thought-signature:"

# gemini.finish_reason's words -> Anthropic stop_reason (`stop` is end_turn, or
# tool_use when the answer calls a tool).
_STOP = {"stop": "end_turn", "length": "max_tokens", "content_filter": "refusal"}


def stop_reason(reason: Any, called_tool: bool) -> str:
    kind = gemini.finish_reason(reason) or "stop"
    if kind == "stop" and called_tool:
        return "tool_use"
    return _STOP.get(kind, "end_turn")


def _candidate(data: dict[str, Any]) -> dict[str, Any] | None:
    candidates = data.get("candidates")
    if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict):
        return candidates[0]
    return None


def _parts(candidate: dict[str, Any] | None) -> list[dict[str, Any]]:
    content = candidate.get("content") if candidate else None
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def _blocked(data: dict[str, Any]) -> bool:
    """The prompt itself was blocked: no candidate, a promptFeedback.blockReason."""
    feedback = data.get("promptFeedback")
    return _candidate(data) is None and isinstance(feedback, dict) and bool(feedback.get("blockReason"))


def _signature(part: dict[str, Any]) -> str | None:
    value = part.get("thoughtSignature")
    return SIGNATURE_PREFIX + value if isinstance(value, str) and value else None


def _call(part: dict[str, Any]) -> tuple[str, str, dict[str, Any]] | None:
    """(id, name, args) of a functionCall part; the id made here when Gemini gave none."""
    call = part.get("functionCall")
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        return None
    args = call.get("args")
    given = call.get("id")
    return (given if isinstance(given, str) and given else anthropic_events.tool_use_id(),
            call["name"], args if isinstance(args, dict) else {})


def content_blocks(parts: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
    """A whole answer's parts as Messages content blocks, and whether a tool is called.

    Parts of other kinds (executable code, inline images) have no Messages block
    and are left out."""
    blocks: list[dict[str, Any]] = []
    called = False
    for part in parts:
        signature = _signature(part)
        text = part.get("text") if isinstance(part.get("text"), str) else None
        if part.get("thought") and text is not None:
            blocks.append({"type": "thinking", "thinking": text, "signature": signature or ""})
            continue
        if signature:
            blocks.append({"type": "thinking", "thinking": "", "signature": signature})
        call = _call(part)
        if call is not None:
            called = True
            blocks.append({"type": "tool_use", "id": call[0], "name": call[1], "input": call[2]})
        elif text:
            if blocks and blocks[-1]["type"] == "text":  # parts of one text, split by Gemini
                blocks[-1]["text"] += text
            else:
                blocks.append({"type": "text", "text": text})
    return blocks, called


def answer(body: bytes, model: str) -> bytes:
    """A Messages answer for a GenerateContentResponse."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        return anthropic.error_body(502, "the Gemini answer was not a JSON object")
    candidate = _candidate(data)
    blocks, called = content_blocks(_parts(candidate))
    reason = "refusal" if _blocked(data) else stop_reason(candidate.get("finishReason") if candidate else None,
                                                          called)
    meta = data.get("usageMetadata")
    usage = gemini.usage_from_metadata(meta) if isinstance(meta, dict) else Usage()
    response_id = data.get("responseId")
    return anthropic_events.message(
        id=f"msg_{response_id}" if isinstance(response_id, str) and response_id else anthropic_events.message_id(),
        model=model, content=blocks, stop_reason=reason, usage=usage)


def error(status: int, body: bytes) -> bytes:
    """A Gemini error body in Anthropic's shape, for the same status."""
    message = gemini.error_message(body)
    if message is None:
        message = body.decode("utf-8", "replace")[:1000] or f"Gemini answered {status}"
    return anthropic.error_body(status, message)


class GeminiStream:
    """Translates a streamGenerateContent (`alt=sse`) answer into Messages events.

    Each SSE element is a whole GenerateContentResponse with the usage so far;
    its parts are written as they come. The finishReason chunk closes the open
    block, and `message_delta` waits for the upstream's end, so it carries the
    last usage Gemini sent whatever chunk that came in.
    """

    def __init__(self, model: str) -> None:
        self.usage = Usage()
        self._events = AnthropicEvents(model)
        self._sse = SSEParser()
        self._stop: str | None = None
        self._called = False

    def feed(self, chunk: bytes) -> bytes:
        return b"".join(self._element(event.data) for event in self._sse.feed(chunk))

    def end(self) -> bytes:
        if self._events.stopped:
            return b""
        if self._stop is None:
            return self._events.error(502, "the Gemini stream ended before its last chunk")
        return self._events.finish(self._stop, self.usage)

    def _element(self, raw: str) -> bytes:
        if self._events.stopped:
            return b""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return b""
        if not isinstance(data, dict):
            return b""
        gemini.read_element(self.usage, data)
        err = data.get("error")
        if isinstance(err, dict):
            code = err.get("code")
            status = code if isinstance(code, int) and 400 <= code < 600 else 502
            return self._events.error(status, gemini.describe_error(err))
        response_id = data.get("responseId")
        if not self._events.started and isinstance(response_id, str) and response_id:
            self._events.id = f"msg_{response_id}"  # the id the whole answer would have
        out = self._events.start(self.usage)
        candidate = _candidate(data)
        for part in _parts(candidate):
            out += self._part(part)
        reason = candidate.get("finishReason") if candidate else None
        if _blocked(data):
            self._stop = "refusal"
        elif reason and self._stop is None:
            self._stop = stop_reason(reason, self._called)
        if self._stop is not None:
            out += self._events.close_block()
        return out

    def _part(self, part: dict[str, Any]) -> bytes:
        w = self._events
        signature = _signature(part)
        text = part.get("text") if isinstance(part.get("text"), str) else None
        if part.get("thought") and text is not None:
            out = w.thinking(text)
            # Its signature closes the block: the next thought starts a new one.
            return out + w.signature(signature) + w.close_block() if signature else out
        out = w.signature(signature, new_block=True) + w.close_block() if signature else b""
        call = _call(part)
        if call is not None:
            self._called = True
            return out + w.tool_use(call[0], call[1]) + w.tool_input(orjson.dumps(call[2]).decode()) + w.close_block()
        return out + w.text(text) if text else out


def stream(model: str) -> GeminiStream:
    return GeminiStream(model)
