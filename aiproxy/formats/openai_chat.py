"""The OpenAI Chat Completions wire format: error shape, usage, the stream tap.

OpenAI's own errors and the gateway's errors on OpenAI routes share one shape,
`{"error": {"message", "type", "param", "code"}}`; the Responses API uses it
too, so openai_responses imports the error functions from here.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from .sse import SSEFramer, frame_data
from .usage import Usage, usage_from_json

# (type, code) by HTTP status. The SDKs choose their exception by status alone;
# type and code are for people and for clients that switch on them.
_ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "insufficient_permissions"),
    404: ("not_found_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    413: ("invalid_request_error", "request_too_large"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", "server_error"),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "service_unavailable"),
    504: ("server_error", "timeout"),
}


def error_body(status: int, message: str) -> bytes:
    kind, code = _ERRORS.get(status, ("invalid_request_error" if status < 500 else "server_error", None))
    return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})


def stream_error(status: int, message: str) -> bytes:
    """A `data:` line the openai SDKs raise on (a chunk whose `error` is set), for a
    stream whose upstream broke after it began: no `[DONE]` follows it."""
    return b"data: " + error_body(status, message) + b"\n\n"


def token_count(value: Any) -> int:
    """A token count from JSON: a missing, null or odd value counts as 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True)
class UsageKeys:
    """Where an OpenAI API keeps its counts: Chat and Responses name them differently."""

    input: str
    details: str
    output: str

    def fill(self, usage: Usage, u: dict[str, Any]) -> None:
        """Normalise into `usage`, in place (a tap's usage is shared with the
        meter). The input count includes the cached tokens and those written to
        the cache (`cache_write_tokens`, where an answer carries it: the
        gateway's translated ones do, and some OpenAI-compatible servers): ours
        counts neither."""
        details = u.get(self.details)
        cached = written = 0
        if isinstance(details, dict):
            cached = token_count(details.get("cached_tokens"))
            written = token_count(details.get("cache_write_tokens"))
        usage.input_tokens = max(token_count(u.get(self.input)) - cached - written, 0)
        usage.cache_read_tokens = cached
        usage.cache_creation_tokens = written
        usage.output_tokens = token_count(u.get(self.output))  # includes reasoning tokens

    def from_object(self, data: dict[str, Any]) -> Usage | None:
        """The usage of a whole answer object, if it has one."""
        if not isinstance(data.get("usage"), dict):
            return None
        usage = Usage()
        self.fill(usage, data["usage"])
        return usage


CHAT_USAGE = UsageKeys(input="prompt_tokens", details="prompt_tokens_details", output="completion_tokens")


def usage_from_body(body: bytes) -> tuple[Usage | None, str | None]:
    """Usage and model of a non-streamed chat completion."""
    return usage_from_json(body, CHAT_USAGE.from_object)


def client_wants_usage(data: dict[str, Any] | None) -> bool:
    """Did the client itself ask for the usage chunk of a stream?"""
    options = data.get("stream_options") if data else None
    return isinstance(options, dict) and options.get("include_usage") is True


def prepare_body(data: dict[str, Any]) -> dict[str, Any]:
    """Ask for usage on every stream, or its tokens could not be counted.

    Returns a new dict and a new stream_options: the client's parsed body is
    shared, and the stream tap reads it later to learn what the client asked.
    """
    if not data.get("stream") or client_wants_usage(data):
        return data
    options = data.get("stream_options")
    return {**data, "stream_options": {**(options if isinstance(options, dict) else {}), "include_usage": True}}


# With include_usage every chunk carries `"usage":null`; a key can only appear
# unescaped as a key, so these tests are exact, and skip most JSON decoding.
_USAGE_KEY = b'"usage"'
_NULL_USAGE = re.compile(rb'"usage"\s*:\s*null')
_ERROR_KEY = b'"error"'


class StreamTap:
    """Reads usage out of a Chat Completions stream as it passes.

    Usage comes from the chunk whose `usage` is not null (Azure's first chunk,
    with `prompt_filter_results` and no usage, is not it). When the gateway
    injected include_usage, `drop_usage_chunk` removes that extra chunk
    (`choices: []` with usage) from what is relayed; every other byte passes
    unchanged, and without it the output is the input, chunk for chunk.
    """

    def __init__(self, drop_usage_chunk: bool = False) -> None:
        self.usage = Usage()
        self.model: str | None = None
        self.error: str | None = None
        self.complete = False  # `data: [DONE]` seen: the client has the whole answer
        self._drop = drop_usage_chunk
        self._framer = SSEFramer()

    def feed(self, chunk: bytes) -> bytes:
        frames = self._framer.feed(chunk)
        if not self._drop:
            for frame in frames:
                self._read(frame)
            return chunk
        # Dropping: whole events are relayed as they complete; a partial one waits.
        return b"".join([frame for frame in frames if self._read(frame)])

    def end(self) -> bytes:
        rest = self._framer.rest()
        if not rest:
            return b""
        keep = self._read(rest)
        return rest if self._drop and keep else b""

    def _read(self, frame: bytes) -> bool:
        """Take what this event tells; False when it is the usage chunk to drop."""
        if b"[DONE]" in frame and frame_data(frame) == b"[DONE]":
            self.complete = True
            return True
        has_usage = _USAGE_KEY in frame and not _NULL_USAGE.search(frame)
        if self.model is not None and not has_usage and _ERROR_KEY not in frame:
            return True
        payload = frame_data(frame)
        if not payload or payload == b"[DONE]":
            return True
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return True
        if not isinstance(data, dict):
            return True
        if isinstance(data.get("model"), str) and data["model"]:
            self.model = data["model"]
        error = data.get("error")
        if isinstance(error, dict):
            self.error = f"{error.get('code') or error.get('type') or 'error'}: {error.get('message', '')}"
            return True
        if not isinstance(data.get("usage"), dict):
            return True
        CHAT_USAGE.fill(self.usage, data["usage"])
        return not (self._drop and data.get("choices") == [])


# OpenAI's limit on `safety_identifier` (Chat Completions and Responses alike).
MAX_SAFETY_IDENTIFIER = 128


def safety_identifier(end_user: str) -> str:
    """An end-user id as `safety_identifier` takes it: longer ids (Claude
    Code's user_id runs past the limit) hashed, as OpenAI recommends anyway."""
    if len(end_user) <= MAX_SAFETY_IDENTIFIER:
        return end_user
    return hashlib.sha256(end_user.encode()).hexdigest()
