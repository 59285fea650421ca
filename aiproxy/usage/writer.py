"""Writes usage records to the store in batches, off the request path.

`submit` never awaits: it appends to a buffer. A background task flushes the
buffer every `flush_seconds`, or sooner once `batch_size` records wait, and
`close` flushes whatever is left, so a clean shutdown loses nothing.
"""

from __future__ import annotations

import logging
from typing import Sequence

import anyio

from ..stores.entities import UsageRecord
from ..stores.protocols import UsageStore

log = logging.getLogger("aiproxy.usage")


class UsageWriter:
    def __init__(
        self,
        store: UsageStore,
        *,
        batch_size: int = 200,
        flush_seconds: float = 1.0,
        max_buffered: int = 100_000,
    ) -> None:
        self._store = store
        self._batch_size = batch_size
        self._flush_seconds = flush_seconds
        self._max_buffered = max_buffered
        self._buffer: list[UsageRecord] = []
        self._wake = anyio.Event()
        self._stopped = False
        self._dropped = 0

    def submit(self, record: UsageRecord) -> None:
        if len(self._buffer) >= self._max_buffered:
            # The store has been failing for a long time; keep memory bounded.
            self._buffer.pop(0)
            self._dropped += 1
        self._buffer.append(record)
        if len(self._buffer) >= self._batch_size:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    async def run(self) -> None:
        """The background loop; returns once `stop()` was called and the buffer is written."""
        while not self._stopped:
            with anyio.move_on_after(self._flush_seconds):
                await self._wake.wait()
            self._wake = anyio.Event()
            await self.flush()
            if len(self._buffer) >= self._batch_size:
                self._wake.set()  # a full batch came in while writing
        await self.flush()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    async def flush(self) -> None:
        """Write what is buffered now, in batches. Records submitted meanwhile
        wait for the next flush, so a busy gateway writes a few large batches a
        second rather than a stream of small ones."""
        remaining = len(self._buffer)
        while remaining > 0 and self._buffer:
            # Take the batch out before awaiting: submit() keeps appending meanwhile.
            batch: Sequence[UsageRecord] = self._buffer[: min(self._batch_size, remaining)]
            del self._buffer[: len(batch)]
            try:
                await self._store.add_many(batch)
            except Exception:
                log.exception("writing %d usage records failed; will retry", len(batch))
                self._buffer[:0] = batch
                return
            remaining -= len(batch)
        if self._dropped:
            log.error("dropped %d usage records while the store was failing", self._dropped)
            self._dropped = 0
