"""API keys cached in memory, so a request does not wait on the database.

A key seen before is answered from memory. Once its entry is older than the
TTL it is still answered from memory while one background read refreshes it
(stale-while-revalidate), so even a refresh costs the request nothing. Unknown
keys are remembered for a shorter time, so a flood of bad keys reaches the
store once per key and TTL, and a key created on another instance is seen soon.
Changes made through this process call `invalidate` and take effect at once.
Given the user store, a key whose owner is disabled or gone reads as disabled.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Callable

from .entities import ApiKey
from .protocols import KeyStore, UserStore

log = logging.getLogger("aiproxy.keys")


class KeyCache:
    def __init__(
        self,
        store: KeyStore,
        users: UserStore | None = None,
        *,
        ttl: float = 30.0,
        negative_ttl: float = 5.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._users = users
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[float, ApiKey | None]] = {}
        self._loading: dict[str, asyncio.Future[ApiKey | None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # keeps background refreshes referenced

    async def lookup(self, key_hash: str) -> ApiKey | None:
        entry = self._entries.get(key_hash)
        if entry is not None:
            expires, key = entry
            if expires > self._clock():
                return key
            if key is not None:
                self._refresh_in_background(key_hash)
                return key
        return await self._load(key_hash)

    def invalidate(self, key_hash: str | None = None) -> None:
        if key_hash is None:
            self._entries.clear()
        else:
            self._entries.pop(key_hash, None)

    async def _load(self, key_hash: str) -> ApiKey | None:
        # Concurrent misses for one key share a single store read.
        pending = self._loading.get(key_hash)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[ApiKey | None] = asyncio.get_running_loop().create_future()
        self._loading[key_hash] = future
        try:
            key = await self._store.get_by_hash(key_hash)
            if key is not None and key.enabled and self._users is not None:
                # A key works only while its owner does: a disabled or deleted
                # user's keys answer as disabled.
                owner = await self._users.get(key.user_id)
                if owner is None or not owner.enabled:
                    key = dataclasses.replace(key, enabled=False)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            self._loading.pop(key_hash, None)
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        ttl = self._ttl if key is not None else self._negative_ttl
        self._entries[key_hash] = (self._clock() + ttl, key)
        future.set_result(key)
        return key

    def _refresh_in_background(self, key_hash: str) -> None:
        if key_hash in self._loading:
            return

        async def refresh() -> None:
            try:
                await self._load(key_hash)
            except Exception:
                log.exception("refreshing a cached API key failed; keeping the cached entry")

        task = asyncio.get_running_loop().create_task(refresh())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
