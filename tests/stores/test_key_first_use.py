"""KeyFirstUse: the first use of a key that expires after it, stamped off the request path."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from aiproxy.stores.entities import ApiKey
from aiproxy.stores.key_first_use import KeyFirstUse
from aiproxy.stores.memory import MemoryStores

pytestmark = pytest.mark.anyio

T = datetime(2026, 11, 26, 8, 0, 0)


class Clock:
    def __init__(self) -> None:
        self.at = T

    def __call__(self) -> datetime:
        self.at += timedelta(seconds=1)
        return self.at


async def make(stores: MemoryStores, **fields: object) -> ApiKey:
    return await stores.keys.create(ApiKey(user_id=1, name="k", key_hash="h" * 64, key_prefix="ap-", **fields))


async def test_first_request_stamps_once_and_drops_the_cached_key() -> None:
    stores = MemoryStores()
    key = await make(stores, expires_after_days=5)
    changed: list[str] = []
    first_use = KeyFirstUse(stores.keys, changed.append, now=Clock())
    # Many requests before the write lands: one stamp, one write.
    stamps = {first_use.first_use(key) for _ in range(10)}
    assert stamps == {T + timedelta(seconds=1)}
    await first_use.drain()
    stored = await stores.keys.get(key.id)  # type: ignore[arg-type]
    assert stored is not None and stored.first_used_at == T + timedelta(seconds=1)
    assert changed == [key.key_hash]
    assert stored.expiry() == T + timedelta(days=5, seconds=1)
    # The reloaded key carries the stamp: nothing more is written.
    assert first_use.first_use(stored) == stored.first_used_at
    await first_use.drain()
    assert changed == [key.key_hash]


async def test_keys_without_the_rule_are_not_stamped() -> None:
    stores = MemoryStores()
    key = await make(stores)
    first_use = KeyFirstUse(stores.keys, lambda h: None)
    assert first_use.first_use(key) is None
    await first_use.drain()
    assert (await stores.keys.get(key.id)).first_used_at is None  # type: ignore[arg-type,union-attr]


async def test_the_earlier_stamp_of_another_instance_stays() -> None:
    stores = MemoryStores()
    key = await make(stores, expires_after_days=1)
    await stores.keys.mark_first_use(key.id, T - timedelta(hours=3))  # type: ignore[arg-type]
    first_use = KeyFirstUse(stores.keys, lambda h: None, now=Clock())
    first_use.first_use(key)  # this instance's cached copy has no stamp yet
    await first_use.drain()
    assert (await stores.keys.get(key.id)).first_used_at == T - timedelta(hours=3)  # type: ignore[arg-type,union-attr]


async def test_a_failed_write_is_retried_with_backoff_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    stores = MemoryStores()
    key = await make(stores, expires_after_days=1)
    calls: list[float] = []
    real = stores.keys.mark_first_use
    loop = asyncio.get_running_loop()

    async def flaky(key_id: int, at: datetime) -> datetime | None:
        calls.append(loop.time())
        if len(calls) <= 4:
            raise ConnectionError("database away")
        return await real(key_id, at)

    stores.keys.mark_first_use = flaky  # type: ignore[method-assign]
    first_use = KeyFirstUse(stores.keys, lambda h: None, now=Clock(), backoff_initial=0.02, jitter=lambda: 1.0)
    stamp = first_use.first_use(key)
    # Requests meanwhile keep the first stamp and start no writes of their own.
    await asyncio.sleep(0.01)
    assert first_use.first_use(key) == stamp
    await first_use.drain()
    assert len(calls) == 5
    gaps = [b - a for a, b in zip(calls, calls[1:])]
    assert all(gap >= 0.9 * 0.02 * 2**i for i, gap in enumerate(gaps)), gaps
    assert (await stores.keys.get(key.id)).first_used_at == stamp  # type: ignore[arg-type,union-attr]
    lines = [r for r in caplog.records if r.name == "aiproxy.keys"]
    assert [r.getMessage().split(":")[0] for r in lines] == [
        "could not store the first use of API keys",
        "first uses of API keys are stored again",
    ]
    assert all(r.exc_info is None for r in lines)


async def test_drain_gives_up_on_a_store_that_stays_down() -> None:
    stores = MemoryStores()
    key = await make(stores, expires_after_days=1)

    async def down(key_id: int, at: datetime) -> datetime | None:
        raise ConnectionError("database away")

    stores.keys.mark_first_use = down  # type: ignore[method-assign]
    first_use = KeyFirstUse(stores.keys, lambda h: None, now=Clock(), backoff_initial=0.01)
    first_use.first_use(key)
    await asyncio.wait_for(first_use.drain(timeout=0.1), 5)
    # Not stored: the key's next use (after a restart) stamps it again.
    assert first_use.first_use(key) is not None
    await first_use.drain(timeout=0.01)
