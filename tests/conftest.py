from __future__ import annotations

import os
import secrets
from typing import AsyncIterator

import pytest

from aiproxy.state import MemoryState, SharedState
from aiproxy.testing import FakeAnthropic
from tests.harness import Harness, start_harness


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake_anthropic() -> FakeAnthropic:
    return FakeAnthropic()


@pytest.fixture
async def harness(fake_anthropic: FakeAnthropic, anyio_backend: str) -> AsyncIterator[Harness]:
    """The gateway on in-memory stores, its upstream the fake Anthropic API (in process)."""
    async with start_harness(fake_anthropic.transport()) as h:
        yield h


REDIS_URL = os.environ.get("AIPROXY_TEST_REDIS_URL")


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.skipif(
    REDIS_URL is None, reason="set AIPROXY_TEST_REDIS_URL=redis://127.0.0.1:6379/0 to test on Redis"))])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[SharedState]:
    """Shared runtime state on each backend: in memory, and Redis when a test server is named.
    Each Redis run gets a prefix of its own and deletes its keys afterwards."""
    if request.param == "memory":
        yield MemoryState()
        return
    from aiproxy.state.redis import RedisState

    redis_state = RedisState(REDIS_URL, prefix=f"aiproxy-test-{secrets.token_hex(4)}:")  # type: ignore[arg-type]
    try:
        yield redis_state
    finally:
        client = redis_state._redis  # the test's own keys only
        keys = [k async for k in client.scan_iter(match=f"{redis_state.prefix}*")]
        if keys:
            await client.delete(*keys)
        await redis_state.aclose()
