"""Change notices between instances (state/invalidation.py): applied, own and unknown ones ignored, account
reloads debounced, and the subscription made anew, with a resync, after Redis restarts or freezes.

On the shared Redis (AIPROXY_TEST_REDIS_URL) under a prefix of each test's own; outages on a redis-server
of the test's own (tests/state/private_redis.py).
"""

from __future__ import annotations

import json
import secrets
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

import anyio
import pytest

from aiproxy.state import invalidation_for, state_from_url
from aiproxy.state.invalidation import Changes, Invalidation
from aiproxy.state.redis import RedisState
from tests.state.conftest import redis_url
from tests.state.private_redis import REDIS_SERVER, SKIP_REASON, PrivateRedis

pytestmark = pytest.mark.anyio

needs_redis = pytest.mark.skipif(redis_url() is None, reason="set AIPROXY_TEST_REDIS_URL=redis://127.0.0.1:6379/0")
needs_server = pytest.mark.skipif(REDIS_SERVER is None, reason=SKIP_REASON)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Seen:
    """What an instance was told to do."""

    keys: list[str] = field(default_factory=list)
    missed: int = 0
    reloads: int = 0

    def changes(self) -> Changes:
        def key_changed(key_hash: str) -> None:
            self.keys.append(key_hash)

        def keys_missed() -> None:
            self.missed += 1

        async def reload() -> None:
            self.reloads += 1

        return Changes(key_changed=key_changed, keys_missed=keys_missed, accounts_changed=reload)


async def until(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not seen in time"
        await anyio.sleep(0.02)


@asynccontextmanager
async def listening(url: str, prefix: str, **options: Any) -> AsyncIterator[tuple[Invalidation, Seen]]:
    """One instance: its own Redis client (as RedisState makes it), subscribed until the block ends."""
    state = RedisState(url, prefix=prefix)
    invalidation, seen = Invalidation(state.client, prefix, **options), Seen()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(invalidation.run, seen.changes())
            await until(lambda: invalidation.subscribed and seen.reloads == 1)  # the first resync
            yield invalidation, seen
            tg.cancel_scope.cancel()
    finally:
        await state.aclose()


def test_only_state_on_redis_has_a_channel() -> None:
    from aiproxy.state import MemoryState

    assert invalidation_for(MemoryState()) is None
    on_redis = state_from_url("redis://127.0.0.1:1/0", prefix="p:")
    made = invalidation_for(on_redis)
    assert made is not None and made.channel == "p:invalidate"
    assert invalidation_for(on_redis.strict()) is not None  # type: ignore[attr-defined]


@needs_redis
async def test_notices_reach_the_other_instance_and_not_their_sender() -> None:
    url, prefix = redis_url(), f"aiproxy-test-{secrets.token_hex(6)}:"
    assert url is not None
    async with listening(url, prefix) as (a, seen_a), listening(url, prefix) as (b, seen_b):
        assert seen_a.missed == seen_b.missed == 1  # the first subscription is a resync too
        a.key_changed("ab" * 32)
        await until(lambda: seen_b.keys == ["ab" * 32])
        b.accounts_changed()
        await until(lambda: seen_a.reloads == 2)
        await anyio.sleep(0.2)
        assert seen_a.keys == [] and seen_b.reloads == 1  # nobody applies their own notice

        # A burst of account notices is one re-read.
        for _ in range(10):
            b.accounts_changed()
        await until(lambda: seen_a.reloads == 3)
        await anyio.sleep(0.3)
        assert seen_a.reloads == 3

        # What an older instance cannot read, it ignores (a newer one's kinds, or anything else).
        raw = a._redis
        for payload in ["not json", json.dumps([1]), json.dumps({"kind": "binding", "from": "x"}),
                        json.dumps({"kind": "key", "key_hash": 7, "from": "x"})]:
            await raw.publish(a.channel, payload)
        b.key_changed("cd" * 32)
        await until(lambda: seen_a.keys == ["cd" * 32])
        assert seen_a.missed == 1 and seen_a.reloads == 3


@asynccontextmanager
async def private_redis() -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def restart(server: PrivateRedis, down_for: float) -> None:
    server.kill()
    await anyio.sleep(down_for)
    server.start()


@needs_server
async def test_after_redis_restarts_the_subscription_is_made_anew_with_a_resync() -> None:
    async with private_redis() as server, \
            listening(server.url, "p:", backoff_initial=0.05, backoff_max=0.2) as (a, seen_a), \
            listening(server.url, "p:", backoff_initial=0.05, backoff_max=0.2) as (b, seen_b):
        server.kill()
        await until(lambda: not a.subscribed)
        started = time.monotonic()
        b.key_changed("lost" * 16)  # Redis is down: sent nowhere, and the caller does not wait
        assert time.monotonic() - started < 0.05
        await anyio.sleep(0.3)
        server.start()
        await until(lambda: a.subscribed and b.subscribed)
        # Whatever was missed is re-read: every cached key, the accounts.
        await until(lambda: seen_a.missed == 2 and seen_a.reloads == 2)
        b.key_changed("back" * 16)
        await until(lambda: seen_a.keys == ["back" * 16])


@needs_server
async def test_a_frozen_redis_is_noticed_by_its_unanswered_ping() -> None:
    async with private_redis() as server, \
            listening(server.url, "p:", keepalive=0.3, timeout=0.5, backoff_initial=0.05, backoff_max=0.2) as (a, seen):
        server.pause()
        try:
            await until(lambda: not a.subscribed, seconds=3)  # ping at 0.3 s, no pong by 0.6 s
        finally:
            server.resume()
        await until(lambda: a.subscribed and seen.missed == 2 and seen.reloads == 2)


@needs_server
async def test_a_failing_reload_does_not_stop_the_notices(caplog: pytest.LogCaptureFixture) -> None:
    async with private_redis() as server:
        state = RedisState(server.url, prefix="p:")
        listener, sender = Invalidation(state.client, "p:"), Invalidation(state.client, "p:")
        seen, reloads = Seen(), []

        async def failing_reload() -> None:
            reloads.append(1)
            raise ConnectionRefusedError(111, "the database is down")

        recorded = seen.changes()
        changes = Changes(recorded.key_changed, recorded.keys_missed, failing_reload)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(listener.run, changes)
                await until(lambda: listener.subscribed and len(reloads) == 1)
                sender.accounts_changed()
                await until(lambda: len(reloads) == 2)
                sender.key_changed("ef" * 32)
                await until(lambda: seen.keys == ["ef" * 32])
                tg.cancel_scope.cancel()
        finally:
            await state.aclose()
        assert sum("re-reading accounts on another instance's notice failed" in r.message
                   for r in caplog.records) == 1
