"""The first use of keys that expire N days after it, stamped off the request path.

A key with `expires_after_days` starts its clock at its first request. The
request must not wait on the database, so the first request this process sees
is stamped here in memory at once (the key's expiry counts from it straight
away) and written to the store by a background task. The store keeps the
earliest stamp (another instance may have written one first); the key's cached
entry is then dropped, so the next lookup reads the stored stamp, and other
instances read it when their cache entry is refreshed.

While the store fails, a stamp's write is retried by its task with
exponential backoff (the stamp meanwhile holds in memory, so the key's clock
does not restart); one line is logged when writes start failing and one when
they work again. At shutdown, `drain` waits a bounded time for them.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime
from typing import Callable

from ..backoff import backoff_delay, describe
from .entities import ApiKey, utcnow
from .protocols import KeyStore

log = logging.getLogger("aiproxy.keys")


class KeyFirstUse:
    def __init__(
        self,
        store: KeyStore,
        key_changed: Callable[[str], None],
        *,
        now: Callable[[], datetime] = utcnow,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._key_changed = key_changed
        self._now = now
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._jitter = jitter
        # Stamps taken but not yet stored (and read back through the cache).
        self._pending: dict[int, datetime] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._store_failing = False

    def first_use(self, key: ApiKey) -> datetime | None:
        """The key's first use, stamping this request as it if there is none.
        Only keys that expire after their first use are stamped."""
        if key.first_used_at is not None or key.expires_after_days is None or key.id is None:
            return key.first_used_at
        stamp = self._pending.get(key.id)
        if stamp is None:
            stamp = self._pending[key.id] = self._now()
            task = asyncio.get_running_loop().create_task(self._store_stamp(key, stamp))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return stamp

    async def _store_stamp(self, key: ApiKey, stamp: datetime) -> None:
        assert key.id is not None
        failures = 0
        try:
            while True:
                try:
                    await self._store.mark_first_use(key.id, stamp)
                    break
                except Exception as exc:
                    failures += 1
                    if not self._store_failing:
                        self._store_failing = True
                        log.warning(
                            "could not store the first use of API keys: %s; retrying with backoff", describe(exc)
                        )
                await asyncio.sleep(backoff_delay(failures, self._backoff_initial, self._backoff_max, self._jitter()))
            if self._store_failing:
                self._store_failing = False
                log.warning("first uses of API keys are stored again")
            self._key_changed(key.key_hash)
        finally:
            # The cache entry is dropped (or the process stops before the write
            # landed): from the next lookup on, the key itself carries the
            # stamp, or is stamped again.
            self._pending.pop(key.id, None)

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait for the stamps being written (at shutdown), at most `timeout`
        seconds: a stamp still unwritten then is taken again at the key's next use."""
        if not self._tasks:
            return
        tasks = list(self._tasks)
        done, left = await asyncio.wait(tasks, timeout=timeout)
        for task in left:
            task.cancel()
        if left:
            await asyncio.gather(*left, return_exceptions=True)
            log.warning("%d first-use stamps of API keys were not stored before shutdown", len(left))
