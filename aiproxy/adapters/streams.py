"""An upstream answer handed on in another shape as it arrives (Bedrock's event stream, Code Assist's envelope)."""

from __future__ import annotations

from typing import AsyncIterator, Protocol, Sequence

import httpx


class Transformer(Protocol):
    """Turns the upstream's bytes into the client's, chunk by chunk (formats/*: pure, no I/O)."""

    def feed(self, chunk: bytes) -> bytes:
        """What `chunk` completes, in the client's shape (b"" while it completes nothing)."""
        ...

    def end(self) -> bytes:
        """What is left once the upstream's body has ended."""
        ...


class TransformedStream(httpx.AsyncByteStream):
    """The upstream's body through a Transformer; closing it closes the upstream response."""

    def __init__(self, upstream: httpx.Response, transformer: Transformer) -> None:
        self._upstream = upstream
        self._transformer = transformer

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._upstream.aiter_bytes():
            out = self._transformer.feed(chunk)
            if out:
                yield out
        tail = self._transformer.end()
        if tail:
            yield tail

    async def aclose(self) -> None:
        await self._upstream.aclose()


def transformed(upstream: httpx.Response, transformer: Transformer,
                headers: Sequence[tuple[str, str]] | Sequence[tuple[bytes, bytes]]) -> httpx.Response:
    """A response with `upstream`'s status and `headers`, whose body is `upstream`'s through `transformer`."""
    return httpx.Response(
        upstream.status_code, headers=headers, stream=TransformedStream(upstream, transformer), request=upstream.request
    )
