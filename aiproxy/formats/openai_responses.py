"""The OpenAI Responses wire format: usage from a body or a stream.

Errors share the Chat Completions shape: see openai_chat.error_body / stream_error.
"""

from __future__ import annotations

from typing import Any

import orjson

from .openai_chat import token_count
from .sse import SSEParser
from .usage import Usage, usage_from_json

TERMINAL_EVENTS = frozenset({"response.completed", "response.failed", "response.incomplete"})
_READ_EVENTS = TERMINAL_EVENTS | {"error"}


def fill_usage(usage: Usage, u: dict[str, Any]) -> None:
    """Normalise Responses usage into `usage`, in place: input_tokens includes
    the cached tokens, ours does not."""
    details = u.get("input_tokens_details")
    cached = token_count(details.get("cached_tokens")) if isinstance(details, dict) else 0
    usage.input_tokens = max(token_count(u.get("input_tokens")) - cached, 0)
    usage.cache_read_tokens = cached
    usage.output_tokens = token_count(u.get("output_tokens"))  # includes reasoning tokens


def _usage_of(data: dict[str, Any]) -> Usage | None:
    if not isinstance(data.get("usage"), dict):
        return None
    usage = Usage()
    fill_usage(usage, data["usage"])
    return usage


def usage_from_body(body: bytes) -> tuple[Usage | None, str | None]:
    """Usage and model of a non-streamed response object."""
    return usage_from_json(body, _usage_of)


def _describe(error: Any) -> str:
    if not isinstance(error, dict):
        return "error"
    return f"{error.get('code') or error.get('type') or 'error'}: {error.get('message', '')}"


class StreamTap:
    """Reads usage out of a Responses stream as it passes, changing nothing.

    Usage lives only on the terminal event (`response.completed`, `.failed`,
    `.incomplete`, in `response.usage`); `error` events and `response.failed`
    give the error. Only those events are JSON-decoded, and nothing after the
    first terminal event is read (a relay may add a trailing `data: [DONE]`).
    """

    def __init__(self) -> None:
        self.usage = Usage()
        self.model: str | None = None
        self.error: str | None = None
        self._sse = SSEParser()
        self._done = False

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
                fill_usage(self.usage, response["usage"])
            if kind == "response.failed":
                self.error = _describe(response.get("error"))
        elif kind == "error" or isinstance(data.get("error"), dict):
            # OpenAI's `error` event is flat ({type, code, message}); the
            # gateway's own stream_error nests it ({"error": {...}}).
            self.error = _describe(data["error"] if isinstance(data.get("error"), dict) else data)
