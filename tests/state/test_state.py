"""SharedState on every backend: health marks, slots, bindings, response ids, last used, windows, counters."""

from __future__ import annotations

import math

import anyio
import pytest

from aiproxy.state import AccountHealth, LastError, MemoryState, ResilientState, SharedState, state_from_url
from tests.state.conftest import StateEnv, delete_prefixed, redis_url

pytestmark = pytest.mark.anyio


async def test_each_backend_keeps_the_protocol(state: SharedState) -> None:
    assert isinstance(state, SharedState)


# --- account health ---------------------------------------------------------


async def test_marks_are_kept_until_they_lapse(env: StateEnv) -> None:
    s, now = env.state, env.now()
    limited = AccountHealth("rate_limited", until=now + 0.2, reason="429 from upstream", updated_at=now)
    broken = AccountHealth("error", until=None, reason="401: token revoked", updated_at=now)
    await s.mark_account(1, limited)
    await s.mark_account(2, broken)
    assert await s.account_health() == {1: limited, 2: broken}

    await env.advance(0.3)
    assert await s.account_health() == {2: broken}  # the lapsed mark is gone; None never lapses

    await s.clear_account(2)
    await s.clear_account(99)  # clearing an unmarked account is fine
    assert await s.account_health() == {}


async def test_a_new_mark_replaces_the_old_one(env: StateEnv) -> None:
    s, now = env.state, env.now()
    await s.mark_account(3, AccountHealth("error", until=None, reason="boom", updated_at=now))
    overloaded = AccountHealth("overloaded", until=now + 60, reason="529", updated_at=now + 1)
    await s.mark_account(3, overloaded)
    assert await s.account_health() == {3: overloaded}
    ok = AccountHealth("ok", until=None, reason="", updated_at=now + 2)
    await s.mark_account(3, ok)
    assert await s.account_health() == {3: ok}


async def test_a_mark_already_lapsed_is_not_kept(env: StateEnv) -> None:
    s, now = env.state, env.now()
    await s.mark_account(4, AccountHealth("error", until=None, reason="old", updated_at=now))
    await s.mark_account(4, AccountHealth("rate_limited", until=now - 1, reason="late", updated_at=now))
    assert await s.account_health() == {}


async def test_marks_are_copies(env: StateEnv) -> None:
    s = env.state
    h = AccountHealth("error", reason="x", updated_at=env.now())
    await s.mark_account(5, h)
    h.reason = "changed by the caller"
    got = await s.account_health()
    assert got[5].reason == "x"
    got[5].reason = "changed again"
    assert (await s.account_health())[5].reason == "x"


async def test_last_error_is_kept_apart_from_the_mark(env: StateEnv) -> None:
    s = env.state
    assert await s.last_error(7) is None
    before = env.now()
    await s.record_error(7, "first")
    await s.record_error(7, "upstream said 500: overloaded")
    await s.mark_account(7, AccountHealth("error", reason="500", updated_at=before))
    await s.clear_account(7)  # a reset clears the mark …
    err = await s.last_error(7)  # … and the last error stays for display
    assert isinstance(err, LastError)
    assert err.message == "upstream said 500: overloaded"
    assert before - 1 <= err.at <= env.now() + 1
    assert await s.last_error(8) is None


# --- concurrency slots ------------------------------------------------------


async def test_slots_up_to_the_limit_and_back_on_release(env: StateEnv) -> None:
    s = env.state
    a = await s.acquire("account:7", 2, 30)
    b = await s.acquire("account:7", 2, 30)
    assert a and b and a != b
    assert await s.acquire("account:7", 2, 30) is None
    assert await s.held("account:7") == 2
    assert await s.acquire("key:12", 1, 30) is not None  # keys are independent
    assert await s.acquire("account:7", 3, 30) is not None  # the limit is the caller's, per call

    await s.release("account:7", a)
    await s.release("account:7", a)  # twice: a no-op
    await s.release("account:7", "not-a-token")
    assert await s.held("account:7") == 2
    assert await s.acquire("account:7", 3, 30) is not None
    assert await s.held("account:7") == 3
    assert await s.held("nobody") == 0


async def _race(states: list[SharedState], key: str, limit: int, callers: int) -> list[str]:
    got: list[str] = []

    async def one(i: int) -> None:
        token = await states[i % len(states)].acquire(key, limit, 30)
        if token is not None:
            got.append(token)

    async with anyio.create_task_group() as tg:
        for i in range(callers):
            tg.start_soon(one, i)
    return got


async def test_slot_limit_is_exact_under_50_concurrent_acquirers(env: StateEnv) -> None:
    got = await _race([env.state], "account:1", 7, 50)
    assert len(got) == 7 and len(set(got)) == 7
    assert await env.state.held("account:1") == 7


async def test_slot_limit_is_exact_across_two_instances(env: StateEnv) -> None:
    if env.kind == "memory":
        pytest.skip("two instances share slots only through Redis")
    first, second = env.state, env.another()
    got = await _race([first, second], "key:12", 5, 50)
    assert len(got) == 5
    assert await first.held("key:12") == 5 and await second.held("key:12") == 5
    # A slot taken through one instance is released through the other.
    await second.release("key:12", got[0])
    assert await first.held("key:12") == 4


async def test_an_unreleased_slot_comes_back_after_its_lease(env: StateEnv) -> None:
    s = env.state
    # A holder that dies: on Redis another instance, closed (a live one renews
    # its slots' leases); in memory nothing renews.
    holder = env.another()
    crashed = await holder.acquire("account:2", 1, 0.2)
    assert crashed is not None
    if holder is not s:
        await holder.aclose()
    assert await s.acquire("account:2", 1, 0.2) is None
    await env.advance(0.3)
    assert await s.held("account:2") == 0
    assert await s.acquire("account:2", 1, 30) is not None
    await s.release("account:2", crashed)  # the late release of a lapsed slot frees nothing
    assert await s.held("account:2") == 1


# --- sticky bindings ----------------------------------------------------------


async def test_bindings_hold_until_their_ttl(env: StateEnv) -> None:
    s = env.state
    assert await s.get_binding("sess-a") is None
    await s.bind("sess-a", 3, 0.2)
    await s.bind("sess-b", 4, 60)
    assert await s.get_binding("sess-a") == 3
    await env.advance(0.3)
    assert await s.get_binding("sess-a") is None
    assert await s.get_binding("sess-b") == 4

    await s.bind("sess-b", 5, 60)  # rebinding moves the session
    assert await s.get_binding("sess-b") == 5
    await s.unbind("sess-b")
    await s.unbind("sess-b")
    assert await s.get_binding("sess-b") is None


# --- which account made a stored response (issue 13) -------------------------


async def test_response_ids_name_their_account_until_their_ttl(env: StateEnv) -> None:
    s = env.state
    assert await s.response_account("resp_a") is None
    await s.remember_response("resp_a", 3, 0.2)
    await s.remember_response("resp_b", 4, 60)
    assert await s.response_account("resp_a") == 3
    assert await s.response_account("resp_b") == 4
    await env.advance(0.3)
    assert await s.response_account("resp_a") is None
    assert await s.response_account("resp_b") == 4
    # Another instance on the same backend sees them too.
    assert await env.another().response_account("resp_b") == 4


async def test_a_response_id_is_kept_apart_from_a_session_of_the_same_name(env: StateEnv) -> None:
    s = env.state
    await s.bind("resp_x", 1, 60)
    await s.remember_response("resp_x", 2, 60)
    assert await s.get_binding("resp_x") == 1
    assert await s.response_account("resp_x") == 2


# --- pending OAuth logins ------------------------------------------------------


async def test_pending_logins_are_kept_until_their_ttl_and_seen_by_another_instance(env: StateEnv) -> None:
    s = env.state
    assert await s.pending_login("login-a") is None
    assert await s.keep_login("login-a", "sealed-a", 0.2)
    assert await s.keep_login("login-b", "sealed-b", 60)
    assert await s.pending_login("login-a") == "sealed-a"
    assert await env.another().pending_login("login-b") == "sealed-b"  # finished on another instance
    await env.advance(0.3)
    assert await s.pending_login("login-a") is None
    await s.drop_login("login-b")
    await s.drop_login("login-b")  # twice: a no-op
    assert await s.pending_login("login-b") is None


async def test_memory_refuses_logins_past_its_cap_until_some_lapse() -> None:
    from aiproxy.state.memory import MAX_LOGINS
    from tests.state.conftest import FakeClock

    clock = FakeClock()
    s = MemoryState(clock=clock)
    for i in range(MAX_LOGINS):
        assert await s.keep_login(f"l{i}", "x", 10 if i == 0 else 600)
    assert not await s.keep_login("one-more", "x", 600)
    clock.now += 11  # the first lapses: room for one
    assert await s.keep_login("one-more", "x", 600)
    assert not await s.keep_login("and-another", "x", 600)


# --- last used ----------------------------------------------------------------


async def test_last_used_for_many_ids(env: StateEnv) -> None:
    s = env.state
    base = 1_800_000_000.123456
    for i in range(200):
        await s.touch(i, base + i / 7)
    await s.touch(5, base + 1000.5)  # a later touch wins
    got = await s.last_used(iter(range(250)))  # any iterable
    assert len(got) == 200
    assert got[5] == base + 1000.5
    assert all(got[i] == base + i / 7 for i in range(200) if i != 5)  # floats round-trip exactly
    assert await s.last_used([]) == {}
    assert await s.last_used([999]) == {}


# --- fixed windows ------------------------------------------------------------


async def _start_of_window(env: StateEnv, window: int, margin: float = 1.5) -> None:
    """Be early in a window, so the next `margin` seconds cannot straddle a boundary by chance."""
    if env.clock is not None:
        env.clock.now = math.floor(env.clock.now / window) * window + window + 0.01
        return
    into = env.now() % window
    if into > window - margin:
        await anyio.sleep(window - into + 0.01)


async def test_a_window_counts_then_rolls_over(env: StateEnv) -> None:
    s = env.state
    await _start_of_window(env, 3600, margin=5)
    await _start_of_window(env, 2)
    assert await s.get_window("key:1:rpm", 2) == 0
    assert await s.incr_window("key:1:rpm", 2) == 1
    assert await s.incr_window("key:1:rpm", 2, 4) == 5
    assert await s.get_window("key:1:rpm", 2) == 5
    assert await s.incr_window("key:2:rpm", 2) == 1  # other keys count apart
    assert await s.incr_window("key:1:rpm", 3600) == 1  # and other window sizes

    await env.advance(2.05)  # past the boundary: a fresh window
    assert await s.get_window("key:1:rpm", 2) == 0
    assert await s.incr_window("key:1:rpm", 2) == 1
    assert await s.incr_window("key:1:rpm", 3600, 2) == 3  # the hour window still runs


async def test_windows_are_aligned_to_the_epoch(env: StateEnv) -> None:
    if env.clock is None:
        pytest.skip("needs the fake clock to stand at a chosen instant")
    s = env.state
    env.clock.now = 60 * 1000 + 59.9  # 0.1 s before a minute ends
    await s.incr_window("k", 60, 3)
    env.clock.now += 0.2  # a new minute, though only 0.2 s passed
    assert await s.incr_window("k", 60) == 1


async def test_window_counts_are_exact_under_concurrency(env: StateEnv) -> None:
    await _start_of_window(env, 3600)
    states = [env.state, env.another()]

    async def add(i: int) -> None:
        await states[i % 2].incr_window("key:9:rph", 3600, 2)

    async with anyio.create_task_group() as tg:
        for i in range(50):
            tg.start_soon(add, i)
    assert await env.state.get_window("key:9:rph", 3600) == 100


# --- float counters -----------------------------------------------------------


async def test_float_counters_add_and_lapse(env: StateEnv) -> None:
    s = env.state
    assert await s.get_float("cost:key:1:2026-11-26") == 0.0
    assert await s.incr_float("cost:key:1:2026-11-26", 0.25, 0.4) == pytest.approx(0.25)
    assert await s.incr_float("cost:key:1:2026-11-26", 1.5, 0.4) == pytest.approx(1.75)
    assert await s.incr_float("cost:user:1:2026-11-26", 0.1, 60) == pytest.approx(0.1)
    assert await s.get_float("cost:key:1:2026-11-26") == pytest.approx(1.75)

    await env.advance(0.25)
    assert await s.incr_float("cost:key:1:2026-11-26", 1, 0.4) == pytest.approx(2.75)
    await env.advance(0.25)  # 0.5 s after the first add: later adds did not push the TTL back
    assert await s.get_float("cost:key:1:2026-11-26") == 0.0
    assert await s.incr_float("cost:key:1:2026-11-26", 0.5, 0.4) == pytest.approx(0.5)  # starts afresh
    assert await s.get_float("cost:user:1:2026-11-26") == pytest.approx(0.1)


# --- construction and backends ------------------------------------------------


async def test_state_from_url_chooses_the_backend(anyio_backend: str) -> None:
    from aiproxy.state.redis import RedisState

    assert isinstance(state_from_url(None), MemoryState)
    assert isinstance(state_from_url(""), MemoryState)
    assert isinstance(state_from_url("sqlite+aiosqlite:///x.db"), MemoryState)
    for url in ("redis://127.0.0.1:6379/0", "rediss://example.invalid:6380/1"):
        s = state_from_url(url)  # no connection is made until first use
        # Redis behind a breaker, with this process's memory to fall back on.
        assert isinstance(s, ResilientState) and isinstance(s.primary, RedisState)
        assert isinstance(s.fallback, MemoryState) and s.prefix == s.primary.prefix == "aiproxy:"
        await s.aclose()
    s = state_from_url("redis://127.0.0.1:6379/0", prefix="gw1:")
    assert isinstance(s, ResilientState) and s.primary.prefix == "gw1:"
    await s.aclose()


async def test_memory_sweeps_what_is_never_read_again(anyio_backend: str) -> None:
    from tests.state.conftest import FakeClock

    clock = FakeClock()
    s = MemoryState(clock=clock)
    for i in range(999):
        await s.bind(f"one-off-{i}", 1, 1)
    clock.now += 2
    await s.bind("last", 1, 60)  # the 1000th write sweeps
    assert len(s._bindings) == 1


async def test_memory_keeps_a_bounded_number_of_response_ids(anyio_backend: str) -> None:
    from tests.state.conftest import FakeClock

    clock = FakeClock()
    s = MemoryState(clock=clock, max_responses=3)
    for i in range(5):
        await s.remember_response(f"resp_{i}", i, 60)
    # Past the cap the oldest are forgotten.
    assert [await s.response_account(f"resp_{i}") for i in range(5)] == [None, None, 2, 3, 4]
    await s.remember_response("resp_2", 7, 60)  # written again: the newest now
    await s.remember_response("resp_5", 5, 60)
    assert [await s.response_account(f"resp_{i}") for i in (2, 3, 4, 5)] == [7, None, 4, 5]
    # Lapsed ones go at the next write, read or not.
    clock.now += 61
    await s.remember_response("resp_6", 6, 60)
    assert list(s._responses) == ["resp_6"]


async def test_redis_state_on_a_client_handed_in(anyio_backend: str) -> None:
    url = redis_url()
    if url is None:
        pytest.skip("set AIPROXY_TEST_REDIS_URL=redis://127.0.0.1:6379/0 to test on Redis")
    import redis.asyncio as aioredis

    from aiproxy.state.redis import RedisState

    prefix = "aiproxy-test-client:"
    # decode_responses=True: the state must read str as well as bytes.
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        s = RedisState(client, prefix=prefix)
        await s.mark_account(1, AccountHealth("overloaded", until=None, reason="529", updated_at=1.0))
        assert (await s.account_health())[1].state == "overloaded"
        await s.bind("sess", 2, 60)
        assert await s.get_binding("sess") == 2
        await s.remember_response("resp_1", 3, 60)
        assert await s.response_account("resp_1") == 3
        assert await s.incr_float("c", 0.5, 60) == 0.5
        assert await s.incr_window("w", 60) >= 1
        await s.touch(1, 2.5)
        assert await s.last_used([1]) == {1: 2.5}
        assert await s.acquire("slot", 1, 30) is not None
        await s.aclose()  # the caller's client stays open
        assert await client.ping()
        keys = await client.keys(f"{prefix}*")
        assert keys and all(str(k).startswith(prefix) for k in keys)
    finally:
        await delete_prefixed(url, prefix)
        await client.aclose()
