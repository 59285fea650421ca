"""OpenAI Responses clients on Anthropic accounts: the stream.

Anthropic events become the Responses event sequence the openai SDK's
accumulator and Codex CLI read: `response.created` and `response.in_progress`
at `message_start`; per output item `response.output_item.added`, its deltas,
its `…done` events and `response.output_item.done` with the whole item (Codex
acts on that one); then `response.completed` (or `response.incomplete` when
the answer was cut) whose response carries every item and the usage. One
response id throughout, and a `sequence_number` rising by one on every event.

Items are made as the answer module makes them (same ids, same kinds). Text
deltas are relayed as they come, inside a `message` item that stays open over
consecutive text blocks (one `output_text` part, with its
`content_part.added` first, per block). A function call's JSON fragments are
relayed as `function_call_arguments.delta`s. A custom tool's input is the
string inside its JSON fragments (`{"input": "..."}`): it is decoded as the
fragments come (`_StringValue`) and relayed as
`custom_tool_call_input.delta`s, so Codex shows a patch while it is written.
What cannot be relayed before it is whole is held for its one item only: a
`local_shell_call`'s action and a `tool_search_call`'s arguments are parsed at
their end; a thinking block's text and
signature go into `encrypted_content` at its end (its text streams as
`reasoning_summary_text.delta`s when summaries were asked for).

An Anthropic `error` event, or a stream that ends without `message_stop`,
becomes `response.failed` with `error{code, message}`: Codex (codex-api's
sse/responses.rs) reads the failure there and retries it (with a delay for
`rate_limit_exceeded`), while it passes over an `error` event; the openai SDK
yields the event and its `get_final_response()` then raises, as no
`response.completed` came. Nothing is read after a terminal event.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import orjson

from .. import anthropic
from ..sse import SSEFramer, typed_json_event
from ..usage import Usage
from .openai_responses_anthropic_answer import (
    CUSTOM_INPUT,
    ReplyContext,
    call_item,
    item_id,
    message_item,
    output_text,
    reasoning_item,
    response_id,
    response_object,
    status_of,
    tool_kind,
)

# Anthropic error types that are limits: Responses' code for them.
_LIMIT_ERRORS = frozenset({"rate_limit_error"})


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


_HEX = frozenset("0123456789abcdefABCDEF")


class _StringValue:
    """The text of one JSON string member (`{"input": "..."}`), decoded as its fragments arrive.

    Only the shape a model writes for a one-argument schema is followed: the
    object opening with that member. Anything else (another member first, a
    malformed escape) stops the decoding, and the whole value is read from the
    finished JSON instead.
    """

    def __init__(self, member: str) -> None:
        self._opening = '{"' + member + '":"'  # compared without whitespace
        self._seen = ""  # the opening read so far, whitespace dropped
        self._raw = ""  # escaped text not decoded yet
        self.decoded = ""  # all the text decoded so far
        self.failed = False
        self._inside = False
        self._closed = False

    def feed(self, fragment: str) -> str:
        """The newly decoded text this fragment completes."""
        if self.failed or self._closed:
            return ""
        if not self._inside:
            for n, char in enumerate(fragment):
                if char.isspace():
                    continue  # between the opening's tokens (the member's name has none)
                self._seen += char
                if not self._opening.startswith(self._seen):
                    self.failed = True
                    return ""
                if self._seen == self._opening:
                    self._inside = True
                    fragment = fragment[n + 1:]
                    break
            else:
                return ""
        self._raw += fragment
        end = self._safe_end()
        if end is None:
            self.failed = True
            return ""
        try:
            text = orjson.loads('"' + self._raw[:end] + '"')
        except orjson.JSONDecodeError:
            self.failed = True
            return ""
        self._raw = self._raw[end:]
        if self._raw.startswith('"'):
            self._closed = True
        self.decoded += text
        return str(text)

    def _safe_end(self) -> int | None:
        """How much of the raw text decodes whole (up to an escape cut short or the closing quote);
        None for a malformed escape."""
        raw, i = self._raw, 0
        while i < len(raw):
            char = raw[i]
            if char == '"':
                return i
            if char != "\\":
                i += 1
                continue
            if i + 1 >= len(raw):
                return i
            if raw[i + 1] != "u":
                i += 2
                continue
            if i + 6 > len(raw):
                return i
            if not set(raw[i + 2:i + 6]) <= _HEX:
                return None
            if 0xD800 <= int(raw[i + 2:i + 6], 16) < 0xDC00:  # a surrogate pair: both halves or neither
                if i + 12 > len(raw):
                    return i
                if raw[i + 6:i + 8] != "\\u" or not set(raw[i + 8:i + 12]) <= _HEX:
                    return None
                i += 12
            else:
                i += 6
        return i


class _Block:
    """The Anthropic content block being streamed, and its output item's bookkeeping."""

    def __init__(self, kind: str, index: int, item: dict[str, Any]) -> None:
        self.kind = kind  # "text" | "reasoning" | the tool's item type
        self.index = index  # its output item's index
        self.item = item
        self.parts: list[str] = []  # text, thinking text, or JSON fragments as they came
        self.signature = ""
        self.redacted = ""
        self.name = ""  # a tool call's tool
        self.input = _StringValue(CUSTOM_INPUT)  # a custom tool's input, decoded as it comes


class AnthropicToResponsesStream:
    """One Anthropic Messages stream as the Responses events of the same answer."""

    def __init__(self, model: str, context: ReplyContext | None = None) -> None:
        self.usage = Usage()
        self._model = model
        self._context = context or ReplyContext()
        self._framer = SSEFramer()
        self._seq = 0
        self._id = ""
        self._created_at = int(time.time())
        self._raw_usage: dict[str, Any] = {}  # Anthropic's usage fields, later non-null values over earlier
        self._output: list[dict[str, Any]] = []  # finished items, in output order
        self._message: _Block | None = None  # the open message item (consecutive text blocks)
        self._texts: list[str] = []  # the open message item's finished parts
        self._text_open = False  # a text block is open (its part in the message item)
        self._block: _Block | None = None  # the open non-text block
        self._skipping = False  # inside a block the client has no item for
        self._stop_reason: Any = None
        self._done = False

    # --- the StreamTranslator protocol ---------------------------------------

    def feed(self, chunk: bytes) -> bytes:
        out = []
        for frame in self._framer.feed(chunk):
            if self._done:
                break
            out.append(self._frame(frame))
        return b"".join(out)

    def end(self) -> bytes:
        out = b""
        rest = self._framer.rest()
        if rest and not self._done:
            out = self._frame(rest)  # a last event without its blank line
        if self._done:
            return out
        return out + self._fail("server_error", "the upstream stream ended before the response completed")

    # --- writing ---------------------------------------------------------------

    def _event(self, kind: str, data: dict[str, Any]) -> bytes:
        data = {"type": kind, "sequence_number": self._seq, **data}
        self._seq += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    def _response(self, status: str, incomplete: dict[str, str] | None = None,
                  error: dict[str, str] | None = None, usage: Usage | None = None) -> dict[str, Any]:
        return response_object(id=self._id, model=self._model, created_at=self._created_at, status=status,
                               output=list(self._output), usage=usage, incomplete=incomplete, error=error)

    def _start(self, message_id: Any = None) -> bytes:
        if self._id:
            return b""
        self._id = response_id(message_id)
        response = self._response("in_progress")
        return (self._event("response.created", {"response": response})
                + self._event("response.in_progress", {"response": response}))

    def _added(self, block: _Block) -> bytes:
        return self._event("response.output_item.added", {"output_index": block.index, "item": block.item})

    def _item_done(self, block: _Block, item: dict[str, Any]) -> bytes:
        self._output.append(item)
        return self._event("response.output_item.done", {"output_index": block.index, "item": item})

    def _close_message(self) -> bytes:
        message = self._message
        if message is None:
            return b""
        self._message = None
        item = message_item(message.item["id"], self._texts)
        self._texts = []
        return self._item_done(message, item)

    # --- reading -----------------------------------------------------------------

    def _frame(self, frame: bytes) -> bytes:
        read = typed_json_event(frame)
        if read is None:
            return b""
        kind, data = read
        handler = _HANDLERS.get(kind)
        return handler(self, data) if handler is not None else b""

    def _message_start(self, data: dict[str, Any]) -> bytes:
        message = data.get("message") if isinstance(data.get("message"), dict) else {}
        assert isinstance(message, dict)
        self._take_usage(message.get("usage"))
        return self._start(message.get("id"))

    def _take_usage(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        # Later events repeat only what they know: a null or absent count keeps the earlier one.
        self._raw_usage.update({k: v for k, v in usage.items() if v is not None})
        known = anthropic.usage_from_message({"usage": self._raw_usage})
        for name in ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens",
                     "cache_creation_1h_tokens"):
            setattr(self.usage, name, getattr(known, name))

    def _block_start(self, data: dict[str, Any]) -> bytes:
        block = data.get("content_block")
        kind = block.get("type") if isinstance(block, dict) else None
        if not isinstance(block, dict) or kind not in ("text", "thinking", "redacted_thinking", "tool_use"):
            self._skipping = True  # server-tool blocks and anything newer: nothing the client could use
            return b""
        self._skipping = False
        out = self._start()
        index = len(self._output)
        if kind == "text":
            if self._message is None:
                self._message = _Block("text", index, message_item(item_id("msg", self._id, index), [],
                                                                  "in_progress"))
                out += self._added(self._message)
            self._message.parts = []
            self._text_open = True
            return out + self._event("response.content_part.added", {
                **self._where(self._message), "part": output_text("")})
        out += self._close_message()
        index = len(self._output)
        if kind == "tool_use":
            name, call_id = _text(block.get("name")), _text(block.get("id"))
            item = call_item(self._id, index, call_id, name, {}, self._context, status="in_progress")
            if item["type"] == "function_call":
                item["arguments"] = ""
            self._block = _Block(tool_kind(name, self._context), index, item)
            self._block.name = name
            return out + self._added(self._block)
        self._block = _Block("reasoning", index, {"id": item_id("rs", self._id, index), "type": "reasoning",
                                                  "summary": []})
        self._block.redacted = _text(block.get("data"))
        self._block.signature = _text(block.get("signature"))
        if _text(block.get("thinking")):
            self._block.parts.append(block["thinking"])
        out += self._added(self._block)
        if self._context.summary and kind == "thinking":
            out += self._event("response.reasoning_summary_part.added", {
                **self._where(self._block, summary=True), "part": {"type": "summary_text", "text": ""}})
        return out

    def _where(self, block: _Block, summary: bool = False) -> dict[str, Any]:
        where: dict[str, Any] = {"item_id": block.item["id"], "output_index": block.index}
        if summary:
            where["summary_index"] = 0
        elif block.kind == "text":
            where["content_index"] = len(self._texts)
        return where

    def _block_delta(self, data: dict[str, Any]) -> bytes:
        delta = data.get("delta")
        if self._skipping or not isinstance(delta, dict):
            return b""
        kind = delta.get("type")
        if kind == "text_delta" and self._message is not None and self._text_open:
            text = _text(delta.get("text"))
            if not text:
                return b""
            self._message.parts.append(text)
            return self._event("response.output_text.delta", {**self._where(self._message), "delta": text,
                                                               "logprobs": []})
        block = self._block
        if block is None:
            return b""
        if kind == "thinking_delta" and block.kind == "reasoning":
            text = _text(delta.get("thinking"))
            block.parts.append(text)
            if self._context.summary and text:
                return self._event("response.reasoning_summary_text.delta", {
                    **self._where(block, summary=True), "delta": text})
        elif kind == "signature_delta" and block.kind == "reasoning":
            block.signature += _text(delta.get("signature"))
        elif kind == "input_json_delta" and block.kind not in ("text", "reasoning"):
            fragment = _text(delta.get("partial_json"))
            block.parts.append(fragment)
            if block.kind == "function_call" and fragment:
                return self._event("response.function_call_arguments.delta", {**self._where(block),
                                                                               "delta": fragment})
            if block.kind == "custom_tool_call":
                text = block.input.feed(fragment)
                if text:
                    return self._event("response.custom_tool_call_input.delta", {**self._where(block),
                                                                                  "delta": text})
        return b""

    def _block_stop(self, data: dict[str, Any]) -> bytes:
        if self._skipping:
            self._skipping = False
            return b""
        block, self._block = self._block, None
        if block is None:
            return self._text_done()
        if block.kind == "reasoning":
            return self._reasoning_done(block)
        arguments = "".join(block.parts)
        try:
            parsed = orjson.loads(arguments) if arguments.strip() else {}
        except orjson.JSONDecodeError:
            parsed = {}  # cut-off arguments (the limit hit mid-call): the status says why
        item = call_item(self._id, block.index, block.item["call_id"], block.name, parsed, self._context)
        out = b""
        if block.kind == "function_call":
            # The arguments exactly as relayed, even when cut: the deltas added up to them.
            item["arguments"] = arguments if arguments.strip() else "{}"
            out = self._event("response.function_call_arguments.done", {
                **self._where(block), "name": item["name"], "arguments": item["arguments"]})
        elif block.kind == "custom_tool_call":
            # What the deltas did not carry yet: the rest, or (decoding stopped early) the whole.
            sent = block.input.decoded
            rest = item["input"][len(sent):] if item["input"].startswith(sent) else ""
            if rest:
                out = self._event("response.custom_tool_call_input.delta", {**self._where(block), "delta": rest})
            out += self._event("response.custom_tool_call_input.done", {**self._where(block),
                                                                         "input": item["input"]})
        return out + self._item_done(block, item)

    def _text_done(self) -> bytes:
        message = self._message
        if message is None or not self._text_open:
            return b""
        self._text_open = False
        text = "".join(message.parts)
        where = self._where(message)
        self._texts.append(text)
        return (self._event("response.output_text.done", {**where, "text": text, "logprobs": []})
                + self._event("response.content_part.done", {**where, "part": output_text(text)}))

    def _reasoning_done(self, block: _Block) -> bytes:
        text = "".join(block.parts)
        if block.redacted:
            whole = {"type": "redacted_thinking", "data": block.redacted}
        else:
            whole = {"type": "thinking", "thinking": text, "signature": block.signature}
        item = reasoning_item(block.item["id"], whole, self._context)
        out = b""
        if self._context.summary and not block.redacted:
            where = self._where(block, summary=True)
            out = (self._event("response.reasoning_summary_text.done", {**where, "text": text})
                   + self._event("response.reasoning_summary_part.done", {
                       **where, "part": {"type": "summary_text", "text": text}}))
        return out + self._item_done(block, item)

    def _message_delta(self, data: dict[str, Any]) -> bytes:
        delta = data.get("delta")
        if isinstance(delta, dict) and delta.get("stop_reason") is not None:
            self._stop_reason = delta["stop_reason"]
        self._take_usage(data.get("usage"))
        return b""

    def _message_stop(self, data: dict[str, Any]) -> bytes:
        out = self._start() + self._close_open() + self._close_message()
        self._done = True
        status, incomplete = status_of(self._stop_reason)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return out + self._event(kind, {"response": self._response(status, incomplete, usage=self.usage)})

    def _close_open(self) -> bytes:
        """A block the upstream never closed, closed as it stands."""
        if self._block is not None or self._text_open:
            return self._block_stop({})
        return b""

    def _error(self, data: dict[str, Any]) -> bytes:
        failure = data.get("error") if isinstance(data.get("error"), dict) else {}
        assert isinstance(failure, dict)
        code = "rate_limit_exceeded" if _text(failure.get("type")) in _LIMIT_ERRORS else "server_error"
        return self._fail(code, _text(failure.get("message")) or "the upstream stream reported an error")

    def _fail(self, code: str, message: str) -> bytes:
        out = self._start()
        self._done = True
        return out + self._event("response.failed", {"response": self._response(
            "failed", error={"code": code, "message": message}, usage=self.usage)})


_Handler = Callable[[AnthropicToResponsesStream, dict[str, Any]], bytes]
_HANDLERS: dict[str, _Handler] = {
    "message_start": AnthropicToResponsesStream._message_start,
    "content_block_start": AnthropicToResponsesStream._block_start,
    "content_block_delta": AnthropicToResponsesStream._block_delta,
    "content_block_stop": AnthropicToResponsesStream._block_stop,
    "message_delta": AnthropicToResponsesStream._message_delta,
    "message_stop": AnthropicToResponsesStream._message_stop,
    "error": AnthropicToResponsesStream._error,
}
