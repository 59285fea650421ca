"""Redis failure handling on a private redis-server that the tests kill, restart, pause and resume.

The breaker and the memory fallback (ResilientState), slots released by
their token after an acquire that timed out, leases renewed while held, and
stale pooled connections retried once after a restart. Skipped when
redis-server is not installed; the shared Redis is never touched.
"""

from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator, Iterator

import anyio
import pytest

from aiproxy.state import AccountHealth, MemoryState, ResilientState, StateUnavailable, state_from_url
from tests.state.private_redis import REDIS_SERVER, SKIP_REASON, PrivateRedis

pytestmark = [pytest.mark.anyio, pytest.mark.skipif(REDIS_SERVER is None, reason=SKIP_REASON)]

TIMEOUT = 0.3
COOLDOWN = 0.3


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server() -> Iterator[PrivateRedis]:
    with PrivateRedis() as r:
        yield r


@pytest.fixture
async def state(server: PrivateRedis, anyio_backend: str) -> AsyncIterator[ResilientState]:
    s = state_from_url(server.url, timeout=TIMEOUT, cooldown=COOLDOWN)
    assert isinstance(s, ResilientState)
    try:
        yield s
    finally:
        if server.paused:
            server.resume()
        await s.aclose()


async def until(predicate, seconds: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    """Wait for `predicate()` (awaited if it is a coroutine) to hold; fail after `seconds`."""
    with anyio.fail_after(seconds):
        while True:
            got = predicate()
            if asyncio.iscoroutine(got):
                got = await got
            if got:
                return
            await anyio.sleep(0.05)


async def recovered(state: ResilientState) -> None:
    await anyio.sleep(COOLDOWN)
    await state.check()  # the probe
    assert not state.degraded


# --- the breaker and the fallback -------------------------------------------


async def test_a_killed_redis_is_served_from_memory_then_used_again(
    state: ResilientState, server: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    await state.bind("sess", 3, 60)
    await state.remember_response("resp_1", 3, 60)
    assert await state.incr_window("rpm:1", 60) == 1
    assert not state.degraded

    server.kill()
    with caplog.at_level(logging.WARNING, logger="aiproxy.state"):
        # No call raises: each is answered by this process's memory.
        assert await state.incr_window("rpm:1", 60) == 1  # counted per process from now on
        assert state.degraded and "Connection" in state.breaker.reason
        assert await state.incr_window("rpm:1", 60) == 2
        assert await state.get_binding("sess") is None  # bindings made on Redis are not here
        await state.bind("sess", 4, 60)
        assert await state.get_binding("sess") == 4
        slot = await state.acquire("key:1", 1, 30)
        assert slot is not None and slot.startswith("local:")
        assert await state.acquire("key:1", 1, 30) is None  # the limit holds per process
        await state.touch(1, 5.0)
        assert await state.last_used([1]) == {1: 5.0}
        assert await state.response_account("resp_1") is None  # remembered on Redis only
        await state.remember_response("resp_2", 4, 60)
        assert await state.response_account("resp_2") == 4

        server.start()  # empty: a killed Redis lost its data
        await recovered(state)
        assert await state.get_binding("sess") is None  # Redis again: its own (empty) view
        assert await state.response_account("resp_2") is None
        assert await state.incr_window("rpm:1", 60) == 1
        await state.release("key:1", slot)  # a local slot goes back to memory
        assert await state.fallback.held("key:1") == 0
        assert await state.held("key:1") == 0
    changes = [r.getMessage() for r in caplog.records]
    assert len(changes) == 2, changes  # one line down, one line back: not one per call


async def test_no_redis_call_while_the_breaker_is_open(state: ResilientState, server: PrivateRedis) -> None:
    server.kill()
    await state.get_window("w", 60)
    assert state.degraded
    calls = 0
    real = state.primary.get_window

    async def counted(*args):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return await real(*args)

    state.primary.get_window = counted  # type: ignore[method-assign]
    for _ in range(100):
        await state.get_window("w", 60)
    assert calls == 0  # the cool-down has not passed: Redis is not tried at all
    await anyio.sleep(COOLDOWN)
    await state.get_window("w", 60)
    assert calls == 1  # one probe (which failed: still down)
    assert state.degraded


async def test_health_marks_held_at_the_outage_stay_in_force(state: ResilientState, server: PrivateRedis) -> None:
    limited = AccountHealth("rate_limited", until=None, reason="429", updated_at=1.0)
    await state.mark_account(7, limited)
    assert await state.account_health() == {7: limited}  # what Redis said last
    server.kill()
    assert await state.account_health() == {7: limited}  # still out of rotation while Redis is away
    await state.mark_account(8, AccountHealth("overloaded", until=None, reason="529", updated_at=2.0))
    assert set(await state.account_health()) == {7, 8}  # marks made meanwhile are kept per process


async def test_marks_are_kept_whichever_view_meets_the_outage_first(state: ResilientState, server: PrivateRedis) -> None:
    limited = AccountHealth("rate_limited", until=None, reason="429", updated_at=1.0)
    strict = state.strict()  # made before the marks were read
    await state.mark_account(7, limited)
    assert await state.account_health() == {7: limited}
    server.kill()
    with pytest.raises(StateUnavailable):
        await strict.incr_window("rpm:1", 60)  # the quota check fails first
    assert await state.account_health() == {7: limited}


async def test_a_paused_redis_costs_one_timeout_then_nothing(state: ResilientState, server: PrivateRedis) -> None:
    await state.incr_window("w", 60)  # a pooled connection, as under traffic
    server.pause()
    with anyio.fail_after(TIMEOUT + 1.0):  # one timeout (no retries), then the fallback
        assert await state.incr_window("w", 60) == 1
    assert state.degraded and "Timeout" in state.breaker.reason
    with anyio.fail_after(0.5):  # the breaker is open: nothing waits on Redis
        for _ in range(50):
            await state.incr_window("w", 60)
    server.resume()
    await recovered(state)
    # Redis's own count, kept through the pause; the increment that timed out
    # was read by Redis when it woke and usually ran then (hence slot tokens).
    assert await state.incr_window("w", 60) in (2, 3)


async def test_closed_mode_view_refuses_instead_of_falling_back(state: ResilientState, server: PrivateRedis) -> None:
    strict = state.strict()
    assert await strict.incr_window("rpm:1", 60) == 1
    server.kill()
    with pytest.raises(StateUnavailable) as refused:
        await strict.incr_window("rpm:1", 60)
    assert 0 < refused.value.retry_after <= COOLDOWN
    assert state.degraded  # one breaker for both views
    assert await state.incr_window("rpm:1", 60) == 1  # the lenient view still falls back
    with pytest.raises(StateUnavailable):
        await strict.acquire("key:1", 1, 30)
    await strict.aclose()  # a view: closing it closes nothing
    server.start()
    await recovered(state)
    assert await strict.incr_window("rpm:1", 60) == 1


# --- slots: token-scoped release, leases renewed ------------------------------


async def test_a_timed_out_acquire_is_released_by_its_token(server: PrivateRedis, anyio_backend: str) -> None:
    from aiproxy.state.redis import RedisState

    s = RedisState(server.url, timeout=TIMEOUT)
    watcher = RedisState(server.url)
    try:
        assert await s.held("key:9") == 0  # a pooled connection
        server.pause()
        with pytest.raises(Exception) as gave_up:
            await s.acquire("key:9", 1, 30)
        assert "Timeout" in type(gave_up.value).__name__
        # Redis reads the script it was sent when it wakes up, and may run it
        # after the client gave up: the token, known before the call, is
        # dropped off the request path once Redis answers.
        server.resume()
        await until(lambda: not s._dropping)
        assert await watcher.held("key:9") == 0
        assert await s.acquire("key:9", 1, 30) is not None  # the limit of 1 is free
    finally:
        await s.aclose()
        await watcher.aclose()


async def test_a_release_that_fails_is_sent_when_redis_answers(server: PrivateRedis, anyio_backend: str) -> None:
    s = state_from_url(server.url, timeout=TIMEOUT, cooldown=COOLDOWN)
    assert isinstance(s, ResilientState)
    try:
        slot = await s.acquire("account:1", 1, 30)
        assert slot is not None and not slot.startswith("local:")
        server.pause()
        with anyio.fail_after(TIMEOUT + 1.0):
            await s.release("account:1", slot)  # times out: no exception, queued
        assert s.degraded
        server.resume()
        await until(lambda: not s.primary._dropping)
        await recovered(s)
        assert await s.held("account:1") == 0
    finally:
        await s.aclose()


async def test_leases_are_renewed_while_held_and_lapse_once_the_holder_is_gone(
    server: PrivateRedis, anyio_backend: str
) -> None:
    from aiproxy.state.redis import RedisState

    holder, other = RedisState(server.url), RedisState(server.url)
    try:
        kept = await holder.acquire("key:3", 2, 0.3)
        assert kept is not None and holder.holding() == 1
        await anyio.sleep(1.0)  # three leases: renewed in the background
        assert await other.held("key:3") == 1
        await holder.release("key:3", kept)
        assert holder.holding() == 0 and await other.held("key:3") == 0

        await holder.acquire("key:3", 2, 0.3)
        await holder.aclose()  # the holder dies without releasing: renewals stop
        await anyio.sleep(0.5)
        assert await other.held("key:3") == 0
    finally:
        await holder.aclose()
        await other.aclose()


async def test_upkeep_renews_every_slot_in_one_call(server: PrivateRedis, anyio_backend: str) -> None:
    from aiproxy.state.redis import RedisState

    s = RedisState(server.url)
    try:
        tokens = [await s.acquire(f"key:{i % 5}", 100, 30) for i in range(50)]
        assert all(tokens)
        assert await s.upkeep() == 50
        await s.release("key:0", tokens[0])  # type: ignore[arg-type]
        assert await s.upkeep() == 49
    finally:
        await s.aclose()


# --- stale connections after a restart -----------------------------------------


async def _fill_the_pool(state: ResilientState | object, n: int) -> None:
    client = state.primary._redis  # type: ignore[attr-defined]
    # n commands at once that each hold a connection for a moment.
    await asyncio.gather(*[client.blpop([f"nothing:{i}"], timeout=0.1) for i in range(n)])


async def test_stale_pooled_connections_are_retried_once_on_a_fresh_one(
    state: ResilientState, server: PrivateRedis
) -> None:
    await _fill_the_pool(state, 20)
    assert len(state.primary._redis.connection_pool._available_connections) >= 20
    server.kill()
    server.start()  # every pooled connection is now dead, and nobody has noticed
    results = await asyncio.gather(*[state.incr_window("w", 60) for _ in range(20)])
    assert sorted(results) == list(range(1, 21))  # all counted on Redis
    assert not state.degraded  # not one of them failed


async def test_without_the_retry_those_connections_would_fail(server: PrivateRedis, anyio_backend: str) -> None:
    # The control for the test above: the same restart does break pooled
    # connections when the client does not retry.
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    from aiproxy.state.breaker import CircuitBreaker
    from aiproxy.state.redis import FAILURES, RedisState

    client = aioredis.Redis.from_url(server.url, socket_timeout=TIMEOUT, retry=Retry(NoBackoff(), 0))
    s = ResilientState(RedisState(client), MemoryState(), CircuitBreaker(COOLDOWN), failures=FAILURES)
    try:
        await _fill_the_pool(s, 20)
        server.kill()
        server.start()
        await asyncio.gather(*[s.incr_window("w", 60) for _ in range(20)])
        assert s.degraded
    finally:
        await s.aclose()
        await client.aclose()
