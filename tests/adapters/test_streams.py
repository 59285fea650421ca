"""The stream transformer: the upstream's body handed on through feed/end, and closing it closes the upstream."""

from __future__ import annotations

from typing import AsyncIterator

import httpx
import pytest

from aiproxy.adapters.streams import transformed

pytestmark = pytest.mark.anyio


class Upper:
    """Hands on each complete line upper-cased; what is left is the tail."""

    def __init__(self) -> None:
        self.buffer = b""
        self.ended = 0

    def feed(self, chunk: bytes) -> bytes:
        self.buffer += chunk
        done, _, self.buffer = self.buffer.rpartition(b"\n")
        return (done + b"\n").upper() if done else b""

    def end(self) -> bytes:
        self.ended += 1
        return self.buffer.upper()


class Body(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.read = 0
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.read += 1
            yield chunk

    async def aclose(self) -> None:
        self.closed = True


def client(body: Body) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200, stream=body)))


async def upstream(client: httpx.AsyncClient) -> httpx.Response:
    return await client.send(client.build_request("POST", "https://upstream.test/"), stream=True)


async def test_body_transformed_as_it_arrives_empty_pieces_skipped_and_the_tail_last(anyio_backend: str):
    body = Body([b"ab", b"c\nde", b"f", b"\ng"])
    transformer = Upper()
    async with client(body) as c:
        response = await upstream(c)
        answer = transformed(response, transformer, [("content-type", "text/plain")])
        assert (answer.status_code, answer.headers["content-type"]) == (200, "text/plain")
        assert answer.request is response.request
        assert [chunk async for chunk in answer.aiter_raw()] == [b"ABC\n", b"DEF\n", b"G"]
        await answer.aclose()
    assert transformer.ended == 1 and body.closed


async def test_closing_it_early_closes_the_upstream(anyio_backend: str):
    body = Body([b"one\n", b"two\n", b"three\n"])
    async with client(body) as c:
        response = await upstream(c)
        answer = transformed(response, Upper(), [])
        async for chunk in answer.aiter_raw():
            assert chunk == b"ONE\n"
            break
        await answer.aclose()
    assert body.closed and response.is_closed and body.read == 1
