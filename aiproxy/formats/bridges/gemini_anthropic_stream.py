"""Gemini clients on Anthropic upstreams: the stream.

Gemini streams whole GenerateContentResponse objects, each with the parts that
are new: as `data: {...}\\r\\n\\r\\n` events with `alt=sse` (the default here;
google-genai and Gemini CLI ask for it), else as one JSON array whose elements
arrive over time (`[{...},\\r\\n{...}]`, `json_array=True`); which one is
the request's `Reply` (gemini_anthropic).

Text and thinking deltas are relayed as they come, one chunk each. A tool
call's `input_json_delta` fragments wait for its `content_block_stop`, since
Gemini sends a functionCall's `args` whole. Thinking blocks are kept until the
first functionCall (else the final chunk), whose part carries them as the
gateway-made thoughtSignature (see `gemini_anthropic_answer`). usageMetadata
comes on the first chunk (the input counts, for a stream cut short) and on the
final one, which carries the finishReason and is sent at `message_stop`: a
stream cut before it, or an Anthropic `error` event, ends in an error object
instead (Gemini's own signal mid-stream).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from .. import gemini
from ..anthropic import usage_from_message
from ..sse import SSEParser
from ..usage import Usage
from .gemini_anthropic_answer import error_status, finish_reason, function_call, pack_thinking, response, thinking_block


@dataclass(eq=False)
class _Block:
    """One content block of the Messages stream, while it is open."""

    kind: str
    start: dict[str, Any]
    pieces: list[str] = field(default_factory=list)  # thinking text, or a tool call's JSON fragments
    signature: str = ""


class AnthropicToGeminiStream:
    """Fed a Messages SSE stream; hands back Gemini's stream, SSE or a JSON array."""

    def __init__(self, model: str, *, json_array: bool = False) -> None:
        self.usage = Usage()
        self._model = model
        self._json_array = json_array
        # What the client is told the stream is (BridgedTap reads it): Gemini
        # answers its JSON-array stream as application/json.
        self.media_type = b"application/json" if json_array else b"text/event-stream; charset=utf-8"
        self._sse = SSEParser()
        self._usage_fields: dict[str, Any] = {}
        self._response_id = ""
        self._blocks: dict[int, _Block] = {}
        self._thinking: list[dict[str, Any]] = []  # blocks waiting for a part to ride on
        self._stop_reason: Any = None
        self._sent = 0  # chunks written
        self._done = False

    def feed(self, chunk: bytes) -> bytes:
        if self._done:
            return b""
        return b"".join([self._event(ev.event, ev.data) for ev in self._sse.feed(chunk)])

    def end(self) -> bytes:
        if self._done:
            return b""
        return self._error(502, "the Anthropic stream ended before the answer was complete")

    # --- writing -----------------------------------------------------------------

    def _write(self, element: dict[str, Any]) -> bytes:
        data = orjson.dumps(element)
        self._sent += 1
        if not self._json_array:
            return b"data: " + data + b"\r\n\r\n"
        return (b"[" if self._sent == 1 else b",\r\n") + data

    def _chunk(self, parts: list[dict[str, Any]], finish: str | None = None) -> bytes:
        with_usage = self._sent == 0 or finish is not None
        return self._write(response(parts, model=self._model, response_id=self._response_id,
                                    usage=self.usage if with_usage else None, finish=finish))

    def _error(self, status: int, message: str) -> bytes:
        self._done = True
        if not self._json_array:
            return gemini.stream_error(status, message)
        body = orjson.loads(gemini.error_body(status, message))
        return self._write(body) + b"]"

    # --- reading -----------------------------------------------------------------

    def _event(self, name: str, raw: str) -> bytes:
        if self._done or name == "ping":
            return b""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return b""
        if not isinstance(data, dict):
            return b""
        kind = data.get("type", name)
        if kind == "message_start":
            message = data.get("message")
            if isinstance(message, dict):
                if isinstance(message.get("id"), str):
                    self._response_id = message["id"]
                self._read_usage(message.get("usage"))
            return b""
        if kind == "content_block_start":
            return self._block_start(data)
        if kind == "content_block_delta":
            return self._delta(data)
        if kind == "content_block_stop":
            return self._block_stop(data)
        if kind == "message_delta":
            delta = data.get("delta")
            if isinstance(delta, dict) and delta.get("stop_reason") is not None:
                self._stop_reason = delta["stop_reason"]
            self._read_usage(data.get("usage"))
            return b""
        if kind == "message_stop":
            return self._finish()
        if kind == "error":
            err = data.get("error")
            err = err if isinstance(err, dict) else {}
            message = err.get("message")
            return self._error(error_status(err), message if isinstance(message, str) else "upstream error")
        return b""

    def _read_usage(self, fields: Any) -> None:
        # Later events repeat only the counts they know: null or absent is "unchanged".
        if not isinstance(fields, dict):
            return
        self._usage_fields.update((k, v) for k, v in fields.items() if v is not None)
        latest = usage_from_message({"usage": self._usage_fields})
        for name in ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens",
                     "cache_creation_1h_tokens"):  # in place: the relay may hold this object
            setattr(self.usage, name, getattr(latest, name))

    def _block_start(self, data: dict[str, Any]) -> bytes:
        block = data.get("content_block")
        index = data.get("index")
        if not isinstance(block, dict) or not isinstance(index, int) or not isinstance(block.get("type"), str):
            return b""
        self._blocks[index] = _Block(block["type"], block)
        if block["type"] == "text":
            return self._text(block.get("text"))
        if block["type"] == "thinking":
            return self._thought(index, block.get("thinking"))
        return b""

    def _delta(self, data: dict[str, Any]) -> bytes:
        delta = data.get("delta")
        index = data.get("index")
        open_block = self._blocks.get(index) if isinstance(index, int) else None
        if not isinstance(delta, dict) or open_block is None:
            return b""
        kind = delta.get("type")
        if kind == "text_delta":
            return self._text(delta.get("text"))
        if kind == "thinking_delta" and isinstance(index, int):
            return self._thought(index, delta.get("thinking"))
        if kind == "signature_delta" and isinstance(delta.get("signature"), str):
            open_block.signature += delta["signature"]
        elif kind == "input_json_delta" and isinstance(delta.get("partial_json"), str):
            open_block.pieces.append(delta["partial_json"])
        return b""

    def _text(self, text: Any) -> bytes:
        return self._chunk([{"text": text}]) if isinstance(text, str) and text else b""

    def _thought(self, index: int, text: Any) -> bytes:
        if not isinstance(text, str) or not text:
            return b""
        self._blocks[index].pieces.append(text)
        return self._chunk([{"text": text, "thought": True}])

    def _block_stop(self, data: dict[str, Any]) -> bytes:
        index = data.get("index")
        block = self._blocks.pop(index, None) if isinstance(index, int) else None
        if block is None:
            return b""
        if block.kind in ("thinking", "redacted_thinking"):
            whole = {**block.start, "thinking": "".join(block.pieces),
                     "signature": block.start.get("signature") or block.signature}
            kept = thinking_block(whole if block.kind == "thinking" else block.start)
            if kept is not None:
                self._thinking.append(kept)
            return b""
        if block.kind == "tool_use" and isinstance(block.start.get("name"), str):
            args = self._arguments(block)
            part = function_call(block.start.get("id"), block.start["name"], args)
            if self._thinking:
                part["thoughtSignature"] = pack_thinking(self._thinking)
                self._thinking = []
            return self._chunk([part])
        return b""

    @staticmethod
    def _arguments(block: _Block) -> Any:
        text = "".join(block.pieces)
        if not text.strip():
            return block.start.get("input")  # a call with no arguments streams none
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return {}

    def _finish(self) -> bytes:
        parts: list[dict[str, Any]] = []
        if self._thinking:  # no functionCall took them: an empty text part, as Gemini does
            parts.append({"text": "", "thoughtSignature": pack_thinking(self._thinking)})
            self._thinking = []
        out = self._chunk(parts, finish_reason(self._stop_reason))
        self._done = True
        return out + (b"]" if self._json_array else b"")
