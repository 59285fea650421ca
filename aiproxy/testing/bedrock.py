"""A fake Bedrock runtime serving Claude, and an AWS event-stream frame encoder.

Frames are built by hand from the documented layout (prelude: total length,
headers length, CRC32 of those 8 bytes; headers as name-length, name, type 7
(string), value-length, value; payload; CRC32 of everything before it), so the
tests do not check botocore's parser against botocore's own encoder.

The model id steers the fake: "fail-<status>" answers that status with a
Bedrock error body; "throttle-mid-stream" streams a little, then sends a
throttlingException frame; "metrics-only" streams events without usage, which
only the final invocationMetrics carry. Anything else answers normally.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .upstream import FakeUpstream

USAGE = {"input_tokens": 12, "output_tokens": 7, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 200}
METRICS = {
    "inputTokenCount": 12,
    "outputTokenCount": 7,
    "invocationLatency": 812,
    "firstByteLatency": 345,
    "cacheReadInputTokenCount": 200,
    "cacheWriteInputTokenCount": 100,
}
TEXT_PIECES = ["Hello", ", ", "world", "!"]
ERRORS = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}


def encode_frame(headers: dict[str, str], payload: bytes) -> bytes:
    raw_headers = b""
    for name, value in headers.items():
        n, v = name.encode(), value.encode()
        raw_headers += struct.pack(">B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(raw_headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + raw_headers + payload
    return message + struct.pack(">I", zlib.crc32(message))


def chunk_frame(event: dict[str, Any]) -> bytes:
    payload = json.dumps({"bytes": base64.b64encode(json.dumps(event).encode()).decode(), "p": "abcdefghij"})
    return encode_frame(
        {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}, payload.encode()
    )


def exception_frame(name: str, message: str) -> bytes:
    return encode_frame(
        {":exception-type": name, ":content-type": "application/json", ":message-type": "exception"},
        json.dumps({"message": message}).encode(),
    )


def stream_events(model: str = "claude-sonnet-4-5-20250929", *, with_usage: bool = True) -> list[dict[str, Any]]:
    start_usage: dict[str, Any] = {**USAGE, "output_tokens": 1} if with_usage else {}
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {
            "id": "msg_bdrk_01", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": start_usage}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ]
    for piece in TEXT_PIECES:
        events.append({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}})
    delta: dict[str, Any] = {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}}
    if with_usage:
        delta["usage"] = {"output_tokens": USAGE["output_tokens"]}
    events += [
        {"type": "content_block_stop", "index": 0},
        delta,
        {"type": "message_stop", "amazon-bedrock-invocationMetrics": METRICS},
    ]
    return events


@dataclass
class Seen:
    method: str
    raw_path: str  # as sent on the wire, percent-encoding kept
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class FakeBedrock(FakeUpstream):
    requests: list[Seen] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/model/{model_id:path}/invoke", self.invoke, methods=["POST"]),
            Route("/model/{model_id:path}/invoke-with-response-stream", self.invoke_stream, methods=["POST"]),
        ])

    async def _record(self, request: Request) -> tuple[str, Response | None]:
        raw_path = request.scope.get("raw_path", request.url.path.encode()).decode()
        self.requests.append(Seen(request.method, raw_path, dict(request.headers), await request.body()))
        model_id = request.path_params["model_id"]
        if model_id.startswith("fail-"):
            status = int(model_id.split("-")[1])
            name = ERRORS.get(status, "InternalServerException")
            return model_id, JSONResponse(
                {"message": f"fake {name}"}, status_code=status,
                headers={"x-amzn-ErrorType": f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/",
                         "x-amzn-RequestId": "req-bdrk-err"},
            )
        return model_id, None

    async def invoke(self, request: Request) -> Response:
        model_id, failure = await self._record(request)
        if failure is not None:
            return failure
        return JSONResponse({
            "id": "msg_bdrk_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "text", "text": "".join(TEXT_PIECES)}],
            "stop_reason": "end_turn", "stop_sequence": None, "usage": USAGE,
        }, headers={"x-amzn-RequestId": "req-bdrk-1", "X-Amzn-Bedrock-Input-Token-Count": "12"})

    async def invoke_stream(self, request: Request) -> Response:
        model_id, failure = await self._record(request)
        if failure is not None:
            return failure
        if model_id == "throttle-mid-stream":
            frames = [chunk_frame(e) for e in stream_events()[:3]]
            frames.append(exception_frame("throttlingException", "Too many tokens, please wait before trying again."))
        else:
            frames = [chunk_frame(e) for e in stream_events(with_usage=model_id != "metrics-only")]

        async def body() -> AsyncIterator[bytes]:
            # Split frames across chunks, the way a network would.
            data = b"".join(frames)
            for i in range(0, len(data), 37):
                yield data[i:i + 37]

        return StreamingResponse(body(), media_type="application/vnd.amazon.eventstream",
                                 headers={"x-amzn-RequestId": "req-bdrk-2"})
