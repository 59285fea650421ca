"""The shared state on every backend: memory (a fake clock) and Redis (when a server is named).

Redis is used only when AIPROXY_TEST_REDIS_URL names one, e.g.
redis://127.0.0.1:6379/0. Each test gets a random key prefix and its keys are
deleted afterwards, so tests never see each other's state (or a gateway's).
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import anyio
import pytest

from aiproxy.state import MemoryState, SharedState, state_from_url

REDIS_URL_ENV = "AIPROXY_TEST_REDIS_URL"


def redis_url() -> str | None:
    return os.environ.get(REDIS_URL_ENV) or None


def redis_param(kind: str = "redis") -> Any:
    return pytest.param(
        kind,
        id=kind,
        marks=pytest.mark.skipif(
            redis_url() is None, reason=f"set {REDIS_URL_ENV}=redis://127.0.0.1:6379/0 to test on Redis"
        ),
    )


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class StateEnv:
    """One backend under test, and how to let time pass on it."""

    kind: str
    state: SharedState
    prefix: str
    clock: FakeClock | None = None  # memory only; Redis runs on real time
    others: list[SharedState] = field(default_factory=list)

    def now(self) -> float:
        return self.clock() if self.clock is not None else time.time()

    async def advance(self, seconds: float) -> None:
        # Memory: move the fake clock. Redis: its TTLs run on its own clock, so
        # really wait (tests keep these waits to fractions of a second).
        if self.clock is not None:
            self.clock.now += seconds
        else:
            await anyio.sleep(seconds)

    def another(self) -> SharedState:
        """A second instance on the same backend: another process, as far as Redis can tell."""
        if self.kind == "memory":
            return self.state
        from aiproxy.state.redis import RedisState

        url = redis_url()
        assert url is not None
        other: SharedState = (
            RedisState(url, prefix=self.prefix) if self.kind == "redis" else state_from_url(url, prefix=self.prefix)
        )
        self.others.append(other)
        return other


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# "resilient": Redis behind the breaker with its memory fallback (what a
# gateway with REDIS_URL runs on); while Redis answers it must be Redis exactly.
@pytest.fixture(params=[pytest.param("memory", id="memory"), redis_param(), redis_param("resilient")])
async def env(request: pytest.FixtureRequest, anyio_backend: str) -> AsyncIterator[StateEnv]:
    prefix = f"aiproxy-test-{secrets.token_hex(6)}:"
    if request.param == "memory":
        clock = FakeClock()
        yield StateEnv("memory", MemoryState(clock=clock, prefix=prefix), prefix, clock=clock)
        return
    from aiproxy.state.redis import RedisState

    url = redis_url()
    assert url is not None
    state = RedisState(url, prefix=prefix) if request.param == "redis" else state_from_url(url, prefix=prefix)
    e = StateEnv(request.param, state, prefix)
    try:
        yield e
    finally:
        await delete_prefixed(url, prefix)
        for s in [e.state, *e.others]:
            await s.aclose()


@pytest.fixture
async def state(env: StateEnv) -> SharedState:
    return env.state


async def delete_prefixed(url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
