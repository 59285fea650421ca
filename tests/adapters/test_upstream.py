"""What every adapter does the same way: the upstream URL, the send, the gateway's own error answers."""

from __future__ import annotations

import json
from typing import AsyncIterator

import httpx
import pytest

from aiproxy.adapters import upstream
from aiproxy.formats.dialect import ANTHROPIC, GEMINI, OPENAI

pytestmark = pytest.mark.anyio


def test_url_joins_base_path_and_the_non_empty_queries():
    assert upstream.url("https://h.test/", "/v1/messages", "") == "https://h.test/v1/messages"
    assert upstream.url("https://h.test", "/v1/messages", "a=1") == "https://h.test/v1/messages?a=1"
    assert upstream.url("https://h.test//", "/x") == "https://h.test/x"
    assert upstream.url("https://h.test", "/x", "", "alt=sse", "", "key=k") == "https://h.test/x?alt=sse&key=k"
    assert upstream.url("https://h.test", "/x", "", "") == "https://h.test/x"


class Events(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"data: {}\n\n"


async def test_send_asks_for_identity_and_leaves_the_body_unread(anyio_backend: str):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, stream=Events())

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        headers = [(b"x-api-key", b"k")]
        response = await upstream.send(client, "POST", "https://h.test/v1/messages", headers, b"{}")
        assert not response.is_stream_consumed  # stream=True: the relay reads it, and closes it
        await response.aclose()
        await (await upstream.send(client, "GET", "https://h.test/v1/models", [], b"")).aclose()
    post, get = seen
    assert post.headers.get_list("accept-encoding") == ["identity"] and post.headers["x-api-key"] == "k"
    assert post.content == b"{}"
    assert get.headers["accept-encoding"] == "identity" and "content-length" not in get.headers


async def test_send_runs_the_auth_flow_given(anyio_backend: str):
    class Stamp(httpx.Auth):
        def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
            request.headers["authorization"] = "Bearer stamped"
            yield request

    seen: list[httpx.Request] = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(
            lambda r: seen.append(r) or httpx.Response(204))) as client:
        await (await upstream.send(client, "POST", "https://h.test/", [], b"x", Stamp())).aclose()
    assert seen[0].headers["authorization"] == "Bearer stamped"


@pytest.mark.parametrize(("dialect", "read"), [
    (ANTHROPIC, lambda b: (b["type"], b["error"]["type"], b["error"]["message"])),
    (OPENAI, lambda b: ("error", b["error"]["type"], b["error"]["message"])),
    (GEMINI, lambda b: ("error", b["error"]["status"], b["error"]["message"])),
], ids=["anthropic", "openai", "gemini"])
def test_error_answer_in_the_dialects_shape(dialect, read):  # type: ignore[no-untyped-def]
    response = upstream.error_answer(dialect, 401, "upstream account 'a' (id 1) needs re-authorization")
    assert response.status_code == 401 and response.headers["content-type"] == "application/json"
    assert response.content == dialect.error_body(401, "upstream account 'a' (id 1) needs re-authorization")
    kind, error_type, message = read(json.loads(response.content))
    assert kind == "error" and error_type and message.endswith("needs re-authorization")


async def test_read_closes_the_response_and_headers_for_describe_the_new_body(anyio_backend: str):
    headers = [("content-type", "text/event-stream"), ("content-length", "11"), ("x-request-id", "r-1"),
               ("transfer-encoding", "chunked"), ("content-encoding", "identity"), ("set-cookie", "a=1")]
    async with httpx.AsyncClient(transport=httpx.MockTransport(
            lambda r: httpx.Response(200, headers=headers, stream=Events()))) as client:
        response = await client.send(client.build_request("GET", "https://h.test/"), stream=True)
        assert await upstream.read(response) == b"data: {}\n\n" and response.is_closed
    assert upstream.headers_for(response, b"application/json") == [
        (b"x-request-id", b"r-1"), (b"set-cookie", b"a=1"), (b"content-type", b"application/json")]
