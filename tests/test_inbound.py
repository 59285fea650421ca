"""The client's body on the proxied routes: its size limit (AIPROXY_MAX_BODY_BYTES) and its
nesting cap, each answered in the route's own error shape."""

from __future__ import annotations

import httpx
import orjson
import pytest

from aiproxy.jsonbody import MAX_DEPTH
from aiproxy.settings import Settings
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.harness import Harness, start_harness

pytestmark = pytest.mark.anyio

LIMIT = 4096


def test_the_setting_is_read_from_the_environment() -> None:
    assert Settings.from_env({}).max_request_bytes == 32 * 1024 * 1024
    assert Settings.from_env({"AIPROXY_MAX_BODY_BYTES": "1048576"}).max_request_bytes == 1048576
    for bad in ("0", "-5", "32MB", "1.5"):
        with pytest.raises(ValueError, match="AIPROXY_MAX_BODY_BYTES"):
            Settings.from_env({"AIPROXY_MAX_BODY_BYTES": bad})


@pytest.fixture
async def small_harness(anyio_backend: str):  # type: ignore[no-untyped-def]
    fake = FakeAnthropic()
    limit = Settings.from_env({"AIPROXY_MAX_BODY_BYTES": str(LIMIT)}).max_request_bytes
    async with start_harness(httpx.ASGITransport(app=fake.app()), max_request_bytes=limit) as h:
        h.fake = fake  # type: ignore[attr-defined]
        yield h


def anthropic_error(r: httpx.Response) -> str:
    body = r.json()
    assert body["type"] == "error", body
    return body["error"]["message"]


def openai_error(r: httpx.Response) -> str:
    return r.json()["error"]["message"]


def google_error(r: httpx.Response) -> str:
    error = r.json()["error"]
    assert error["code"] == r.status_code, error
    return error["message"]


# One route per error shape: (path, the auth headers' builder, how to read the message).
ROUTES = [
    ("/claude/v1/messages", lambda key: {"x-api-key": key}, anthropic_error),
    ("/openai/v1/chat/completions", lambda key: {"authorization": f"Bearer {key}"}, openai_error),
    ("/gemini/v1beta/models/gemini-2.5-flash:generateContent", lambda key: {"x-goog-api-key": key}, google_error),
    ("/gemini/v1/chat", lambda key: {"authorization": f"Bearer {key}"}, openai_error),
]


@pytest.mark.parametrize(("path", "auth", "message"), ROUTES)
async def test_a_body_over_the_limit_is_a_413_in_the_route_shape(small_harness: Harness, path, auth, message) -> None:  # type: ignore[no-untyped-def]
    body = orjson.dumps({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "x" * LIMIT}]})
    r = await small_harness.http.post(path, content=body, headers=auth(small_harness.key))
    assert r.status_code == 413, r.text
    assert str(LIMIT) in message(r)
    assert small_harness.fake.requests == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(("path", "auth", "message"), ROUTES)
async def test_a_body_at_the_limit_is_read(small_harness: Harness, path, auth, message) -> None:  # type: ignore[no-untyped-def]
    body = orjson.dumps({"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]})
    body = body[:-1] + b" " * (LIMIT - len(body)) + b"}"
    assert len(body) == LIMIT
    r = await small_harness.http.post(path, content=body, headers=auth(small_harness.key))
    assert r.status_code != 413, r.text


@pytest.mark.parametrize(("path", "auth", "message"), ROUTES)
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 300, 10_000])
async def test_deep_json_is_a_400_in_the_route_shape(harness: Harness, path, auth, message, depth: int) -> None:  # type: ignore[no-untyped-def]
    body = b'{"model":"claude-sonnet-4-5","messages":' + b"[" * depth + b"]" * depth + b"}"
    r = await harness.http.post(path, content=body, headers=auth(harness.key))
    assert r.status_code == 400, r.text
    assert f"deeper than {MAX_DEPTH} levels" in message(r)
