"""Writes usage records to the store in batches, off the request path, and
loses none while the store is down.

`submit` never awaits: it appends to a buffer. A background loop writes the
buffer every `flush_seconds`, or sooner once `batch_size` records wait.

When a write fails, the records go back into the buffer and the store is
tried again after an exponential, jittered backoff (`backoff_initial` doubling
up to `backoff_max`). The writer logs one line when the store goes away, one
when it first has to spill, and one when everything buffered is written again;
nothing per retry or batch. The buffer holds up to `max_buffered` records;
beyond that they are spilled to the spool (`spool.py`, JSON-lines files in
`spool_dir`) by a second task, which also works while a write hangs. Spilled
records are written back, one file per transaction, once the store answers,
and at the next start when this process died first. Stopping writes what is
left within `shutdown_seconds` (a write that hangs is given up on then; one in
SQLite's worker thread ends within the busy timeout), and spills whatever the
store did not take.

A record is written once: a batch leaves the buffer before its write and
comes back only when the write raised, and the writes are single
transactions. The one way to a duplicate is a write that committed but whose
answer was lost (a connection cut right after COMMIT, or a shutdown timing out
in that instant): the writer cannot tell that from a failure, and retries.
"""

from __future__ import annotations

import logging
import math
import random
import time
from typing import Callable, Sequence

import anyio
import anyio.to_thread

from ..backoff import backoff_delay, describe
from ..stores.entities import UsageRecord
from ..stores.protocols import UsageStore
from .spool import UsageSpool

log = logging.getLogger("aiproxy.usage")

# While spilling fails, this many times max_buffered may wait in memory before
# the oldest records are dropped; without a spool directory, max_buffered itself.
_HARD_LIMIT_FACTOR = 2


class UsageWriter:
    def __init__(
        self,
        store: UsageStore,
        *,
        batch_size: int = 200,
        flush_seconds: float = 1.0,
        max_buffered: int = 100_000,
        spool_dir: str | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        shutdown_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._batch_size = batch_size
        self._flush_seconds = flush_seconds
        self._max_buffered = max(max_buffered, batch_size)
        self._spool = UsageSpool(spool_dir) if spool_dir else None
        self._hard_limit = self._max_buffered * (_HARD_LIMIT_FACTOR if self._spool else 1)
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._shutdown_seconds = shutdown_seconds
        self._clock = clock
        self._jitter = jitter
        self._buffer: list[UsageRecord] = []
        self._wake = anyio.Event()  # a batch is full, or stop()
        self._full = anyio.Event()  # the buffer reached max_buffered: spill
        self._stopped = False
        # The write loop's scope (made in run(): it needs the event loop),
        # given a deadline by stop().
        self._loop_scope: anyio.CancelScope | None = None
        self._shutdown_deadline = math.inf
        # The spool may hold files (ours, or a dead predecessor's) to write back.
        self._spooled = False
        # Backoff: failures in a row, and when the store may be tried again.
        self._failures = 0
        self._retry_at = 0.0
        # The current outage, if any: since when (monotonic), and what it took.
        self._degraded_since: float | None = None
        self._backlog_written = 0
        self._spilled = 0
        self._spill_logged = False
        self._failure_logged = False
        self._spill_failure_logged = False
        self._dropped = 0

    # -- the request path ------------------------------------------------------

    def submit(self, record: UsageRecord) -> None:
        buffer = self._buffer
        buffer.append(record)
        if len(buffer) >= self._batch_size:
            self._batch_waiting()

    def _batch_waiting(self) -> None:
        buffer = self._buffer
        if len(buffer) >= self._max_buffered:
            self._full.set()
            if len(buffer) > self._hard_limit:
                # No spool, or spilling fails too: keep memory bounded.
                del buffer[0]
                self._dropped += 1
                if self._dropped == 1:
                    if self._degraded_since is None:
                        self._degraded_since = self._clock()
                    log.error(
                        "usage buffer full (%d records) and nowhere to spill: dropping the oldest records",
                        len(buffer),
                    )
        # While backing off, the retry time decides, not the batch size.
        if not self._failures:
            self._wake.set()

    # -- state -----------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Records in memory, not yet written (spilled ones are not counted)."""
        return len(self._buffer)

    @property
    def store_available(self) -> bool:
        """False while writes fail (the writer is backing off)."""
        return self._failures == 0

    def _failed(self, exc: BaseException) -> None:
        self._failures += 1
        delay = backoff_delay(self._failures, self._backoff_initial, self._backoff_max, self._jitter())
        self._retry_at = self._clock() + delay
        if self._degraded_since is None:
            self._degraded_since = self._clock()
        if not self._failure_logged:
            self._failure_logged = True
            log.warning(
                "usage store unavailable: %s, buffering (retrying with backoff up to %gs)",
                describe(exc),
                self._backoff_max,
            )

    def _wrote(self, count: int) -> None:
        self._failures = 0
        if self._degraded_since is not None:
            self._backlog_written += count

    def _maybe_recovered(self) -> None:
        """After a round that wrote all it found: the outage, if any, is over."""
        if self._degraded_since is None or self._failures or self._spooled:
            return
        spilled = f" ({self._spilled} of them through the spool)" if self._spilled else ""
        log.warning(
            "usage store back: wrote %d buffered records%s after %.1f s",
            self._backlog_written,
            spilled,
            self._clock() - self._degraded_since,
        )
        if self._dropped:
            log.error("dropped %d usage records while the store was failing", self._dropped)
        self._degraded_since = None
        self._backlog_written = self._spilled = self._dropped = 0
        self._spill_logged = self._failure_logged = False

    # -- the background loop ---------------------------------------------------

    async def run(self) -> None:
        """The background loop; returns once `stop()` was called and what was
        buffered is written or spilled."""
        if self._spool is not None:
            self._spooled = await anyio.to_thread.run_sync(self._spool.has_files)
            if self._spooled:
                log.warning("usage spool %s holds records from before; writing them back", self._spool.directory)
        async with anyio.create_task_group() as tg:
            if self._spool is not None:
                tg.start_soon(self._spill_forever)
            self._loop_scope = anyio.CancelScope(deadline=self._shutdown_deadline)
            with self._loop_scope:
                await self._write_forever()
            tg.cancel_scope.cancel()
        await self._shutdown()

    def stop(self) -> None:
        """End the loop. A write in flight (to a store that hangs) and the last
        write share `shutdown_seconds` from now; what is not written by then
        is spilled."""
        self._stopped = True
        self._wake.set()
        self._shutdown_deadline = anyio.current_time() + self._shutdown_seconds
        if self._loop_scope is not None:
            self._loop_scope.deadline = self._shutdown_deadline

    async def _write_forever(self) -> None:
        while not self._stopped:
            if self._failures:
                timeout = max(0.0, self._retry_at - self._clock())
            else:
                timeout = self._flush_seconds
            with anyio.move_on_after(timeout):
                await self._wake.wait()
            self._wake = anyio.Event()
            if self._stopped:
                break
            if self._failures and self._clock() < self._retry_at:
                continue
            if not self._buffer and not self._spooled:
                if self._failures:
                    # Nothing to try the store with: look again in a while
                    # rather than spin on a retry time that has passed.
                    self._retry_at = self._clock() + self._flush_seconds
                continue
            if await self._write_round(spool_files=1) and (len(self._buffer) >= self._batch_size or self._spooled):
                self._wake.set()  # more came in while writing, or more spooled files wait

    async def flush(self) -> None:
        """Write what is buffered now, and what is spooled, stopping at the
        first failure. Records submitted meanwhile wait for the next flush, so
        a busy gateway writes a few large batches a second rather than a
        stream of small ones."""
        await self._write_round(spool_files=None)

    async def _write_round(self, *, spool_files: int | None) -> bool:
        """The buffer as it is now, in batches, then up to `spool_files` spool
        files (None: all). False at the first failure."""
        if not await self._write_buffer():
            return False
        replayed = 0
        while self._spooled and (spool_files is None or replayed < spool_files):
            if not await self._replay_one():
                return False
            replayed += 1
        self._maybe_recovered()
        return True

    async def _write_buffer(self) -> bool:
        remaining = len(self._buffer)
        while remaining > 0 and self._buffer:
            # Take the batch out before awaiting: submit() keeps appending
            # meanwhile, and the spill task may take the rest of the buffer.
            batch: Sequence[UsageRecord] = self._buffer[: min(self._batch_size, remaining)]
            del self._buffer[: len(batch)]
            try:
                await self._store.add_many(batch)
            except BaseException as exc:
                self._buffer[:0] = batch
                if not isinstance(exc, Exception):
                    raise  # cancelled (a shutdown timing out): the records are back for the spill
                self._failed(exc)
                return False
            remaining -= len(batch)
            self._wrote(len(batch))
        return True

    async def _replay_one(self) -> bool:
        assert self._spool is not None
        claim = await anyio.to_thread.run_sync(self._spool.claim_next)
        if claim is None:
            self._spooled = False  # none left, or the rest are another process's
            return True
        try:
            await self._store.add_many(claim.records)
        except BaseException as exc:
            claim.release()
            self._spooled = True  # the file is still there
            if not isinstance(exc, Exception):
                raise
            self._failed(exc)
            return False
        claim.remove()
        self._wrote(len(claim.records))
        return True

    # -- spilling --------------------------------------------------------------

    async def _spill_forever(self) -> None:
        while True:
            await self._full.wait()
            self._full = anyio.Event()
            if len(self._buffer) >= self._max_buffered and not await self._spill():
                # The disk fails too: records stay in memory (up to the hard
                # limit); try again after a pause rather than on every submit.
                await anyio.sleep(min(self._backoff_max, 5.0))

    async def _spill(self) -> bool:
        """Move the whole buffer to a new spool file. False if that failed."""
        assert self._spool is not None
        records, self._buffer = self._buffer, []
        if not records:
            return True
        try:
            await anyio.to_thread.run_sync(self._spool.write, records)
        except BaseException as exc:
            self._buffer[:0] = records
            if not isinstance(exc, Exception):
                raise
            if not self._spill_failure_logged:
                self._spill_failure_logged = True
                log.error(
                    "spilling %d usage records to %s failed: %s; keeping them in memory",
                    len(records),
                    self._spool.directory,
                    describe(exc),
                )
            return False
        if self._spill_failure_logged:
            self._spill_failure_logged = False
            log.warning("spilling usage records to %s works again", self._spool.directory)
        self._spooled = True
        self._spilled += len(records)
        if self._degraded_since is None:
            # The store has not failed yet but cannot keep up (a write hangs).
            self._degraded_since = self._clock()
        if not self._spill_logged:
            self._spill_logged = True
            log.warning(
                "usage buffer full (%d records): spilling to %s until the store takes them",
                len(records),
                self._spool.directory,
            )
        return True

    # -- shutdown --------------------------------------------------------------

    async def _shutdown(self) -> None:
        """Write what is left (one try, bounded in time), spill what the store
        did not take."""
        budget = self._shutdown_deadline - anyio.current_time()
        if self._buffer and not self._failures and budget > 0:
            # One last try, unless the store is failing right now or a hung
            # write used the time up: then the records go straight to the spool.
            with anyio.move_on_after(budget):
                await self._write_buffer()
        if not self._buffer:
            self._maybe_recovered()
            return
        left = len(self._buffer)
        if self._spool is not None:
            with anyio.CancelScope(shield=True):
                if await self._spill():
                    log.warning("usage store unavailable at shutdown: spilled %d records to the spool", left)
                    return
        log.error("usage store unavailable at shutdown: %d usage records are lost", left)
