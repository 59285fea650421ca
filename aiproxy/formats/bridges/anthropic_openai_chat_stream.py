"""Anthropic Messages clients on OpenAI Chat Completions upstreams: the stream.

Chat streams `data:` chunks; an Anthropic client needs one content block at a
time. Text and tool-call fragments are relayed as they come while they belong
to the open block. Chat may interleave the fragments of parallel tool calls by
`index`, so a later call's fragments wait (with any text that arrives after a
call began) until the open call is over: when its arguments already form a
whole JSON object (nothing more can follow), or at the finish. The finish
chunk is followed by the usage chunk (the request asked for include_usage)
and `[DONE]`, where the answer ends with every count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from ..sse import SSEFramer, parse_frame
from ..usage import Usage
from .anthropic_events import AnthropicEvents, tool_use_id
from .anthropic_openai_chat_answer import error_status, fill_usage, stop_reason


@dataclass(eq=False)
class _Call:
    """One tool call of the answer, by its Chat `index`."""

    id: str
    name: str = ""
    arguments: list[str] = field(default_factory=list)  # every fragment so far
    sent: int = 0  # how many of them the client has

    def complete(self) -> bool:
        """Its arguments are a whole JSON object: no later fragment can belong to it."""
        # Only a fragment ending in `}` can close the object: the others skip the parse.
        if not self.arguments or not self.arguments[-1].rstrip().endswith("}"):
            return False
        text = "".join(self.arguments)
        try:
            return isinstance(orjson.loads(text), dict)
        except orjson.JSONDecodeError:
            return False


@dataclass(eq=False)
class _Text:
    """Text that came while a tool call's block was open: it waits its turn."""

    parts: list[str] = field(default_factory=list)


class ChatToAnthropicStream:
    """Fed a Chat Completions stream; hands back Anthropic Messages events."""

    def __init__(self, model: str) -> None:
        self.usage = Usage()
        self._out = AnthropicEvents(model)
        self._framer = SSEFramer()
        self._calls: dict[int, _Call] = {}
        self._open: _Call | _Text | None = None  # whose block the client has open
        self._waiting: list[_Call | _Text] = []  # blocks not begun, in order of arrival
        self._finish: Any = None
        self._finished = False  # finish_reason seen: all blocks closed
        self._usage_seen = False
        self._refused = False
        self._last_key = 0  # the call a fragment without an `index` continues

    def feed(self, chunk: bytes) -> bytes:
        if self._out.stopped:
            return b""
        return b"".join([self._frame(frame) for frame in self._framer.feed(chunk)])

    def end(self) -> bytes:
        out = b""
        rest = self._framer.rest()
        if rest and not self._out.stopped:
            out = self._frame(rest)  # a last event without its blank line
        if self._out.stopped:
            return out
        if self._finished and self._usage_seen:  # all but `[DONE]`: the answer is whole
            return out + self._finish_message()
        return out + self._out.error(502, "the upstream stream ended before the answer was complete")

    def _frame(self, frame: bytes) -> bytes:
        if self._out.stopped:
            return b""
        event = parse_frame(frame)
        if event is None:
            return b""
        if event.data.strip() == "[DONE]":
            return self._flush() + self._finish_message()
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return b""
        if not isinstance(data, dict):
            return b""
        out = self._out.start(self.usage)
        err = data.get("error")
        if isinstance(err, dict):
            message = err.get("message")
            return out + self._out.error(error_status(err), message if isinstance(message, str) else "upstream error")
        if isinstance(data.get("usage"), dict):
            fill_usage(self.usage, data["usage"])
            self._usage_seen = True
        choices = data.get("choices")
        if isinstance(choices, list):
            for choice in choices:
                if isinstance(choice, dict) and choice.get("index", 0) == 0:
                    out += self._choice(choice)
        return out

    def _choice(self, choice: dict[str, Any]) -> bytes:
        if self._finished:
            return b""  # nothing but usage follows the finish in Chat
        out = b""
        delta = choice.get("delta")
        if isinstance(delta, dict):
            for key in ("content", "refusal"):
                text = delta.get(key)
                if isinstance(text, str) and text:
                    self._refused = self._refused or key == "refusal"
                    out += self._text(text)
            calls = delta.get("tool_calls")
            if isinstance(calls, list):
                for call in calls:
                    if isinstance(call, dict):
                        out += self._tool_fragment(call)
        if choice.get("finish_reason") is not None:
            self._finish = choice["finish_reason"]
            out += self._flush()
            self._finished = True
        return out

    def _text(self, text: str) -> bytes:
        if isinstance(self._open, _Call) or self._waiting:
            last = self._waiting[-1] if self._waiting else None
            if not isinstance(last, _Text):
                last = _Text()
                self._waiting.append(last)
            last.parts.append(text)
            return self._advance()
        return self._out.text(text)

    def _tool_fragment(self, fragment: dict[str, Any]) -> bytes:
        index = fragment.get("index")
        key = index if isinstance(index, int) else self._last_key
        call_id = fragment.get("id")
        call_id = call_id if isinstance(call_id, str) and call_id else None
        call = self._calls.get(key)
        if call is not None and call_id is not None and call_id != call.id:
            # A new call under a used index: servers that send each call whole
            # without an `index` (some OpenAI-compatible ones) look like this.
            key, call = -1 - len(self._calls), None
        self._last_key = key
        if call is None:
            call = _Call(id=call_id or tool_use_id())
            self._calls[key] = call
            self._waiting.append(call)
        function = fragment.get("function")
        function = function if isinstance(function, dict) else {}
        name, arguments = function.get("name"), function.get("arguments")
        if isinstance(name, str) and any(call is w for w in self._waiting):
            call.name += name  # a name split over fragments, before its block began
        if isinstance(arguments, str) and arguments:
            call.arguments.append(arguments)
        # The open call's fragment goes out before its block may end.
        out = self._send_arguments(call) if call is self._open else b""
        return out + self._advance()

    def _send_arguments(self, call: _Call) -> bytes:
        pending = "".join(call.arguments[call.sent:])
        call.sent = len(call.arguments)
        return self._out.tool_input(pending)

    def _advance(self, force: bool = False) -> bytes:
        """Begin the waiting blocks whose turn it is: while the open block is over
        (text always is once something waits; a call when its arguments are whole)."""
        out = b""
        while self._waiting:
            if isinstance(self._open, _Call) and not force and not self._open.complete():
                break
            head = self._waiting[0]
            if isinstance(head, _Call) and not head.name:
                if not force:
                    break  # its block cannot begin without the tool's name
            self._waiting.pop(0)
            self._open = head
            if isinstance(head, _Text):
                out += self._out.text("".join(head.parts))
            else:
                out += self._out.tool_use(head.id, head.name) + self._send_arguments(head)
        return out

    def _flush(self) -> bytes:
        """The finish: every waiting block in its turn, then the last one closed."""
        out = self._advance(force=True) + self._out.close_block()
        self._open = None
        return out

    def _finish_message(self) -> bytes:
        reason = stop_reason(self._finish, refused=self._refused, tool_calls=bool(self._calls))
        return self._out.finish(reason, self.usage)
