"""The OpenAI Responses wire format: usage from a body or a stream, and the ids
that tie a follow-up to the stored answer it continues.

Errors share the Chat Completions shape: see openai_chat.error_body / stream_error.
"""

from __future__ import annotations

from typing import Any

import orjson

from .openai_chat import UsageKeys
from .sse import SSEParser
from .usage import Usage, usage_from_json

TERMINAL_EVENTS = frozenset({"response.completed", "response.failed", "response.incomplete"})
_READ_EVENTS = TERMINAL_EVENTS | {"error"}


RESPONSES_USAGE = UsageKeys(input="input_tokens", details="input_tokens_details", output="output_tokens")


def usage_from_body(body: bytes) -> tuple[Usage | None, str | None]:
    """Usage and model of a non-streamed response object."""
    return usage_from_json(body, RESPONSES_USAGE.from_object)


# --- stored responses and the requests that continue them (issue 13) ---------
#
# A request naming `previous_response_id` continues an answer the upstream
# stored, on the account that made it. Only stored answers are remembered:
# OpenAI keeps a response for later turns only when the request did not say
# `store: false` (the default is true), and Codex CLI, which always sends
# `store: false`, sends the whole conversation every turn instead. A response
# object that itself says `store: false` (the ChatGPT backend forces it) is
# not remembered either.

PREVIOUS_RESPONSE_FIELD = "previous_response_id"
# Longer ids are not OpenAI's (theirs are some 50 characters): not looked up or
# remembered (state keys stay small), and the upstream says what it makes of them.
MAX_RESPONSE_ID = 256
_STORED_STATUSES = frozenset({"completed", "incomplete"})
_STORED_EVENTS = frozenset({"response.completed", "response.incomplete"})


def _response_id(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= MAX_RESPONSE_ID else None


def previous_response_id(body: dict[str, Any]) -> str | None:
    """The stored answer a request continues, if it names one."""
    return _response_id(body.get(PREVIOUS_RESPONSE_FIELD))


def asks_to_store(body: dict[str, Any]) -> bool:
    """Whether the upstream is asked to keep the answer (`store` absent or true)."""
    return body.get("store") is not False


def stored_id(response: dict[str, Any], kind: str | None = None) -> str | None:
    """The id of a response object a later request may continue: one that ended
    (completed, or cut short: `incomplete`) and does not say it was not stored.
    `kind`: the terminal event that carried it, whose type says how it ended."""
    ended = kind in _STORED_EVENTS if kind is not None else response.get("status") in _STORED_STATUSES
    if not ended or response.get("store") is False:
        return None
    return _response_id(response.get("id"))


def read_body(body: bytes) -> tuple[Usage | None, str | None, str | None]:
    """Usage, model and stored id (`stored_id`) of a non-streamed response object, from one decode."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None, None
    if not isinstance(data, dict):
        return None, None, None
    model = data.get("model")
    return RESPONSES_USAGE.from_object(data), model if isinstance(model, str) else None, stored_id(data)


def _describe(error: Any) -> str:
    if not isinstance(error, dict):
        return "error"
    return f"{error.get('code') or error.get('type') or 'error'}: {error.get('message', '')}"


class StreamTap:
    """Reads usage out of a Responses stream as it passes, changing nothing.

    Usage lives only on the terminal event (`response.completed`, `.failed`,
    `.incomplete`, in `response.usage`); `error` events and `response.failed`
    give the error; the terminal event's response also gives `response_id`
    (`stored_id`: set only for an answer a later request may continue). Only
    those events are JSON-decoded, and nothing after the first terminal event
    is read (a relay may add a trailing `data: [DONE]`).
    """

    def __init__(self) -> None:
        self.usage = Usage()
        self.model: str | None = None
        self.error: str | None = None
        self.response_id: str | None = None
        self._sse = SSEParser()
        self._done = False

    @property
    def complete(self) -> bool:
        """A terminal event was seen: the client has the whole response."""
        return self._done

    def feed(self, chunk: bytes) -> bytes:
        if not self._done:
            for ev in self._sse.feed(chunk):
                self._read(ev.event, ev.data)
        return chunk

    def end(self) -> bytes:
        return b""

    def _read(self, event: str, payload: str) -> None:
        if self._done:
            return
        # The `event:` line names the type; a stream without them ("message")
        # carries it only in the JSON, so those are checked by substring first.
        if event not in _READ_EVENTS and not (
            event == "message" and ('"error"' in payload or ('"response.' in payload and "usage" in payload))
        ):
            return
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        if not isinstance(data, dict):
            return
        kind = data.get("type") or event
        if kind in TERMINAL_EVENTS:
            self._done = True
            response = data.get("response")
            if not isinstance(response, dict):
                return
            if isinstance(response.get("model"), str):
                self.model = response["model"]
            if isinstance(response.get("usage"), dict):
                RESPONSES_USAGE.fill(self.usage, response["usage"])
            if kind == "response.failed":
                self.error = _describe(response.get("error"))
            else:
                self.response_id = stored_id(response, kind)
        elif kind == "error" or isinstance(data.get("error"), dict):
            # OpenAI's `error` event is flat ({type, code, message}); the
            # gateway's own stream_error nests it ({"error": {...}}).
            self.error = _describe(data["error"] if isinstance(data.get("error"), dict) else data)


# Error codes of a failed response or an `error` event that mean "too many
# requests / quota used up" (the ChatGPT backend's `usage_limit_reached`).
_LIMIT_CODES = frozenset({"rate_limit_exceeded", "usage_limit_reached", "insufficient_quota"})
_COLLECTED_EVENTS = _READ_EVENTS | {"response.output_item.done"}


def failure_status(error: Any) -> int:
    """The HTTP status a failed response or an `error` event stands for: 429 for limits, else 502."""
    if not isinstance(error, dict):
        return 502
    limited = any(isinstance(error.get(key), str) and error[key] in _LIMIT_CODES for key in ("code", "type"))
    return 429 if limited else 502


def _error_answer(error: Any, fallback: str) -> tuple[int, bytes]:
    error = error if isinstance(error, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), str) else None
    status = failure_status(error)
    message = str(error.get("message") or fallback)
    kind = error.get("type") if isinstance(error.get("type"), str) and error.get("type") != "error" else None
    body = {"error": {"message": message, "type": kind or ("rate_limit_error" if status == 429 else "server_error"),
                      "param": error.get("param") if isinstance(error.get("param"), str) else None, "code": code}}
    return status, orjson.dumps(body)


class ResponseCollector:
    """Builds the non-streamed answer (a response object) out of a Responses stream.

    For upstreams that only stream (the ChatGPT backend Codex uses), when the
    client asked for a plain JSON answer. The terminal event carries the whole
    response; if its `output` is empty (some backends send it bare), the items
    of `response.output_item.done` events are put in, in output order. Nothing
    after the first terminal event is read. Pure: bytes in, (status, body) out.
    """

    def __init__(self) -> None:
        self._sse = SSEParser()
        self._items: dict[int, Any] = {}
        self._terminal: tuple[str, dict[str, Any]] | None = None
        self._error: Any = None

    @property
    def done(self) -> bool:
        return self._terminal is not None or self._error is not None

    def feed(self, chunk: bytes) -> None:
        for ev in self._sse.feed(chunk):
            if self.done:
                return
            if ev.event not in _COLLECTED_EVENTS and ev.event != "message":
                continue
            try:
                data = orjson.loads(ev.data)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(data, dict):
                continue
            kind = data.get("type") or ev.event
            if kind in TERMINAL_EVENTS and isinstance(data.get("response"), dict):
                self._terminal = (kind, data["response"])
            elif kind == "response.output_item.done":
                index = data.get("output_index")
                self._items[index if isinstance(index, int) else len(self._items)] = data.get("item")
            elif kind == "error":
                self._error = data.get("error") if isinstance(data.get("error"), dict) else data

    def result(self) -> tuple[int, bytes]:
        """The HTTP status and JSON body to answer: the response object (200),
        or an error in OpenAI's shape (429 for limits, else 502)."""
        if self._terminal is None:
            if self._error is not None:
                return _error_answer(self._error, "the upstream stream reported an error")
            return _error_answer(None, "the upstream stream ended before the response completed")
        kind, response = self._terminal
        if kind == "response.failed":
            return _error_answer(response.get("error"), "the upstream response failed")
        if not response.get("output") and self._items:
            response = {**response, "output": [self._items[i] for i in sorted(self._items)]}
        return 200, orjson.dumps(response)
