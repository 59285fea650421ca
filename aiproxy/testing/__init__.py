"""For tests of an app that embeds the gateway (and for the gateway's own): no deep imports needed.

- `Seed`: stores seeded from plain values (a user, a key handed back in
  plaintext, accounts whose credentials are encrypted for the gateway), and
  settings carrying the seed's encryption key.
- Fake upstream APIs, one per wire format, each a Starlette app with
  `transport()` for `create_app(..., transport=...)`: `FakeAnthropic`,
  `FakeOpenAI` (chat completions and Responses), `FakeGemini`,
  `FakeCodeAssist`, `FakeBedrock`. Each records what it was sent
  (`.requests`); a model named `fail-<status>` makes it answer that status.
- `running(app)`: the app started as a server would start it (its lifespan),
  and an httpx client that talks to it in process.

docs/embedding.md has a complete host test.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

import httpx
from starlette.applications import Starlette

from .anthropic import FakeAnthropic
from .bedrock import FakeBedrock
from .code_assist import FakeCodeAssist
from .gemini import FakeGemini
from .openai import FakeOpenAI
from .seed import IssuedKey, Seed
from .upstream import FakeUpstream

__all__ = [
    "FakeAnthropic",
    "FakeBedrock",
    "FakeCodeAssist",
    "FakeGemini",
    "FakeOpenAI",
    "FakeUpstream",
    "IssuedKey",
    "Seed",
    "running",
]


@asynccontextmanager
async def running(app: Starlette, base_url: str = "http://gateway.test") -> AsyncIterator[httpx.AsyncClient]:
    """`app` started (its lifespan run, which runs the gateway's), and a client that talks to it in process."""
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as client:
            yield client
