"""A fake Anthropic API that records what it was sent and answers like the real one.

The model name steers it: "fail-<status>" answers that status with an
Anthropic error body; anything else answers normally with fixed usage.
With `call_tools`, a request that offers tools and whose last turn holds no
tool_result is answered with a `tool_use` of its first tool (`TOOL_INPUT`, id
`TOOL_USE_ID`; streamed as `input_json_delta` fragments split mid-token), as a
model starting an agent loop would; the turn after the result gets the text.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .upstream import FakeUpstream

USAGE = {
    "input_tokens": 12,
    "output_tokens": 7,
    "cache_creation_input_tokens": 100,
    "cache_read_input_tokens": 200,
}
TEXT_PIECES = ["Hello", ", ", "world", "!"]
TOOL_USE_ID = "toolu_fake"
TOOL_INPUT = {"path": "README.md"}
TOOL_INPUT_PIECES = ['{"pa', 'th": "READ', 'ME.md"}']


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def tool_to_call(body: dict[str, Any]) -> str | None:
    """The tool a request makes the fake call (with `call_tools`): its first, unless
    the last turn holds a tool's result."""
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools or not isinstance(tools[0], dict):
        return None
    messages = body.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages and isinstance(messages[-1], dict) else {}
    content = last.get("content")
    if isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content):
        return None
    name = tools[0].get("name")
    return str(name) if name else None


def tool_use_events(model: str, name: str) -> list[bytes]:
    """A streamed answer that is one call of `name`, its input in fragments."""
    events = [
        sse("message_start", {"type": "message_start", "message": {
            "id": "msg_fake_tool", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {**USAGE, "output_tokens": 1}}}),
        sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {
            "type": "tool_use", "id": TOOL_USE_ID, "name": name, "input": {}}}),
    ]
    for piece in TOOL_INPUT_PIECES:
        events.append(sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                  "delta": {"type": "input_json_delta", "partial_json": piece}}))
    return events + [
        sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                              "usage": {"output_tokens": USAGE["output_tokens"]}}),
        sse("message_stop", {"type": "message_stop"}),
    ]


def stream_events(model: str, cache_creation: dict[str, Any] | None = None) -> list[bytes]:
    start_usage: dict[str, Any] = {**USAGE, "output_tokens": 1}
    if cache_creation is not None:
        start_usage["cache_creation"] = cache_creation
    events = [
        sse("message_start", {"type": "message_start", "message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": start_usage}}),
        sse("content_block_start", {"type": "content_block_start", "index": 0,
                                    "content_block": {"type": "text", "text": ""}}),
        sse("ping", {"type": "ping"}),
    ]
    for piece in TEXT_PIECES:
        events.append(sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                  "delta": {"type": "text_delta", "text": piece}}))
    events += [
        sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                              "usage": {"output_tokens": USAGE["output_tokens"]}}),
        sse("message_stop", {"type": "message_stop"}),
    ]
    return events


@dataclass
class FakeAnthropic(FakeUpstream):
    requests: list[Seen] = field(default_factory=list)
    # Seconds between stream events, and how many events to send before
    # pausing forever (to test disconnects); None: send them all.
    delay: float = 0.0
    stall_after: int | None = None
    # Set when a stream's generator ends for any reason (a threading.Event:
    # the fake may run on a uvicorn thread while the test waits on another).
    stream_closed: threading.Event = field(default_factory=threading.Event)
    # If set, usage also carries this `cache_creation` split (e.g.
    # {"ephemeral_5m_input_tokens": 40, "ephemeral_1h_input_tokens": 60}).
    cache_creation: dict[str, Any] | None = None
    # Answer a request that offers tools with a call of its first one (see the module docstring).
    call_tools: bool = False

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v1/messages", self.messages, methods=["POST"]),
            Route("/v1/messages/count_tokens", self.count_tokens, methods=["POST"]),
            Route("/v1/models", self.models, methods=["GET"]),
        ])

    async def _record(self, request: Request) -> Seen:
        seen = Seen(request.method, request.url.path, request.url.query, dict(request.headers), await request.body())
        self.requests.append(seen)
        return seen

    async def messages(self, request: Request) -> Response:
        seen = await self._record(request)
        body = seen.json
        model = body.get("model", "")
        if model.startswith("fail-"):
            status = int(model.split("-")[1])
            return JSONResponse({"type": "error", "error": {"type": "api_error", "message": f"fake {status}"}},
                                status_code=status, headers={"request-id": "req_fake"})
        tool = tool_to_call(body) if self.call_tools else None
        if tool is not None:
            if body.get("stream"):
                return StreamingResponse(iter(tool_use_events(model, tool)), media_type="text/event-stream",
                                         headers={"request-id": "req_fake"})
            return JSONResponse({
                "id": "msg_fake_tool", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "tool_use", "id": TOOL_USE_ID, "name": tool, "input": TOOL_INPUT}],
                "stop_reason": "tool_use", "stop_sequence": None, "usage": USAGE,
            }, headers={"request-id": "req_fake"})
        if body.get("stream"):
            return StreamingResponse(self._stream(model), media_type="text/event-stream",
                                     headers={"request-id": "req_fake"})
        return JSONResponse({
            "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": "".join(TEXT_PIECES)}],
            "stop_reason": "end_turn", "stop_sequence": None,
            "usage": USAGE if self.cache_creation is None else {**USAGE, "cache_creation": self.cache_creation},
        }, headers={"request-id": "req_fake", "anthropic-ratelimit-requests-remaining": "99"})

    async def _stream(self, model: str) -> AsyncIterator[bytes]:
        try:
            for i, event in enumerate(stream_events(model, self.cache_creation)):
                if self.stall_after is not None and i >= self.stall_after:
                    await anyio.sleep_forever()
                if self.delay:
                    await anyio.sleep(self.delay)
                yield event
        finally:
            self.stream_closed.set()

    async def count_tokens(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse({"input_tokens": 42})

    async def models(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse({"data": [{"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5",
                                       "created_at": "2025-09-29T00:00:00Z"}],
                             "has_more": False, "first_id": "claude-sonnet-4-5", "last_id": "claude-sonnet-4-5"})
