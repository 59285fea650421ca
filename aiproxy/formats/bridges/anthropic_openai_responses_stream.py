"""Anthropic Messages clients on OpenAI Responses accounts: the stream.

Responses events become Anthropic events as they arrive: text deltas are
relayed as text, a `function_call` item opens a `tool_use` block (its
`call_id` is the block's id) and its argument fragments are relayed as
`input_json_delta`s. Responses sends one output item after another, so one
Anthropic block open at a time needs no holding back. Where a backend sends
an item only whole (`output_item.done`, or only in the terminal response's
`output`), the whole item is relayed then. Usage exists only on the terminal
event, so `message_start` says 0 and the final `message_delta` has every
count. Reasoning summaries are dropped (see the answer module).
"""

from __future__ import annotations

from typing import Any, Callable

from ..openai_responses import RESPONSES_USAGE, failure_status
from ..sse import SSEFramer, typed_json_event
from ..usage import Usage
from .anthropic_events import AnthropicEvents, tool_use_id
from .anthropic_openai_responses_answer import stop_reason


def _index(data: dict[str, Any]) -> int:
    index = data.get("output_index")
    return index if isinstance(index, int) and not isinstance(index, bool) else -1


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


class ResponsesToAnthropicStream:
    """One Responses stream as the Anthropic Messages events of the same answer."""

    def __init__(self, model: str) -> None:
        self.usage = Usage()
        self._events = AnthropicEvents(model)
        self._events.usage = self.usage  # one object: the running total is the final count
        self._framer = SSEFramer()
        self._done = False  # a terminal or error event was handled: nothing more is read
        self._called_tool = False
        self._refused = False
        self._calls: set[int] = set()  # output indices whose tool_use block was opened
        self._relayed: set[int] = set()  # output indices whose text or arguments reached the client
        self._current: int | None = None  # the output index of the open tool_use block

    def feed(self, chunk: bytes) -> bytes:
        out = []
        for frame in self._framer.feed(chunk):
            if self._done:
                break  # a relay's trailing `data: [DONE]`, or anything else after the end
            out.append(self._frame(frame))
        return b"".join(out)

    def end(self) -> bytes:
        out = b""
        rest = self._framer.rest()
        if rest and not self._done:
            out = self._frame(rest)  # a last event without its blank line
        if self._events.stopped:
            return out
        self._done = True
        return out + self._events.error(502, "the upstream stream ended before the response completed")

    def _frame(self, frame: bytes) -> bytes:
        read = typed_json_event(frame)
        if read is None:
            return b""
        kind, data = read
        if kind not in _HANDLERS and isinstance(data.get("error"), dict):
            kind = "error"  # the gateway's own stream error (openai_chat.stream_error): no type, no event name
        handler = _HANDLERS.get(kind)
        return handler(self, data) if handler is not None else b""

    def _started(self, data: dict[str, Any]) -> bytes:
        return self._events.start()

    def _text_delta(self, data: dict[str, Any]) -> bytes:
        self._relayed.add(_index(data))
        self._current = None
        return self._events.text(_text(data.get("delta")))

    def _refusal_delta(self, data: dict[str, Any]) -> bytes:
        self._refused = True
        return self._text_delta(data)

    def _open_call(self, index: int, item: dict[str, Any]) -> bytes:
        self._called_tool = True
        self._calls.add(index)
        self._current = index
        call_id = item.get("call_id") or item.get("id")
        return self._events.tool_use(call_id if isinstance(call_id, str) else tool_use_id(), _text(item.get("name")))

    def _item_added(self, data: dict[str, Any]) -> bytes:
        item = data.get("item")
        if isinstance(item, dict) and item.get("type") == "function_call" and _index(data) not in self._calls:
            return self._open_call(_index(data), item)
        return self._events.start()

    def _arguments_delta(self, data: dict[str, Any]) -> bytes:
        if self._current is None or _index(data) != self._current:
            return b""  # a fragment of no open call: its whole item follows in output_item.done
        self._relayed.add(self._current)
        return self._events.tool_input(_text(data.get("delta")))

    def _arguments_done(self, data: dict[str, Any]) -> bytes:
        index = _index(data)
        if index != self._current or index in self._relayed:
            return b""
        self._relayed.add(index)
        return self._events.tool_input(_text(data.get("arguments")))

    def _item_done(self, data: dict[str, Any]) -> bytes:
        item = data.get("item")
        return self._whole_item(_index(data), item) if isinstance(item, dict) else b""

    def _whole_item(self, index: int, item: dict[str, Any]) -> bytes:
        """An item as it ended: whatever of it was not relayed yet, then its block closed."""
        kind = item.get("type")
        if kind not in ("function_call", "message"):
            return b""  # reasoning, and anything else the client has no block for
        out = b""
        if kind == "function_call":
            if index not in self._calls:
                out += self._open_call(index, item)
            if index not in self._relayed and index == self._current:
                out += self._events.tool_input(_text(item.get("arguments")))
        elif index not in self._relayed:
            content = item.get("content")
            for part in content if isinstance(content, list) else ():
                if isinstance(part, dict) and part.get("type") == "refusal":
                    self._refused = True
                    out += self._events.text(_text(part.get("refusal")))
                elif isinstance(part, dict):
                    out += self._events.text(_text(part.get("text")))
        self._relayed.add(index)
        self._current = None
        return out + self._events.close_block()

    def _terminal(self, data: dict[str, Any]) -> bytes:
        self._done = True
        response: dict[str, Any] = data["response"] if isinstance(data.get("response"), dict) else {}
        if isinstance(response.get("usage"), dict):
            RESPONSES_USAGE.fill(self.usage, response["usage"])
        out = b""
        # Items never streamed (a backend that sends the output only here).
        output = response.get("output")
        for index, item in enumerate(output if isinstance(output, list) else ()):
            if isinstance(item, dict) and index not in self._relayed:
                out += self._whole_item(index, item)
        if data.get("type") == "response.failed":
            failure = response.get("error")
            message = failure.get("message") if isinstance(failure, dict) else None
            return out + self._events.error(failure_status(failure), _text(message) or "the upstream response failed")
        reason = stop_reason(response.get("status"), response.get("incomplete_details"),
                             self._called_tool, self._refused)
        return out + self._events.finish(reason, self.usage)

    def _error(self, data: dict[str, Any]) -> bytes:
        # OpenAI's `error` event is flat ({type, code, message}); a relay's may nest it.
        self._done = True
        failure = data["error"] if isinstance(data.get("error"), dict) else data
        message = _text(failure.get("message")) or "the upstream stream reported an error"
        return self._events.error(failure_status(failure), message)


_Handler = Callable[[ResponsesToAnthropicStream, dict[str, Any]], bytes]
_HANDLERS: dict[str, _Handler] = {
    "response.created": ResponsesToAnthropicStream._started,
    "response.in_progress": ResponsesToAnthropicStream._started,
    "response.output_item.added": ResponsesToAnthropicStream._item_added,
    "response.output_text.delta": ResponsesToAnthropicStream._text_delta,
    "response.refusal.delta": ResponsesToAnthropicStream._refusal_delta,
    "response.function_call_arguments.delta": ResponsesToAnthropicStream._arguments_delta,
    "response.function_call_arguments.done": ResponsesToAnthropicStream._arguments_done,
    "response.output_item.done": ResponsesToAnthropicStream._item_done,
    "response.completed": ResponsesToAnthropicStream._terminal,
    "response.incomplete": ResponsesToAnthropicStream._terminal,
    "response.failed": ResponsesToAnthropicStream._terminal,
    "error": ResponsesToAnthropicStream._error,
}
