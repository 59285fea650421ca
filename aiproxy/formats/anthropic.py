"""The Anthropic Messages wire format: request fields, usage, error shape."""

from __future__ import annotations

from typing import Any

import orjson

from .sse import SSEParser
from .usage import Usage, usage_from_json

# Anthropic's error types by HTTP status (https://docs.anthropic.com/en/api/errors).
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "api_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str) -> bytes:
    kind = _ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})


def error_message(body: bytes) -> str | None:
    """The message of an upstream error body, if it is Anthropic-shaped."""
    try:
        data = orjson.loads(body)
        return str(data["error"]["message"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None


def apply_usage(usage: Usage, u: dict[str, Any]) -> None:
    """A Messages `usage` object read into `usage`, in place (the stream's
    events carry cumulative counts: each overwrites, none is summed)."""
    # Later events repeat only the fields they know; null or absent means "unchanged".
    if u.get("input_tokens") is not None:
        usage.input_tokens = int(u["input_tokens"])
    if u.get("output_tokens") is not None:
        usage.output_tokens = int(u["output_tokens"])
    if u.get("cache_creation_input_tokens") is not None:
        usage.cache_creation_tokens = int(u["cache_creation_input_tokens"])
    if u.get("cache_read_input_tokens") is not None:
        usage.cache_read_tokens = int(u["cache_read_input_tokens"])
    split = u.get("cache_creation")
    if isinstance(split, dict) and split.get("ephemeral_1h_input_tokens") is not None:
        usage.cache_creation_1h_tokens = int(split["ephemeral_1h_input_tokens"])


def end_user(metadata: Any) -> str | None:
    """The end user a Messages body names (`metadata.user_id`), if any."""
    user = metadata.get("user_id") if isinstance(metadata, dict) else None
    return user if isinstance(user, str) and user else None


def usage_from_message(message: dict[str, Any]) -> Usage:
    usage = Usage()
    if isinstance(message.get("usage"), dict):
        apply_usage(usage, message["usage"])
    return usage


class StreamUsage:
    """Reads usage out of a Messages SSE stream as it passes, changing nothing.

    Input and cache counts come from message_start; message_delta carries
    cumulative counts that overwrite them (never summed). Only those events
    and `error` are JSON-decoded, so text deltas cost a line split and no more.
    """

    def __init__(self) -> None:
        self.usage = Usage()
        self.model: str | None = None
        self.error: str | None = None
        self.complete = False  # message_stop seen: the client has the whole message
        self._sse = SSEParser()

    def feed(self, chunk: bytes) -> bytes:
        self._read(chunk)
        return chunk

    def end(self) -> bytes:
        return b""

    def _read(self, chunk: bytes) -> None:
        for ev in self._sse.feed(chunk):
            if ev.event == "message_stop":
                self.complete = True
                continue
            if ev.event not in ("message_start", "message_delta", "error"):
                continue
            try:
                data = orjson.loads(ev.data)
            except orjson.JSONDecodeError:
                continue
            if ev.event == "message_start":
                message = data.get("message") or {}
                self.model = message.get("model") or self.model
                if isinstance(message.get("usage"), dict):
                    apply_usage(self.usage, message["usage"])
            elif ev.event == "message_delta":
                if isinstance(data.get("usage"), dict):
                    apply_usage(self.usage, data["usage"])
            else:
                err = data.get("error") or {}
                self.error = f"{err.get('type', 'error')}: {err.get('message', '')}"


def usage_from_body(body: bytes) -> tuple[Usage | None, str | None]:
    """Usage and model of a non-streamed Messages response."""
    return usage_from_json(body, usage_from_message)


def stream_error_event(status: int, message: str) -> bytes:
    """An SSE `error` event, for a stream whose upstream broke after it began:
    clients then raise an error instead of taking a cut stream for a whole one."""
    return b"event: error\ndata: " + error_body(status, message) + b"\n\n"
