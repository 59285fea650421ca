"""The Gemini API wire format: model in the URL, usage, error shape, both stream shapes.

`streamGenerateContent` answers as SSE with `?alt=sse` (what the SDKs and the
Gemini CLI ask for) and otherwise as one JSON array whose elements arrive over
time. Both carry a whole GenerateContentResponse per element, with cumulative
`usageMetadata`: the last one seen is the answer, never a sum.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from .sse import SSEParser
from .usage import Usage, usage_from_json

# google.rpc.Code names Google puts in `error.status`, by HTTP status.
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


# finishReason by what it means to a client of another format, in OpenAI chat's
# words (stop, length, content_filter: the vocabulary every other format maps
# onto). A reason not listed (OTHER, MALFORMED_FUNCTION_CALL, ...) ended the
# answer without a filter or a limit: a plain stop.
FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}


def finish_reason(reason: Any) -> str | None:
    """A candidate's finishReason as `stop`, `length` or `content_filter`; None
    while the candidate has not finished."""
    if not reason or reason == "FINISH_REASON_UNSPECIFIED":
        return None
    return FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"


def status_name(status: int) -> str:
    return _STATUS_NAMES.get(status, "INVALID_ARGUMENT" if status < 500 else "INTERNAL")


def error_body(status: int, message: str) -> bytes:
    return orjson.dumps({"error": {"code": status, "message": message, "status": status_name(status)}})


def stream_error(status: int, message: str) -> bytes:
    """An SSE `data:` line carrying an error object, as Google sends one mid-stream.

    Streaming clients use `alt=sse`; a JSON-array client gets a broken array,
    which it cannot take for a whole answer either.
    """
    return b"data: " + error_body(status, message) + b"\r\n\r\n"


def error_message(body: bytes) -> str | None:
    """`STATUS: message` of a Google-shaped error body, if it is one."""
    try:
        err = orjson.loads(body)["error"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    return describe_error(err) if isinstance(err, dict) else None


def describe_error(err: dict[str, Any]) -> str:
    return f"{err.get('status', err.get('code', 'error'))}: {err.get('message', '')}"


def model_from_path(path: str) -> str | None:
    """The model in `.../models/{model}` or `.../models/{model}:method`."""
    _, found, rest = path.partition("/models/")
    if not found:
        return None
    model = rest.partition(":")[0]
    return model if model and "/" not in model else None


def usage_from_metadata(meta: dict[str, Any]) -> Usage:
    """usageMetadata in the gateway's terms: promptTokenCount includes the cached
    tokens, candidatesTokenCount excludes the thoughts (which are billed as output)."""

    def count(name: str) -> int:
        value = meta.get(name)
        return int(value) if isinstance(value, (int, float)) else 0

    cached = count("cachedContentTokenCount")
    return Usage(
        input_tokens=max(count("promptTokenCount") - cached, 0),
        output_tokens=count("candidatesTokenCount") + count("thoughtsTokenCount"),
        cache_read_tokens=cached,
    )


def usage_from_body(body: bytes) -> tuple[Usage | None, str | None]:
    """Usage and model version of a non-streamed GenerateContentResponse."""

    def read(data: dict[str, Any]) -> Usage | None:
        meta = data.get("usageMetadata")
        return usage_from_metadata(meta) if isinstance(meta, dict) else None

    return usage_from_json(body, read, model_key="modelVersion")


class JSONArraySplitter:
    """Cuts a streamed JSON array (`[{...},\\r\\n{...}]`) into its top-level objects.

    Only braces outside strings count; string contents are skipped with one
    regex search per string, so long text costs little. Bytes are held only
    for the object in progress, never for the whole stream.
    """

    _OUTSIDE = re.compile(rb'[{}"]')
    _INSIDE = re.compile(rb'["\\]')

    def __init__(self) -> None:
        self._depth = 0
        self._in_string = False
        self._escaped = False  # the previous chunk ended on a backslash inside a string
        self._held: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        objects: list[bytes] = []
        start = 0 if self._depth else -1  # where the object in progress begins in this chunk
        pos = 0
        end = len(chunk)
        while pos < end:
            if self._escaped:
                self._escaped = False
                pos += 1
                continue
            if self._in_string:
                m = self._INSIDE.search(chunk, pos)
                if m is None:
                    break
                pos = m.end()
                if chunk[m.start()] == 0x5C:  # backslash: the next byte is escaped
                    self._escaped = True
                else:
                    self._in_string = False
                continue
            m = self._OUTSIDE.search(chunk, pos)
            if m is None:
                break
            pos = m.end()
            c = chunk[m.start()]
            if c == 0x22:  # "
                self._in_string = True
            elif c == 0x7B:  # {
                if self._depth == 0:
                    start = m.start()
                self._depth += 1
            elif self._depth > 0:  # }
                self._depth -= 1
                if self._depth == 0:
                    objects.append(b"".join([*self._held, chunk[start:pos]]))
                    self._held = []
                    start = -1
        if self._depth > 0 and start >= 0:
            self._held.append(chunk[start:])
        return objects


class StreamUsage:
    """Reads usage out of a streamGenerateContent answer as it passes, changing nothing.

    The shape is told by the first byte that is not whitespace: `[` starts a
    JSON array, anything else is SSE. Only elements that carry usage or an
    error (or name the model, until one has) are JSON-decoded.
    """

    def __init__(self) -> None:
        self.usage = Usage()
        self.model: str | None = None
        self.error: str | None = None
        self._sse: SSEParser | None = None
        self._array: JSONArraySplitter | None = None

    def feed(self, chunk: bytes) -> bytes:
        if self._sse is None and self._array is None:
            head = chunk.lstrip()
            if not head:
                return chunk
            if head.startswith(b"["):
                self._array = JSONArraySplitter()
            else:
                self._sse = SSEParser()
        if self._array is not None:
            for element in self._array.feed(chunk):
                self._read(element)
        elif self._sse is not None:
            for event in self._sse.feed(chunk):
                self._read(event.data.encode())
        return chunk

    def end(self) -> bytes:
        return b""

    def _read(self, element: bytes) -> None:
        if self.model is not None and b'"usageMetadata"' not in element and b'"error"' not in element:
            return
        try:
            data = orjson.loads(element)
        except orjson.JSONDecodeError:
            return
        if isinstance(data, dict):
            model, error = read_element(self.usage, data)
            self.model = self.model or model
            self.error = error or self.error


def read_element(usage: Usage, data: dict[str, Any]) -> tuple[str | None, str | None]:
    """One streamed response element: its cumulative usage goes into `usage`
    (overwritten in place: the relay holds that object to record a cut stream);
    returns the model version and the error it names, if any."""
    meta = data.get("usageMetadata")
    if isinstance(meta, dict):
        latest = usage_from_metadata(meta)
        usage.input_tokens = latest.input_tokens
        usage.output_tokens = latest.output_tokens
        usage.cache_read_tokens = latest.cache_read_tokens
    model = data.get("modelVersion")
    err = data.get("error")
    error = describe_error(err) if isinstance(err, dict) else None
    return model if isinstance(model, str) else None, error
