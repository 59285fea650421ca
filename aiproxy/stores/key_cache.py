"""API keys cached in memory, so a request does not wait on the database.

A key seen before is answered from memory. Once its entry is older than the
TTL it is still answered from memory while one background read refreshes it
(stale-while-revalidate), so even a refresh costs the request nothing. Unknown
keys are remembered for a shorter time, so a flood of bad keys reaches the
store once per key and TTL, and a key created on another instance is seen soon.
Changes made through this process call `invalidate` and take effect at once;
so do other instances' changes, told through Redis (state/invalidation.py),
and after a gap in those notices `refresh_all` has every entry re-read.
A read already under way when its key is invalidated may have read the old
row: its answer goes to the requests that were waiting for it, but is not kept.
Given the user store, a key whose owner is disabled or gone reads as disabled.

While the store fails, a known key keeps working from memory, for up to
`stale_seconds` past its TTL; its refresh is then tried again every
`negative_ttl` seconds, not on every request. A key that is not in memory
(or no longer may be served) raises `KeyStoreUnavailable`, which the key auth
middleware answers with a 503; so does a read that takes longer than
`timeout` (the read goes on, and fills the cache when it ends). One line is
logged when the store starts failing and one when it answers again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from typing import Callable

from .entities import ApiKey
from .protocols import KeyStore, UserStore

log = logging.getLogger("aiproxy.keys")


class KeyStoreUnavailable(Exception):
    """A key that is not cached could not be read: the store failed or did not answer in time."""


class KeyCache:
    def __init__(
        self,
        store: KeyStore,
        users: UserStore | None = None,
        *,
        ttl: float = 30.0,
        negative_ttl: float = 5.0,
        stale_seconds: float = 3600.0,
        timeout: float = 5.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._users = users
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._stale_seconds = stale_seconds
        self._timeout = timeout
        self._max_entries = max_entries
        self._clock = clock
        # key hash -> (fresh until, key or None for unknown, may be served until)
        self._entries: dict[str, tuple[float, ApiKey | None, float]] = {}
        # Reads in flight, one per key hash; referenced here while they run.
        self._loading: dict[str, asyncio.Task[ApiKey | None]] = {}
        # Reads begun before their key was invalidated: run to their end, not kept.
        self._superseded: set[asyncio.Task[ApiKey | None]] = set()
        self._store_failing = False

    async def lookup(self, key_hash: str) -> ApiKey | None:
        entry = self._entries.get(key_hash)
        if entry is not None:
            expires, key, usable_until = entry
            now = self._clock()
            if expires > now:
                return key
            if key is not None and usable_until > now:
                self._refresh_in_background(key_hash)
                return key
        return await self._load(key_hash)

    def invalidate(self, key_hash: str | None = None) -> None:
        if key_hash is None:
            self._entries.clear()
            self._supersede(list(self._loading))
        else:
            self._entries.pop(key_hash, None)
            self._supersede([key_hash])

    def refresh_all(self) -> None:
        """Every entry due for a re-read: known keys are served meanwhile, as past their TTL.

        For when changes may have gone unnoticed (other instances' notices missed)."""
        self._entries = {h: (0.0, key, usable) for h, (_, key, usable) in self._entries.items()}
        self._supersede(list(self._loading))

    def _supersede(self, key_hashes: list[str]) -> None:
        for key_hash in key_hashes:
            task = self._loading.pop(key_hash, None)
            if task is not None:
                self._superseded.add(task)

    @property
    def store_available(self) -> bool:
        """False from a failed read of the store until the next one that works."""
        return not self._store_failing

    async def _load(self, key_hash: str) -> ApiKey | None:
        # Concurrent misses for one key share a single store read, which runs
        # on as a task of its own when its waiters give up.
        task = self._loading.get(key_hash)
        if task is None:
            task = self._start_read(key_hash)
        try:
            return await asyncio.wait_for(asyncio.shield(task), self._timeout)
        except asyncio.TimeoutError:
            self._failing(f"no answer within {self._timeout:g} s")
            raise KeyStoreUnavailable(f"the key store did not answer within {self._timeout:g} s") from None

    def _refresh_in_background(self, key_hash: str) -> None:
        if key_hash not in self._loading:
            self._start_read(key_hash)

    def _start_read(self, key_hash: str) -> asyncio.Task[ApiKey | None]:
        task = asyncio.get_running_loop().create_task(self._read(key_hash))
        self._loading[key_hash] = task
        task.add_done_callback(functools.partial(self._read_done, key_hash))
        return task

    def _read_done(self, key_hash: str, task: asyncio.Task[ApiKey | None]) -> None:
        if self._loading.get(key_hash) is task:
            del self._loading[key_hash]
        self._superseded.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a background refresh has nobody awaiting it

    async def _read(self, key_hash: str) -> ApiKey | None:
        try:
            key = await self._store.get_by_hash(key_hash)
            if key is not None and key.enabled and self._users is not None:
                # A key works only while its owner does: a disabled or deleted
                # user's keys answer as disabled.
                owner = await self._users.get(key.user_id)
                if owner is None or not owner.enabled:
                    key = dataclasses.replace(key, enabled=False)
        except Exception as exc:
            self._failing(f"{type(exc).__name__}: {exc}")
            entry = self._entries.get(key_hash)
            now = self._clock()
            if entry is not None and entry[1] is not None and entry[2] > now:
                # Keep serving the known key, and try the store again in a
                # while rather than on every request.
                self._entries[key_hash] = (min(now + self._negative_ttl, entry[2]), entry[1], entry[2])
            raise KeyStoreUnavailable(f"the key store failed: {type(exc).__name__}") from exc
        if self._store_failing:
            self._store_failing = False
            log.warning("key store back: API keys are read again")
        if asyncio.current_task() in self._superseded:
            return key  # the key changed while it was read: the next lookup reads it again
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        now = self._clock()
        if key is not None:
            self._entries[key_hash] = (now + self._ttl, key, now + self._ttl + self._stale_seconds)
        else:
            self._entries[key_hash] = (now + self._negative_ttl, None, 0.0)
        return key

    def _failing(self, why: str) -> None:
        if not self._store_failing:
            self._store_failing = True
            log.warning(
                "key store unavailable: %s; cached keys are served up to %g s past their TTL, others answer 503",
                why[:300],
                self._stale_seconds,
            )
