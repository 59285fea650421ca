"""Anthropic Messages answers made from another format's parts: whole messages and SSE events.

Every pair with an Anthropic client builds its answers here, so the event
sequence Claude Code and the anthropic SDK rely on is written once:
`message_start` (input counts, 0 where not known yet), then per content block
`content_block_start` / `content_block_delta`* / `content_block_stop`, one
block open at a time, then `message_delta` (stop reason and the final usage,
every count: the SDK and Claude Code take the totals from it) and
`message_stop`. An upstream failure after the start is an `error` event.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from .. import anthropic
from ..usage import Usage


def message_id() -> str:
    """A Messages-style id for an answer the upstream gave under its own id scheme."""
    return "msg_" + secrets.token_hex(12)


def tool_use_id() -> str:
    """An id for a tool call whose upstream named none (Gemini may not)."""
    return "toolu_" + secrets.token_hex(12)


def usage_fields(usage: Usage) -> dict[str, int]:
    """Usage in Anthropic's terms: uncached input, cache write, cache read, output."""
    return {
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_creation_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
        "output_tokens": usage.output_tokens,
    }


def message(
    *, id: str, model: str, content: list[dict[str, Any]], stop_reason: str | None, usage: Usage,
    stop_sequence: str | None = None,
) -> bytes:
    """A whole (non-streamed) Messages answer."""
    return orjson.dumps({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage_fields(usage),
    })


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class AnthropicEvents:
    """Writes one Messages stream; each method returns the bytes of the events it makes.

    The writer keeps the block bookkeeping (indices, the open block) so a pair
    only says what happened: text arrived, a tool call began, its arguments
    grew, the answer ended. Opening a block closes the one before it.
    """

    def __init__(self, model: str, id: str | None = None) -> None:
        self.model = model
        self.id = id or message_id()
        self.usage = Usage()
        self.started = False
        self.stopped = False
        self._index = -1
        self._open: str | None = None  # type of the open block

    def start(self, usage: Usage | None = None) -> bytes:
        """`message_start`, once; the other methods call it if a pair did not."""
        if self.started:
            return b""
        self.started = True
        if usage is not None:
            self.usage = usage
        return _event("message_start", {
            "type": "message_start",
            "message": {
                "id": self.id, "type": "message", "role": "assistant", "model": self.model,
                "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": usage_fields(self.usage),
            },
        })

    def _open_block(self, kind: str, block: dict[str, Any]) -> bytes:
        out = self.start() + self.close_block()
        self._index += 1
        self._open = kind
        return out + _event("content_block_start", {"type": "content_block_start", "index": self._index,
                                                   "content_block": block})

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return _event("content_block_delta", {"type": "content_block_delta", "index": self._index, "delta": delta})

    def text(self, text: str) -> bytes:
        """Text of the answer; continues an open text block, else opens one."""
        if not text:
            return b""
        out = b"" if self._open == "text" else self._open_block("text", {"type": "text", "text": ""})
        return out + self._delta({"type": "text_delta", "text": text})

    def thinking(self, text: str) -> bytes:
        """Reasoning text, as a thinking block (only where the client may send it back harmlessly)."""
        if not text:
            return b""
        out = b"" if self._open == "thinking" else self._open_block(
            "thinking", {"type": "thinking", "thinking": "", "signature": ""})
        return out + self._delta({"type": "thinking_delta", "thinking": text})

    def signature(self, signature: str, *, new_block: bool = False) -> bytes:
        """The signature of the open thinking block (a `signature_delta`), which the
        client sends back unchanged; with `new_block`, or no thinking block open, it
        goes on a new thinking block of its own (one with no text)."""
        out = b""
        if new_block or self._open != "thinking":
            out = self._open_block("thinking", {"type": "thinking", "thinking": "", "signature": ""})
        return out + self._delta({"type": "signature_delta", "signature": signature})

    def tool_use(self, id: str, name: str) -> bytes:
        """A tool call begins; its arguments follow as `tool_input` fragments."""
        return self._open_block("tool_use", {"type": "tool_use", "id": id, "name": name, "input": {}})

    def tool_input(self, fragment: str) -> bytes:
        """A fragment of the open tool call's JSON arguments, relayed as it came."""
        if not fragment or self._open != "tool_use":
            return b""
        return self._delta({"type": "input_json_delta", "partial_json": fragment})

    def close_block(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return _event("content_block_stop", {"type": "content_block_stop", "index": self._index})

    def finish(self, stop_reason: str | None, usage: Usage | None = None,
               stop_sequence: str | None = None) -> bytes:
        """`message_delta` with the stop reason and the final usage, then `message_stop`."""
        if self.stopped:
            return b""
        if usage is not None:
            self.usage = usage
        out = self.start() + self.close_block()
        self.stopped = True
        return out + _event("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
            "usage": usage_fields(self.usage),
        }) + _event("message_stop", {"type": "message_stop"})

    def error(self, status: int, message: str) -> bytes:
        """The upstream failed mid-answer: an `error` event, after which nothing is sent."""
        self.stopped = True
        return anthropic.stream_error_event(status, message)
