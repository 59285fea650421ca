"""Mount the gateway inside an existing Starlette app, at /ai.

    pip install -e ".[server]"
    python examples/embed_in_starlette.py

Then the Claude API is at http://127.0.0.1:8000/ai/claude/v1/messages and the
admin API at http://127.0.0.1:8000/ai/admin/api/login.

Starlette does not run a mounted app's lifespan, so the host's lifespan runs
the gateway (`async with gateway`): that opens the stores, loads the accounts,
and starts (and at shutdown flushes) the usage writer.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from aiproxy import Gateway, Settings, SQLStores, gateway_app, load_or_create_secrets


def build_host() -> Starlette:
    secrets = load_or_create_secrets(".")  # stable across restarts
    gateway = Gateway(
        SQLStores("sqlite+aiosqlite:///./host-aiproxy.db"),
        Settings(jwt_secret=secrets["jwt_secret"], encryption_key=secrets["encryption_key"]),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with gateway:
            yield

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("the host app; the gateway lives under /ai")

    return Starlette(routes=[Route("/", home), Mount("/ai", app=gateway_app(gateway))], lifespan=lifespan)


if __name__ == "__main__":
    uvicorn.run(build_host(), host="127.0.0.1", port=8000)
