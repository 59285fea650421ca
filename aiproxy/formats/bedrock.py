"""AWS Bedrock serving Claude: model ids, request bodies, errors and the event stream.

Bedrock takes the Anthropic Messages body without `model` and `stream`, plus
`anthropic_version`, with the client's betas moved from the `anthropic-beta`
header into the body. Streamed answers come as AWS event-stream binary frames,
each `chunk` event carrying one Anthropic stream event (base64 JSON);
`EventStreamTranslator` turns them back into Anthropic SSE as they arrive, so
the /claude stream tap reads them like any Anthropic stream.

Pure: no I/O. botocore (the optional `bedrock` extra) is imported only by the
translator, for its event-stream frame parser.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Iterable, Mapping

import orjson

from . import anthropic

ANTHROPIC_VERSION = "bedrock-2023-05-31"
EVENT_STREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"

# Anthropic model name -> Bedrock model id. An account's `model_ids` option
# overrides entries; its `cross_region_prefix` option applies to these only.
MODEL_IDS: dict[str, str] = {
    "claude-sonnet-4-20250514": "anthropic.claude-sonnet-4-20250514-v1:0",
    "claude-sonnet-4-5-20250929": "anthropic.claude-sonnet-4-5-20250929-v1:0",
    "claude-opus-4-1-20250805": "anthropic.claude-opus-4-1-20250805-v1:0",
    "claude-opus-4-5-20251101": "anthropic.claude-opus-4-5-20251101-v1:0",
    "claude-haiku-4-5-20251001": "anthropic.claude-haiku-4-5-20251001-v1:0",
    "claude-3-5-haiku-20241022": "anthropic.claude-3-5-haiku-20241022-v1:0",
    # Undated aliases.
    "claude-sonnet-4": "anthropic.claude-sonnet-4-20250514-v1:0",
    "claude-sonnet-4-5": "anthropic.claude-sonnet-4-5-20250929-v1:0",
    "claude-opus-4-1": "anthropic.claude-opus-4-1-20250805-v1:0",
    "claude-opus-4-5": "anthropic.claude-opus-4-5-20251101-v1:0",
    "claude-haiku-4-5": "anthropic.claude-haiku-4-5-20251001-v1:0",
}

# Bedrock exception names (header `x-amzn-ErrorType` or `:exception-type`,
# compared lowercased) -> Anthropic error type.
_ERROR_TYPES = {
    "validationexception": "invalid_request_error",
    "accessdeniedexception": "permission_error",
    "unrecognizedclientexception": "authentication_error",
    "invalidsignatureexception": "authentication_error",
    "expiredtokenexception": "authentication_error",
    "resourcenotfoundexception": "not_found_error",
    "throttlingexception": "rate_limit_error",
    "servicequotaexceededexception": "rate_limit_error",
    "serviceunavailableexception": "overloaded_error",
    "internalserverexception": "api_error",
    "modelstreamerrorexception": "api_error",
    "modeltimeoutexception": "api_error",
    "modelerrorexception": "api_error",
    "modelnotreadyexception": "overloaded_error",
}


def model_id(model: str, overrides: Mapping[str, str] | None = None, cross_region_prefix: str | None = None) -> str | None:
    """The Bedrock model id for an Anthropic model name, or None if there is none.

    The account's own table wins and is used as given; a built-in id gets the
    cross-region inference prefix (`us`, `eu`, `apac`, `global`, …) if one is
    set; a name that already is a Bedrock id (or an inference profile ARN)
    passes unchanged.
    """
    if overrides and model in overrides:
        return overrides[model]
    if "anthropic." in model:
        return model
    builtin = MODEL_IDS.get(model)
    if builtin is None:
        return None
    return f"{cross_region_prefix.strip('.')}.{builtin}" if cross_region_prefix else builtin


def betas(headers: Iterable[tuple[bytes, bytes]]) -> list[str]:
    """The client's `anthropic-beta` values (comma lists, possibly repeated headers)."""
    found: dict[str, None] = {}  # ordered, and repeats found at once (not a list's linear `in`)
    for name, value in headers:
        if name.lower() == b"anthropic-beta":
            for item in value.decode("latin-1").split(","):
                item = item.strip()
                if item:
                    found[item] = None
    return list(found)


def request_body(body: Mapping[str, Any], beta: list[str]) -> bytes:
    """The Messages body as Bedrock takes it."""
    out = {k: v for k, v in body.items() if k not in ("model", "stream")}
    out["anthropic_version"] = ANTHROPIC_VERSION
    if beta:
        given = out.get("anthropic_beta")
        merged = list(given) if isinstance(given, list) else []
        merged += [b for b in beta if b not in merged]
        out["anthropic_beta"] = merged
    return orjson.dumps(out)


def _error(kind: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})


def error_body(status: int, body: bytes, error_type: str | None = None) -> bytes:
    """A Bedrock HTTP error answer (`{"message": ...}` plus an `x-amzn-ErrorType`
    header like `ThrottlingException:http://...`) in Anthropic's error shape."""
    name = (error_type or "").split(":", 1)[0].strip()
    message = None
    try:
        data = orjson.loads(body)
        if isinstance(data, dict):
            message = data.get("message") or data.get("Message")
            name = name or str(data.get("__type", "")).rsplit("#", 1)[-1]
    except orjson.JSONDecodeError:
        pass
    if not message:
        message = body[:500].decode("utf-8", "replace").strip() or f"HTTP {status}"
    text = f"Bedrock {name}: {message}" if name else f"Bedrock: {message}"
    kind = _ERROR_TYPES.get(name.lower())
    if kind is None:
        return anthropic.error_body(status, text)
    return _error(kind, text)


def models_list(overrides: Mapping[str, str] | None = None) -> bytes:
    """A `GET /v1/models` answer naming the models an account can serve."""
    names = list(dict.fromkeys([*(overrides or {}), *MODEL_IDS]))
    data = [{"type": "model", "id": n, "display_name": n, "created_at": "1970-01-01T00:00:00Z"} for n in names]
    return orjson.dumps(
        {"data": data, "has_more": False, "first_id": names[0] if names else None, "last_id": names[-1] if names else None}
    )


def _sse(event_type: str, data: bytes) -> bytes:
    return b"event: " + event_type.encode() + b"\ndata: " + data + b"\n\n"


def stream_error_event(kind: str, message: str) -> bytes:
    return _sse("error", _error(kind, message))


_METRIC_FIELDS = (
    ("inputTokenCount", "input_tokens"),
    ("outputTokenCount", "output_tokens"),
    ("cacheReadInputTokenCount", "cache_read_input_tokens"),
    ("cacheWriteInputTokenCount", "cache_creation_input_tokens"),
)


class EventStreamTranslator:
    """AWS event-stream bytes in, Anthropic SSE bytes out, incrementally.

    Frames may split anywhere across chunks (botocore's EventStreamBuffer holds
    the partial one). Each `chunk` event becomes one SSE event carrying the
    decoded JSON as Bedrock sent it; an exception frame becomes an SSE `error`
    event.

    Usage: Bedrock normally repeats Anthropic's usage in message_start and
    message_delta. Its final message_stop also carries
    `amazon-bedrock-invocationMetrics`; when a usage field never came in the
    events (output counts only from message_delta, since message_start's is a
    placeholder), it is filled in from those metrics. To do that without an
    extra event, the last message_delta is held back until the next event
    arrives and patched if that event is message_stop; if there was none to
    patch, a message_delta repeating the last delta (or a null one) is sent
    before message_stop.
    """

    def __init__(self) -> None:
        from botocore.eventstream import EventStreamBuffer  # the optional `bedrock` extra

        self._buffer = EventStreamBuffer()
        self._seen: set[str] = set()  # usage fields the events carried
        self._held: dict[str, Any] | None = None  # the last message_delta, not yet sent
        self._last_delta: dict[str, Any] | None = None
        self._broken = False
        self._unparsed = 0  # bytes fed that no whole frame has taken yet

    def feed(self, chunk: bytes) -> bytes:
        if self._broken or not chunk:
            return b""
        self._buffer.add_data(chunk)
        self._unparsed += len(chunk)
        out: list[bytes] = []
        try:
            for message in self._buffer:
                self._unparsed -= message.prelude.total_length
                out.append(self._frame(message.headers, message.payload))
        except Exception as exc:  # botocore's ParserError family: a corrupt frame
            self._broken = True
            out.append(self._flush())
            out.append(stream_error_event("api_error", f"Bedrock event stream could not be read: {type(exc).__name__}"))
        return b"".join(out)

    def end(self) -> bytes:
        if self._broken:
            return b""
        tail = self._flush()
        if self._unparsed:  # the upstream stopped in the middle of a frame
            tail += stream_error_event("api_error", "Bedrock event stream ended in the middle of a frame")
        return tail

    def _flush(self) -> bytes:
        if self._held is None:
            return b""
        held, self._held = self._held, None
        return _sse("message_delta", orjson.dumps(held))

    def _frame(self, headers: Mapping[str, Any], payload: bytes) -> bytes:
        message_type = headers.get(":message-type", "event")
        if message_type == "exception":
            name = str(headers.get(":exception-type", "exception"))
            return self._flush() + self._exception(name, payload)
        if message_type == "error":
            name = str(headers.get(":error-code", "error"))
            text = str(headers.get(":error-message", "")) or payload.decode("utf-8", "replace")
            return self._flush() + stream_error_event(_ERROR_TYPES.get(name.lower(), "api_error"), f"Bedrock {name}: {text}")
        if headers.get(":event-type", "chunk") != "chunk":
            return b""
        try:
            raw = base64.b64decode(orjson.loads(payload)["bytes"])
            event = orjson.loads(raw)
        except (orjson.JSONDecodeError, KeyError, TypeError, binascii.Error, ValueError):
            return self._flush() + stream_error_event("api_error", "Bedrock sent a chunk that is not a stream event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return b""
        return self._event(event, raw)

    def _exception(self, name: str, payload: bytes) -> bytes:
        message = payload.decode("utf-8", "replace")
        try:
            data = orjson.loads(payload)
            if isinstance(data, dict):
                message = str(data.get("message") or data.get("Message") or message)
        except orjson.JSONDecodeError:
            pass
        return stream_error_event(_ERROR_TYPES.get(name.lower(), "api_error"), f"Bedrock {name}: {message}")

    def _note_usage(self, usage: Any, *, output_counts: bool) -> None:
        if not isinstance(usage, dict):
            return
        for _, field in _METRIC_FIELDS:
            if usage.get(field) is not None and (field != "output_tokens" or output_counts):
                self._seen.add(field)

    def _event(self, event: dict[str, Any], raw: bytes) -> bytes:
        kind = event["type"]
        if kind == "message_start":
            self._note_usage((event.get("message") or {}).get("usage"), output_counts=False)
        elif kind == "message_delta":
            self._note_usage(event.get("usage"), output_counts=True)
            if isinstance(event.get("delta"), dict):
                self._last_delta = event["delta"]
            out = self._flush()
            self._held = event
            return out
        elif kind == "message_stop":
            return self._stop(event) + _sse(kind, _one_line(raw, event))
        return self._flush() + _sse(kind, _one_line(raw, event))

    def _stop(self, event: dict[str, Any]) -> bytes:
        """What goes before message_stop: the held message_delta, completed from the metrics."""
        metrics = event.get("amazon-bedrock-invocationMetrics")
        missing: dict[str, int] = {}
        if isinstance(metrics, dict):
            for metric, field in _METRIC_FIELDS:
                if field not in self._seen and isinstance(metrics.get(metric), int):
                    missing[field] = metrics[metric]
        if missing:
            delta = self._held or {
                "type": "message_delta",
                "delta": self._last_delta or {"stop_reason": None, "stop_sequence": None},
            }
            usage = delta.get("usage")
            if not isinstance(usage, dict):
                usage = {}
            delta = {**delta, "usage": {**usage, **missing}}
            self._held = delta
            self._seen.update(missing)
        return self._flush()


def _one_line(raw: bytes, event: dict[str, Any]) -> bytes:
    # Relayed as Bedrock sent it; re-encoded only if it would break the SSE line.
    return orjson.dumps(event) if b"\n" in raw or b"\r" in raw else raw
