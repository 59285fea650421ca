"""The baseline: the least a Starlette app must do to forward POST /v1/messages.

No auth, no accounting, no header policy beyond what the upstream needs: read
the body, send it upstream on an injected client, relay status, content type
and body back, streamed chunk by chunk for SSE. Whatever the gateway costs on
top of this is the price of its features (and of how they are written).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

import aiohttp
import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

# The upstream credential a real forwarder would inject (the gateway does too).
UPSTREAM_HEADERS = {"x-api-key": "sk-ant-bench", "anthropic-version": "2023-06-01", "accept-encoding": "identity"}


def _passed_headers(request: Request) -> dict[str, str]:
    headers = dict(UPSTREAM_HEADERS)
    headers["content-type"] = request.headers.get("content-type", "application/json")
    return headers


def create_forwarder(client: httpx.AsyncClient, upstream: str) -> Starlette:
    """A forwarder on an httpx client; the app closes the client at shutdown."""
    url = upstream.rstrip("/") + "/v1/messages"

    async def messages(request: Request) -> Response:
        body = await request.body()
        upstream_request = client.build_request("POST", url, headers=_passed_headers(request), content=body)
        response = await client.send(upstream_request, stream=True)
        content_type = response.headers.get("content-type", "")
        if content_type.startswith("text/event-stream"):
            return StreamingResponse(
                response.aiter_raw(),
                status_code=response.status_code,
                media_type=content_type,
                background=BackgroundTask(response.aclose),
            )
        try:
            data = await response.aread()
        finally:
            await response.aclose()
        return Response(data, status_code=response.status_code, media_type=content_type)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await client.aclose()

    return Starlette(routes=[Route("/v1/messages", messages, methods=["POST"])], lifespan=lifespan)


def create_aiohttp_forwarder(upstream: str, limit: int) -> Starlette:
    """The same forwarder on aiohttp's client directly, without httpx in between (for reference)."""
    url = upstream.rstrip("/") + "/v1/messages"
    sessions: list[aiohttp.ClientSession] = []  # made in the lifespan: a session binds to the running loop

    async def messages(request: Request) -> Response:
        body = await request.body()
        response = await sessions[0].post(url, data=body, headers=_passed_headers(request), auto_decompress=False)
        content_type = response.headers.get("content-type", "")
        if content_type.startswith("text/event-stream"):

            async def release() -> None:
                # An async wrapper: Starlette runs a sync background task in a thread.
                response.release()

            return StreamingResponse(
                response.content.iter_any(),
                status_code=response.status,
                media_type=content_type,
                background=BackgroundTask(release),
            )
        try:
            data = await response.read()
        finally:
            response.release()
        return Response(data, status_code=response.status, media_type=content_type)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit)) as session:
            sessions.append(session)
            yield

    return Starlette(routes=[Route("/v1/messages", messages, methods=["POST"])], lifespan=lifespan)
