"""The first use of keys that expire N days after it, stamped off the request path.

A key with `expires_after_days` starts its clock at its first request. The
request must not wait on the database, so the first request this process sees
is stamped here in memory at once (the key's expiry counts from it straight
away) and written to the store by a background task. The store keeps the
earliest stamp (another instance may have written one first); the key's cached
entry is then dropped, so the next lookup reads the stored stamp, and other
instances read it when their cache entry is refreshed.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Callable

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
    ) -> None:
        self._store = store
        self._key_changed = key_changed
        self._now = now
        # Stamps taken but not yet stored (and read back through the cache).
        self._pending: dict[int, datetime] = {}
        self._tasks: set[asyncio.Task[None]] = set()

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
        try:
            await self._store.mark_first_use(key.id, stamp)
            self._key_changed(key.key_hash)
        except Exception:
            log.exception("could not store the first use of API key %s; the next request tries again", key.id)
        finally:
            # The cache entry is dropped (or the write failed): from the next
            # lookup on, the key itself carries the stamp, or is stamped again.
            self._pending.pop(key.id, None)

    async def drain(self) -> None:
        """Wait for the stamps being written (at shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
