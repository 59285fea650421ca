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


async def test_a_failed_write_is_tried_again_on_the_next_request(caplog: pytest.LogCaptureFixture) -> None:
    stores = MemoryStores()
    key = await make(stores, expires_after_days=1)
    calls = 0
    real = stores.keys.mark_first_use

    async def flaky(key_id: int, at: datetime) -> datetime | None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database away")
        return await real(key_id, at)

    stores.keys.mark_first_use = flaky  # type: ignore[method-assign]
    first_use = KeyFirstUse(stores.keys, lambda h: None, now=Clock())
    first_use.first_use(key)
    await first_use.drain()
    assert "could not store the first use" in caplog.text
    assert (await stores.keys.get(key.id)).first_used_at is None  # type: ignore[arg-type,union-attr]
    first_use.first_use(key)
    await asyncio.sleep(0)
    await first_use.drain()
    assert calls == 2 and (await stores.keys.get(key.id)).first_used_at is not None  # type: ignore[arg-type,union-attr]
