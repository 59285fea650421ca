"""The client's request as the gateway sees it: body read once, JSON parsed once.

Permission checks need the model before routing, and the relay needs the same
body to forward; whoever asks first reads it, and the result is kept on the
request's context (`context.RequestContext.inbound`) for the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.types import Receive, Scope

from .context import context
from .jsonbody import JSONBodyError, parse_json_body


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class InboundRequest:
    body: bytes
    json: dict[str, Any] | None
    model: str | None
    stream: bool


async def read_inbound(scope: Scope, receive: Receive, max_bytes: int) -> InboundRequest:
    ctx = context(scope)
    if ctx.inbound is not None:
        return ctx.inbound
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest(499, "client disconnected")
        body = message.get("body", b"")
        if body:
            size += len(body)
            if size > max_bytes:
                raise BadRequest(413, f"request body exceeds {max_bytes} bytes")
            chunks.append(body)
        if not message.get("more_body", False):
            break
    raw = b"".join(chunks)
    data: dict[str, Any] | None = None
    if raw.strip():
        try:
            parsed = parse_json_body(raw)
        except JSONBodyError as exc:
            raise BadRequest(400, str(exc)) from None
        if not isinstance(parsed, dict):
            raise BadRequest(400, "request body must be a JSON object")
        data = parsed
    model = data.get("model") if data else None
    inbound = InboundRequest(
        body=raw,
        json=data,
        model=model if isinstance(model, str) else None,
        stream=bool(data.get("stream")) if data else False,
    )
    ctx.inbound = inbound
    return inbound
