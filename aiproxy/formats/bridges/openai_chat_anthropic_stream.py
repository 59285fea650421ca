"""OpenAI Chat Completions clients on Anthropic Messages upstreams: the stream.

Each Anthropic event becomes the chunk it stands for as it arrives (PROTOCOLS
§12, "OpenAI chat stream as a target"): `message_start` the first chunk
(`delta{role: assistant}`), text deltas `delta.content`, a tool_use block its
call's first fragment (`index`, `id`, `type`, `function.name`) and each
`input_json_delta` a later one (`index`, `function.arguments`), `message_stop`
the finish chunk, then the usage chunk (`choices: []`) when asked for, then
`data: [DONE]`. Thinking and server-tool blocks have no place in Chat and are
left out. An Anthropic `error` event, or a stream that ends before
`message_stop`, ends in an error chunk (`data: {"error": {...}}`, which the
openai SDK raises as an APIError) with no `[DONE]` after it.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from .. import openai_chat
from ..anthropic import apply_usage
from ..sse import SSEFramer, frame_data, parse_frame
from ..usage import Usage
from .openai_chat_anthropic_answer import chat_usage, completion_id, error_status, finish_reason, tool_call

_DONE = b"data: [DONE]\n\n"


class AnthropicToChatStream:
    """Fed a Messages stream; hands back Chat Completions chunks."""

    def __init__(self, model: str, include_usage: bool = True) -> None:
        self.usage = Usage()
        self._model = model
        self._include_usage = include_usage
        self._framer = SSEFramer()
        self._id = completion_id(None)
        self._created = int(time.time())
        self._head: bytes | None = None
        self._started = False
        self._ended = False  # message_stop or an error: nothing more is sent
        self._stop_reason: Any = None
        self._calls = 0  # tool calls begun so far: the next one's index
        self._block: str | None = None  # the type of the open Anthropic block
        self._arguments_sent = False  # the open tool call has had an arguments fragment

    def feed(self, chunk: bytes) -> bytes:
        if self._ended:
            return b""
        return b"".join([self._frame(frame) for frame in self._framer.feed(chunk)])

    def end(self) -> bytes:
        rest = self._framer.rest()
        out = self._frame(rest) if rest and not self._ended else b""  # a last event without its blank line
        if self._ended:
            return out
        self._ended = True
        return out + openai_chat.stream_error(502, "the upstream stream ended before the answer was complete")

    def _frame(self, frame: bytes) -> bytes:
        # The JSON is read from the raw data bytes: Anthropic names each event's
        # type inside it too, so the `event:` line is decoded only where it does not.
        payload = frame_data(frame)
        if not payload or self._ended:
            return b""
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return b""
        if not isinstance(data, dict):
            return b""
        kind = data.get("type")
        if not isinstance(kind, str):
            event = parse_frame(frame)
            kind = event.event if event is not None else ""
        return self._event(kind, data)

    def _chunk(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
        if self._head is None:
            # What every chunk repeats, written once: its id stays the first chunk's.
            self._head = (b'data: {"id":' + orjson.dumps(self._id) + b',"object":"chat.completion.chunk","created":'
                          + str(self._created).encode() + b',"model":' + orjson.dumps(self._model) + b',"choices":')
        # With include_usage Chat writes `"usage":null` on every chunk but the usage one.
        tail = b',"usage":' + orjson.dumps(usage) + b"}\n\n" if self._include_usage else b"}\n\n"
        return self._head + orjson.dumps(choices) + tail

    def _delta(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return self._chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}])

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        return self._delta({"role": "assistant", "content": "", "refusal": None})

    def _event(self, kind: str, data: dict[str, Any]) -> bytes:
        if kind == "error":
            self._ended = True
            err = data.get("error")
            message = err.get("message") if isinstance(err, dict) else None
            return openai_chat.stream_error(error_status(err), message if isinstance(message, str) and message
                                            else "the upstream failed mid-answer")
        if kind == "message_start":
            message = data.get("message")
            if isinstance(message, dict):
                self._id = completion_id(message.get("id"))
                self._usage(message.get("usage"))
            return self._start()
        if kind == "content_block_start":
            return self._start() + self._block_start(data.get("content_block"))
        if kind == "content_block_delta":
            return self._start() + self._block_delta(data.get("delta"))
        if kind == "content_block_stop":
            return self._start() + self._block_stop()
        if kind == "message_delta":
            delta = data.get("delta")
            if isinstance(delta, dict) and delta.get("stop_reason") is not None:
                self._stop_reason = delta["stop_reason"]
            self._usage(data.get("usage"))
            return self._start()
        if kind == "message_stop":
            return self._start() + self._finish()
        return b""  # ping, and events of later API versions

    def _usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            try:
                apply_usage(self.usage, usage)
            except (TypeError, ValueError):
                pass  # a count that is no number: the ones read so far stand

    def _block_start(self, block: Any) -> bytes:
        kind = block.get("type") if isinstance(block, dict) else None
        self._block = kind if isinstance(kind, str) else None
        if not isinstance(block, dict):
            return b""
        if kind == "text":
            text = block.get("text")
            return self._delta({"content": text}) if isinstance(text, str) and text else b""
        if kind != "tool_use":
            return b""  # thinking, redacted thinking, server tools: not shown in Chat
        index, self._calls = self._calls, self._calls + 1
        tool_input = block.get("input")
        # A start normally carries `input: {}` and the arguments follow as deltas.
        arguments = orjson.dumps(tool_input).decode() if isinstance(tool_input, dict) and tool_input else ""
        self._arguments_sent = bool(arguments)
        call = tool_call(index, str(block.get("id") or f"call_{index}"), str(block.get("name") or ""), arguments)
        return self._delta({"tool_calls": [call]})

    def _block_delta(self, delta: Any) -> bytes:
        if not isinstance(delta, dict):
            return b""
        kind = delta.get("type")
        if kind == "text_delta" and self._block == "text":
            text = delta.get("text")
            return self._delta({"content": text}) if isinstance(text, str) and text else b""
        if kind == "input_json_delta" and self._block == "tool_use":
            fragment = delta.get("partial_json")
            if not isinstance(fragment, str) or not fragment:
                return b""
            self._arguments_sent = True
            return self._delta({"tool_calls": [{"index": self._calls - 1, "function": {"arguments": fragment}}]})
        return b""

    def _block_stop(self) -> bytes:
        out = b""
        if self._block == "tool_use" and not self._arguments_sent:
            # A call without arguments: Chat's clients parse its arguments as JSON.
            out = self._delta({"tool_calls": [{"index": self._calls - 1, "function": {"arguments": "{}"}}]})
        self._block = None
        return out

    def _finish(self) -> bytes:
        self._ended = True
        out = self._delta({}, finish_reason(self._stop_reason))
        if self._include_usage:
            out += self._chunk([], chat_usage(self.usage))
        return out + _DONE


def stream_for(body: dict[str, Any], model: str) -> AnthropicToChatStream:
    """The stream writer for one request: the usage chunk only if the client's body asked for it."""
    return AnthropicToChatStream(model, include_usage=openai_chat.client_wants_usage(body))
