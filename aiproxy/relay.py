"""One request's trip: pick an account, send upstream, relay the answer back.

Streams are relayed chunk by chunk as they arrive, and usage is read from the
chunks on the way. While the upstream exchange runs, a watcher listens for the
client's disconnect and cancels it, which closes the upstream request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol
from urllib.parse import parse_qsl, urlencode

import anyio
import anyio.lowlevel
import httpx
from starlette.types import Message, Receive, Scope, Send

from .adapters.base import Adapter, UpstreamCall
from .errors import error_response
from .formats.dialect import Dialect
from .formats.usage import Usage
from .headers import client_response_headers, upstream_request_headers
from .inbound import BadRequest, read_inbound
from .scheduler.pool import AccountPool
from .usage.meter import STATE_KEY as USAGE_KEY
from .usage.meter import UsageMeter

log = logging.getLogger("aiproxy.relay")


class StreamUsageReader(Protocol):
    usage: Usage
    model: str | None
    error: str | None

    def feed(self, chunk: bytes) -> None: ...


@dataclass(frozen=True)
class RouteSpec:
    """What one gateway route forwards where, and how its answers are read."""

    platform: str
    endpoint: str  # the name usage records carry
    method: str
    upstream_path: str
    dialect: Dialect
    body_usage: Callable[[bytes], tuple[Usage | None, str | None]] | None = None
    stream_usage: Callable[[], StreamUsageReader] | None = None
    needs_json_body: bool = False


class Relay:
    def __init__(self, pool: AccountPool, adapters: Mapping[str, Adapter], *, max_request_bytes: int) -> None:
        self._pool = pool
        self._adapters = adapters
        self._max_request_bytes = max_request_bytes

    async def serve(self, spec: RouteSpec, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.setdefault("state", {})
        meter: UsageMeter = state.get(USAGE_KEY) or UsageMeter(platform=spec.platform)
        meter.endpoint = spec.endpoint
        if scope["method"] != spec.method:
            await error_response(spec.dialect, 405, f"method {scope['method']} not allowed; use {spec.method}")(
                scope, receive, send
            )
            return
        try:
            inbound = await read_inbound(scope, receive, self._max_request_bytes)
        except BadRequest as exc:
            meter.error = exc.message
            if exc.status != 499:  # a vanished client gets no answer
                await error_response(spec.dialect, exc.status, exc.message)(scope, receive, send)
            return
        if spec.needs_json_body and inbound.json is None:
            await error_response(spec.dialect, 400, "request body must be a JSON object")(scope, receive, send)
            return
        meter.model = inbound.model or ""
        meter.stream = inbound.stream

        candidates = self._pool.candidates(spec.platform, inbound.model, self._adapters.keys())
        if not candidates:
            why = f"no enabled {spec.platform} account"
            if inbound.model:
                why += f" serves model {inbound.model}"
            meter.error = why
            await error_response(spec.dialect, 503, why)(scope, receive, send)
            return
        chosen = candidates[0]
        self._pool.mark_used(chosen.id)
        meter.account_id = chosen.id

        call = UpstreamCall(
            method=spec.method,
            path=spec.upstream_path,
            query=_without_key_param(scope.get("query_string", b"")),
            headers=upstream_request_headers(scope["headers"]),
            body=inbound.body,
        )
        adapter = self._adapters[chosen.account.type]
        exchange = _Exchange(spec, meter, scope, receive, send)
        await exchange.run(adapter, chosen.account, chosen.credentials, call)


def _without_key_param(query_string: bytes) -> str:
    # `?key=` may carry the client's gateway key (Gemini style); never forward it.
    if not query_string:
        return ""
    query = query_string.decode("latin-1")
    if "key=" not in query:
        return query
    return urlencode([(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "key"])


class _Exchange:
    """The upstream half of one request, watched for a client disconnect."""

    def __init__(self, spec: RouteSpec, meter: UsageMeter, scope: Scope, receive: Receive, send: Send) -> None:
        self.spec = spec
        self.meter = meter
        self.scope = scope
        self.receive = receive
        self.send = send
        self.started = False  # has the response start been sent to the client?
        self.disconnected = False
        self.finished = False  # has the last body message been sent?
        self._cancel_scope = anyio.CancelScope()

    async def run(self, adapter: Adapter, account: Any, credentials: dict[str, Any], call: UpstreamCall) -> None:
        async with anyio.create_task_group() as tg:
            self._cancel_scope = tg.cancel_scope
            tg.start_soon(self._watch_disconnect, tg.cancel_scope)
            try:
                await self._forward(adapter, account, credentials, call)
            finally:
                tg.cancel_scope.cancel()
        if self.disconnected:
            self.meter.error = self.meter.error or "client disconnected"
            if not self.started:
                self.meter.status = 499  # nginx's "client closed request"

    async def _watch_disconnect(self, scope: anyio.CancelScope) -> None:
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                if self.finished:
                    return  # servers report the end of a completed exchange as a disconnect too
                self.disconnected = True
                scope.cancel()
                return

    async def _client_send(self, message: Message) -> None:
        try:
            await self.send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.finished = True
        except OSError:
            # ASGI 2.4 servers raise on send to a closed connection.
            self.disconnected = True
            self._cancel_scope.cancel()
            await anyio.lowlevel.checkpoint()  # raises the cancellation just requested
            raise

    async def _fail(self, status: int, message: str) -> None:
        self.meter.error = message
        await error_response(self.spec.dialect, status, message)(self.scope, self.receive, self._client_send)

    async def _forward(self, adapter: Adapter, account: Any, credentials: dict[str, Any], call: UpstreamCall) -> None:
        try:
            response = await adapter.send(account, credentials, call)
        except httpx.TimeoutException as exc:
            await self._fail(504, f"upstream timed out: {type(exc).__name__}")
            return
        except httpx.HTTPError as exc:
            await self._fail(502, f"upstream connection failed: {type(exc).__name__}: {exc}")
            return
        try:
            content_type = response.headers.get("content-type", "")
            headers = client_response_headers(response.headers.raw)
            if response.status_code < 400 and content_type.startswith("text/event-stream"):
                await self._relay_stream(response, headers)
            else:
                await self._relay_body(response, headers)
        finally:
            with anyio.CancelScope(shield=True):
                await response.aclose()

    async def _relay_body(self, response: httpx.Response, headers: list[tuple[bytes, bytes]]) -> None:
        try:
            body = await response.aread()
        except httpx.HTTPError as exc:
            await self._fail(502, f"upstream response broke: {type(exc).__name__}")
            return
        if response.status_code < 400:
            if self.spec.body_usage is not None:
                usage, model = self.spec.body_usage(body)
                if usage is not None:
                    self.meter.usage = usage
                if model and not self.meter.model:
                    self.meter.model = model
        else:
            self.meter.error = body[:500].decode("utf-8", "replace")
        headers.append((b"content-length", str(len(body)).encode()))
        await self._client_send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        self.started = True
        await self._client_send({"type": "http.response.body", "body": body})

    async def _relay_stream(self, response: httpx.Response, headers: list[tuple[bytes, bytes]]) -> None:
        reader = self.spec.stream_usage() if self.spec.stream_usage else None
        if reader is not None:
            self.meter.usage = reader.usage  # shared, so a cut stream still records what was seen
        await self._client_send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        self.started = True
        try:
            async for chunk in response.aiter_bytes():
                if reader is not None:
                    reader.feed(chunk)
                await self._client_send({"type": "http.response.body", "body": chunk, "more_body": True})
        except httpx.HTTPError as exc:
            message = f"upstream stream broke: {type(exc).__name__}"
            self.meter.error = message
            await self._client_send(
                {"type": "http.response.body", "body": self.spec.dialect.stream_error(502, message), "more_body": True}
            )
        if reader is not None:
            if reader.model and not self.meter.model:
                self.meter.model = reader.model
            if reader.error:
                self.meter.error = reader.error
        await self._client_send({"type": "http.response.body", "body": b"", "more_body": False})
