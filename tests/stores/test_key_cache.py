from __future__ import annotations

import anyio
import pytest

from aiproxy.stores.entities import ApiKey
from aiproxy.stores.key_cache import KeyCache
from aiproxy.stores.memory import MemoryKeyStore

pytestmark = pytest.mark.anyio


class CountingStore(MemoryKeyStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.gate: anyio.Event | None = None

    async def get_by_hash(self, key_hash: str) -> ApiKey | None:
        self.reads += 1
        if self.gate is not None:
            await self.gate.wait()
        return await super().get_by_hash(key_hash)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_hits_are_served_from_memory():
    store, clock = CountingStore(), Clock()
    await store.create(ApiKey(user_id=1, name="k", key_hash="h", key_prefix="p"))
    cache = KeyCache(store, ttl=30, negative_ttl=5, clock=clock)
    assert (await cache.lookup("h")).name == "k"
    for _ in range(10):
        await cache.lookup("h")
    assert store.reads == 1


async def test_unknown_keys_are_remembered_briefly():
    store, clock = CountingStore(), Clock()
    cache = KeyCache(store, ttl=30, negative_ttl=5, clock=clock)
    assert await cache.lookup("nope") is None
    assert await cache.lookup("nope") is None
    assert store.reads == 1
    await store.create(ApiKey(user_id=1, name="new", key_hash="nope", key_prefix="p"))
    clock.now += 6
    assert (await cache.lookup("nope")).name == "new"


async def test_expired_entry_is_served_stale_while_refreshed():
    store, clock = CountingStore(), Clock()
    key = await store.create(ApiKey(user_id=1, name="old", key_hash="h", key_prefix="p"))
    cache = KeyCache(store, ttl=30, negative_ttl=5, clock=clock)
    await cache.lookup("h")
    key.name = "renamed"
    await store.update(key)
    clock.now += 31
    assert (await cache.lookup("h")).name == "old"  # answered at once, from memory
    for _ in range(50):
        await anyio.sleep(0)
    assert (await cache.lookup("h")).name == "renamed"
    assert store.reads == 2


async def test_invalidate_takes_effect_at_once():
    store = CountingStore()
    key = await store.create(ApiKey(user_id=1, name="k", key_hash="h", key_prefix="p"))
    cache = KeyCache(store)
    await cache.lookup("h")
    key.enabled = False
    await store.update(key)
    cache.invalidate("h")
    assert (await cache.lookup("h")).enabled is False


async def test_concurrent_misses_share_one_read():
    store = CountingStore()
    await store.create(ApiKey(user_id=1, name="k", key_hash="h", key_prefix="p"))
    store.gate = anyio.Event()
    cache = KeyCache(store)
    results = []

    async def look() -> None:
        results.append(await cache.lookup("h"))

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(look)
        await anyio.sleep(0.01)
        store.gate.set()
    assert store.reads == 1 and len(results) == 20 and all(r.name == "k" for r in results)
