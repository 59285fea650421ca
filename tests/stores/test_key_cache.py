from __future__ import annotations

import anyio
import pytest

from aiproxy.stores.entities import ApiKey
from aiproxy.stores.key_cache import KeyCache, KeyStoreUnavailable
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


class LaggingStore(CountingStore):
    """Reads the row, then waits at the gate before answering: a read that sees the row as it was."""

    async def get_by_hash(self, key_hash: str) -> ApiKey | None:
        gate, self.gate = self.gate, None
        row = await super().get_by_hash(key_hash)
        if gate is not None:
            await gate.wait()
        return row


async def test_a_read_under_way_when_its_key_is_invalidated_is_not_kept():
    store, clock = LaggingStore(), Clock()
    key = await store.create(ApiKey(user_id=1, name="k", key_hash="h", key_prefix="p"))
    cache = KeyCache(store, ttl=30, clock=clock)
    await cache.lookup("h")
    clock.now += 31
    store.gate = gate = anyio.Event()
    assert (await cache.lookup("h")).enabled  # stale, served; its refresh reads the enabled row and waits
    await settle()
    key.enabled = False
    await store.update(key)
    cache.invalidate("h")  # another instance's notice, or this one's admin API
    gate.set()
    await settle()
    assert (await cache.lookup("h")).enabled is False  # the old read's answer was not kept
    assert store.reads == 3


async def test_refresh_all_serves_known_keys_while_each_is_read_again():
    store, clock = CountingStore(), Clock()
    key = await store.create(ApiKey(user_id=1, name="old", key_hash="h", key_prefix="p"))
    cache = KeyCache(store, ttl=30, negative_ttl=5, clock=clock)
    await cache.lookup("h")
    assert await cache.lookup("unknown") is None
    key.name = "renamed"
    await store.update(key)
    await store.create(ApiKey(user_id=1, name="new", key_hash="unknown", key_prefix="q"))
    cache.refresh_all()  # well within the TTL
    assert (await cache.lookup("h")).name == "old"  # at once, from memory
    await settle()
    assert (await cache.lookup("h")).name == "renamed"
    assert (await cache.lookup("unknown")).name == "new"  # an unknown one is not served from memory
    assert store.reads == 4


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


class FailingStore(CountingStore):
    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def get_by_hash(self, key_hash: str) -> ApiKey | None:
        if self.down:
            self.reads += 1
            raise ConnectionRefusedError(111, "Connection refused")
        return await super().get_by_hash(key_hash)


async def settle() -> None:
    for _ in range(20):
        await anyio.sleep(0)


async def test_a_known_key_outlives_its_ttl_while_the_store_is_down(caplog: pytest.LogCaptureFixture):
    store, clock = FailingStore(), Clock()
    await store.create(ApiKey(user_id=1, name="k", key_hash="h", key_prefix="p"))
    cache = KeyCache(store, ttl=30, negative_ttl=5, stale_seconds=600, clock=clock)
    await cache.lookup("h")
    store.down = True
    reads = store.reads
    clock.now += 31
    for _ in range(50):  # many requests, one refresh attempt
        assert (await cache.lookup("h")).name == "k"
        await settle()
    assert store.reads == reads + 1 and not cache.store_available
    clock.now += 6  # the next attempt only after negative_ttl
    assert (await cache.lookup("h")).name == "k"
    await settle()
    assert store.reads == reads + 2
    # Past the bound the key is no longer vouched for.
    clock.now += 600
    with pytest.raises(KeyStoreUnavailable):
        await cache.lookup("h")
    store.down = False
    assert (await cache.lookup("h")).name == "k" and cache.store_available
    lines = [r for r in caplog.records if r.name == "aiproxy.keys"]
    assert [r.getMessage().split(":")[0] for r in lines] == ["key store unavailable", "key store back"]
    assert all(r.exc_info is None for r in lines)


async def test_an_uncached_key_raises_unavailable_rather_than_answering_unknown():
    store = FailingStore()
    store.down = True
    cache = KeyCache(store)
    with pytest.raises(KeyStoreUnavailable):
        await cache.lookup("h")
    # Nothing remembered: once the store answers, the key is read.
    store.down = False
    await store.create(ApiKey(user_id=1, name="k", key_hash="h", key_prefix="p"))
    assert (await cache.lookup("h")).name == "k"


async def test_a_hanging_store_raises_after_the_timeout_and_fills_the_cache_later():
    store = CountingStore()
    await store.create(ApiKey(user_id=1, name="k", key_hash="h", key_prefix="p"))
    store.gate = anyio.Event()
    cache = KeyCache(store, timeout=0.05)
    with pytest.raises(KeyStoreUnavailable):
        await cache.lookup("h")
    store.gate.set()  # the read that was left running ends
    await settle()
    assert (await cache.lookup("h")).name == "k" and store.reads == 1
