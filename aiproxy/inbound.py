"""The client's request as the gateway sees it: body read once, JSON parsed once.

Permission checks need the model before routing, and the relay needs the same
body to forward; whoever asks first reads it, and the result is kept on
`scope["state"]` for the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.types import Receive, Scope

from .jsonbody import JSONBodyError, parse_json_body

STATE_KEY = "inbound"
# Where key auth puts the caller's ApiKey on scope["state"] (read by the other
# middleware and by the relay, for the key's account bindings).
API_KEY_STATE = "api_key"


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
    state = scope.setdefault("state", {})
    cached = state.get(STATE_KEY)
    if cached is not None:
        return cached
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
    state[STATE_KEY] = inbound
    return inbound
