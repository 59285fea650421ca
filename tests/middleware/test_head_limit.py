"""The request head bound: N headers pass, N + 1 answer 431 in the caller's shape; bytes likewise."""

from __future__ import annotations

import json
from typing import Any, AsyncIterator

import httpx
import orjson
import pytest
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from aiproxy.formats.dialect import ANTHROPIC, GEMINI, OPENAI, Dialect
from aiproxy.middleware import HeadLimitMiddleware
from aiproxy.settings import Settings
from tests.harness import Harness, start_harness

pytestmark = pytest.mark.anyio

Headers = list[tuple[bytes, bytes]]


async def call(app: Any, headers: Headers, path: str = "/", body: bytes = b"",
               method: str = "POST") -> tuple[int, dict[bytes, bytes], bytes]:
    """`app` called with exactly these headers (an HTTP client would add its own)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 1234), "server": ("gateway.test", 80)}
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


class Inner:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        await PlainTextResponse("inner")(scope, receive, send)


def numbered(count: int, value: bytes = b"v") -> Headers:
    return [(b"x-h%d" % i, value) for i in range(count)]


def error_message(dialect: Dialect, body: bytes) -> str:
    data = json.loads(body)
    if dialect is ANTHROPIC:
        assert data["type"] == "error" and data["error"]["type"] == "invalid_request_error"
        return data["error"]["message"]
    if dialect is OPENAI:
        assert data["error"]["type"] == "invalid_request_error"
        return data["error"]["message"]
    assert data["error"]["code"] == 431 and data["error"]["status"] == "INVALID_ARGUMENT"
    return data["error"]["message"]


@pytest.mark.parametrize("dialect", [ANTHROPIC, OPENAI, GEMINI], ids=lambda d: d.name)
async def test_count_bound_is_inclusive_and_answered_in_the_callers_shape(dialect: Dialect):
    inner = Inner()
    app = HeadLimitMiddleware(inner, dialect=dialect, max_count=10, max_bytes=10_000)
    assert (await call(app, numbered(10)))[0] == 200 and inner.calls == 1

    status, headers, body = await call(app, numbered(11))
    assert status == 431 and inner.calls == 1
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"x-should-retry"] == b"false"
    assert error_message(dialect, body) == "request has 11 headers; at most 10 are accepted"


@pytest.mark.parametrize("dialect", [ANTHROPIC, OPENAI, GEMINI], ids=lambda d: d.name)
async def test_byte_bound_counts_names_and_values(dialect: Dialect):
    inner = Inner()
    app = HeadLimitMiddleware(inner, dialect=dialect, max_count=100, max_bytes=100)
    exactly = [(b"x-a", b"v" * 47), (b"x-b", b"w" * 47)]  # 3 + 47 + 3 + 47 = 100
    assert (await call(app, exactly))[0] == 200 and inner.calls == 1

    status, _, body = await call(app, [(b"x-a", b"v" * 47), (b"x-b", b"w" * 48)])
    assert status == 431 and inner.calls == 1
    assert error_message(dialect, body) == "request headers are 101 bytes; at most 100 are accepted"
    # One long value is counted the same as many short ones.
    assert (await call(app, [(b"cookie", b"c" * 95)]))[0] == 431


async def test_a_flood_is_refused_on_its_count_alone():
    inner = Inner()
    app = HeadLimitMiddleware(inner, dialect=ANTHROPIC, max_count=100, max_bytes=32 * 1024)
    status, _, body = await call(app, numbered(20_000, b"v" * 8))
    assert status == 431 and inner.calls == 0
    assert "20000 headers" in error_message(ANTHROPIC, body)


async def test_other_scopes_pass_untouched():
    seen: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    app = HeadLimitMiddleware(inner, dialect=OPENAI, max_count=0, max_bytes=0)
    await app({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan"]


def test_settings_defaults_and_environment():
    assert (Settings().max_header_count, Settings().max_header_bytes) == (100, 32 * 1024)
    s = Settings.from_env({"AIPROXY_MAX_HEADER_COUNT": "64", "AIPROXY_MAX_HEADER_BYTES": "16384"})
    assert (s.max_header_count, s.max_header_bytes) == (64, 16384)


# In the gateway: outermost on every proxied stack, before key auth.

LIMIT = 24
ROUTES = [
    ("/claude/v1/messages", ANTHROPIC),
    ("/openai/v1/chat/completions", OPENAI),
    ("/responses", OPENAI),
    ("/v1/responses", OPENAI),
    ("/gemini/v1beta/models/gemini-2.5-flash:generateContent", GEMINI),
    ("/gemini/v1/chat", OPENAI),
    ("/api/usage", OPENAI),
]


@pytest.fixture
async def gw(anyio_backend: str) -> AsyncIterator[Harness]:
    upstream = httpx.MockTransport(lambda request: httpx.Response(
        200, content=orjson.dumps({"id": "m", "type": "message", "content": [], "usage": {}}),
        headers={"content-type": "application/json"}))
    async with start_harness(upstream, max_header_count=LIMIT, max_header_bytes=2048) as h:
        yield h


@pytest.mark.parametrize(("path", "dialect"), ROUTES, ids=[p for p, _ in ROUTES])
async def test_gateway_refuses_an_oversized_head_before_asking_for_a_key(gw: Harness, path: str, dialect: Dialect):
    # No key at all: the head bound answers first, in the route's shape.
    status, _, body = await call(gw.app, numbered(LIMIT + 1), path)
    assert status == 431
    assert error_message(dialect, body) == f"request has {LIMIT + 1} headers; at most {LIMIT} are accepted"

    status, _, body = await call(gw.app, [(b"x-big", b"v" * 2048)], path)
    assert status == 431 and "bytes" in error_message(dialect, body)

    # Within the bound the request goes on to key auth.
    assert (await call(gw.app, numbered(LIMIT), path))[0] == 401


async def test_gateway_serves_a_request_with_exactly_the_limit(gw: Harness):
    body = orjson.dumps({"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]})
    own = [(b"host", b"gateway.test"), (b"x-api-key", gw.key.encode()), (b"content-type", b"application/json")]
    status, _, answer = await call(gw.app, own + numbered(LIMIT - len(own)), "/claude/v1/messages", body)
    assert status == 200, answer
    status, _, _ = await call(gw.app, own + numbered(LIMIT - len(own) + 1), "/claude/v1/messages", body)
    assert status == 431
    [record] = await gw.records()  # the refused request never reached the usage middleware
    assert record.status == 200


async def test_health_is_not_behind_the_bound(gw: Harness):
    assert (await call(gw.app, numbered(LIMIT + 1), "/health", method="GET"))[0] == 200
