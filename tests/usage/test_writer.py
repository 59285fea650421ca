from __future__ import annotations

import logging
import os
import stat
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Sequence

import anyio
import pytest

from aiproxy.backoff import backoff_delay
from aiproxy.stores.entities import UsageRecord
from aiproxy.stores.memory import MemoryUsageStore
from aiproxy.usage.spool import UsageSpool
from aiproxy.usage.writer import UsageWriter

pytestmark = pytest.mark.anyio


class BatchRecordingStore(MemoryUsageStore):
    def __init__(self, fail_times: int = 0) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.fail_times = fail_times

    async def add_many(self, records: Sequence[UsageRecord]) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("database down")
        self.batches.append(len(records))
        await super().add_many(records)


def record(i: int) -> UsageRecord:
    return UsageRecord(platform="claude", endpoint="messages", input_tokens=i)


async def test_submit_does_not_write_until_a_batch_is_full_or_time_passes():
    store = BatchRecordingStore()
    writer = UsageWriter(store, batch_size=10, flush_seconds=3600)
    async with anyio.create_task_group() as tg:
        tg.start_soon(writer.run)
        for i in range(25):
            writer.submit(record(i))
        await anyio.sleep(0.05)
        assert store.batches == [10, 10, 5]
        writer.stop()
    assert sum(store.batches) == 25
    assert [r.input_tokens for r in store.records] == list(range(25))


async def test_stop_flushes_everything_left():
    store = BatchRecordingStore()
    writer = UsageWriter(store, batch_size=100, flush_seconds=3600)
    async with anyio.create_task_group() as tg:
        tg.start_soon(writer.run)
        for i in range(3):
            writer.submit(record(i))
        await anyio.sleep(0.01)
        assert store.records == []  # neither a full batch nor a tick yet
        writer.stop()
    assert len(store.records) == 3


async def test_failed_write_keeps_records_for_the_next_flush():
    store = BatchRecordingStore(fail_times=1)
    writer = UsageWriter(store, batch_size=100, flush_seconds=3600)
    writer.submit(record(1))
    writer.submit(record(2))
    await writer.flush()
    assert writer.pending == 2 and store.records == []
    writer.submit(record(3))
    await writer.flush()
    assert [r.input_tokens for r in store.records] == [1, 2, 3]


class FlakyStore(MemoryUsageStore):
    """A usage store that can be down (refuses at once) or hang (never answers until let go)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.hang: anyio.Event | None = None
        self.attempts: list[float] = []

    async def add_many(self, records: Sequence[UsageRecord]) -> None:
        self.attempts.append(time.monotonic())
        if self.hang is not None:
            await self.hang.wait()
        if self.down:
            raise ConnectionRefusedError(111, "Connection refused")
        await super().add_many(records)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.005)


def tokens(records: Sequence[UsageRecord]) -> list[int]:
    return sorted(r.input_tokens for r in records)


def spool_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("usage-*.jsonl")) if directory.exists() else []


def writer_logs(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "aiproxy.usage"]


def quick_writer(store: Any, tmp_path: Path | None, **overrides: Any) -> UsageWriter:
    options: dict[str, Any] = dict(
        batch_size=10,
        flush_seconds=0.01,
        max_buffered=10,
        backoff_initial=0.01,
        backoff_max=0.04,
        shutdown_seconds=1.0,
    )
    if tmp_path is not None:
        options["spool_dir"] = str(tmp_path / "spool")
    options.update(overrides)
    return UsageWriter(store, **options)


async def running(writer: UsageWriter, body: Callable[[], Awaitable[None]]) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(writer.run)
        try:
            await body()
        finally:
            writer.stop()


def test_backoff_doubles_up_to_the_cap_with_jitter():
    full = [backoff_delay(n, 0.5, 30.0, 1.0) for n in range(1, 10)]
    assert full == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    # The jitter takes it down to half, never below, never above.
    assert [backoff_delay(n, 0.5, 30.0, 0.0) for n in (1, 7)] == [0.25, 15.0]
    assert backoff_delay(10_000, 0.5, 30.0, 0.5) == 22.5  # no overflow after a long outage


async def test_a_down_store_is_retried_with_growing_gaps():
    store = FlakyStore()
    store.down = True
    writer = quick_writer(store, None, backoff_initial=0.02, backoff_max=0.16, jitter=lambda: 1.0)
    writer.submit(record(1))

    async def body() -> None:
        await until(lambda: len(store.attempts) >= 6)

    await running(writer, body)
    gaps = [b - a for a, b in zip(store.attempts, store.attempts[1:6])]
    # A loaded machine only makes the gaps longer, never shorter.
    for gap, expected in zip(gaps, [0.02, 0.04, 0.08, 0.16, 0.16]):
        assert gap >= expected * 0.9, (gaps, expected)


async def test_one_line_when_the_store_goes_and_one_when_it_is_back(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="aiproxy.usage")
    store = FlakyStore()
    store.down = True
    writer = quick_writer(store, None, max_buffered=1000)

    async def body() -> None:
        for i in range(30):
            writer.submit(record(i))
            await anyio.sleep(0.002)
        await until(lambda: len(store.attempts) >= 5)
        store.down = False
        await until(lambda: len(store.records) == 30)
        await until(lambda: len(writer_logs(caplog)) >= 2)

    await running(writer, body)
    logs = writer_logs(caplog)
    assert [r.getMessage().split(":")[0] for r in logs] == ["usage store unavailable", "usage store back"]
    assert "ConnectionRefusedError" in logs[0].getMessage() and "buffering" in logs[0].getMessage()
    assert "wrote 30 buffered records" in logs[1].getMessage()
    assert all(r.exc_info is None for r in logs)  # no traceback per retry, nor at all
    assert tokens(store.records) == list(range(30))


async def test_a_full_buffer_spills_to_the_spool_and_is_written_back(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    store = FlakyStore()
    store.down = True
    writer = quick_writer(store, tmp_path)
    spool = tmp_path / "spool"

    async def body() -> None:
        for i in range(35):
            writer.submit(record(i))
            await anyio.sleep(0.003)
        await until(lambda: len(spool_files(spool)) >= 3 and writer.pending < 10)
        assert store.records == []
        # The spool is private: a 0700 directory of 0600 files.
        assert stat.S_IMODE(spool.stat().st_mode) == 0o700
        assert {stat.S_IMODE(p.stat().st_mode) for p in spool_files(spool)} == {0o600}
        store.down = False
        await until(lambda: len(store.records) == 35 and not spool_files(spool))
        # The "back" line follows the last write; under load it can come a moment later.
        await until(lambda: len(writer_logs(caplog)) >= 3)

    await running(writer, body)
    assert tokens(store.records) == list(range(35))  # every record, once
    messages = [r.getMessage() for r in writer_logs(caplog)]
    assert len(messages) == 3, messages  # went away, spilling, back
    assert "spilling to" in messages[1] and "through the spool" in messages[2]


async def test_the_spool_is_written_back_at_the_next_start(tmp_path: Path):
    # What a process that died during an outage left behind.
    spool = tmp_path / "spool"
    UsageSpool(spool).write([record(i) for i in range(7)])
    UsageSpool(spool).write([record(i) for i in range(7, 9)])
    store = FlakyStore()
    writer = quick_writer(store, tmp_path)

    async def body() -> None:
        await until(lambda: len(store.records) == 9)

    await running(writer, body)
    assert tokens(store.records) == list(range(9)) and spool_files(spool) == []
    # The fields survive the trip through the file.
    original, back = record(3), next(r for r in store.records if r.input_tokens == 3)
    assert (back.platform, back.endpoint, back.created_at.replace(microsecond=0)) == (
        original.platform,
        original.endpoint,
        back.created_at.replace(microsecond=0),
    )


async def test_shutdown_with_the_store_down_spills_what_is_left(tmp_path: Path):
    store = FlakyStore()
    store.down = True
    writer = quick_writer(store, tmp_path, max_buffered=1000)

    async def body() -> None:
        for i in range(5):
            writer.submit(record(i))
        await until(lambda: len(store.attempts) >= 1)

    await running(writer, body)  # returns: bounded even with the store down
    assert writer.pending == 0 and store.records == []
    assert len(spool_files(tmp_path / "spool")) == 1
    # The next process writes them: none lost, none twice.
    store.down = False
    await running(quick_writer(store, tmp_path), lambda: until(lambda: len(store.records) == 5))
    assert tokens(store.records) == list(range(5)) and spool_files(tmp_path / "spool") == []


async def test_shutdown_with_a_hanging_store_is_bounded_and_spills(tmp_path: Path):
    store = FlakyStore()
    store.hang = anyio.Event()  # never set
    writer = quick_writer(store, tmp_path, max_buffered=1000, shutdown_seconds=0.2)
    for i in range(5):
        writer.submit(record(i))
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer.run)
            writer.stop()
    assert writer.pending == 0
    [file] = spool_files(tmp_path / "spool")
    assert len(file.read_text().splitlines()) == 5


async def test_a_hanging_write_does_not_stop_the_spill(tmp_path: Path):
    store = FlakyStore()
    store.hang = anyio.Event()
    writer = quick_writer(store, tmp_path)
    spool = tmp_path / "spool"

    async def body() -> None:
        for i in range(40):
            writer.submit(record(i))
            await anyio.sleep(0.003)
        await until(lambda: writer.pending < 10 and len(spool_files(spool)) >= 2)
        assert store.hang is not None
        store.hang.set()  # the database answers again
        store.hang = None
        await until(lambda: len(store.records) == 40 and not spool_files(spool))

    await running(writer, body)
    assert tokens(store.records) == list(range(40))


async def test_without_a_spool_the_oldest_are_dropped_and_counted(caplog: pytest.LogCaptureFixture):
    store = FlakyStore()
    store.down = True
    writer = UsageWriter(store, batch_size=5, flush_seconds=3600, max_buffered=5)
    for i in range(8):
        writer.submit(record(i))
    assert writer.pending == 5
    store.down = False
    await writer.flush()
    assert tokens(store.records) == [3, 4, 5, 6, 7]
    assert any("dropped 3 usage records" in r.getMessage() for r in writer_logs(caplog))


def test_a_spool_file_is_claimed_by_one_holder_at_a_time(tmp_path: Path):
    spool = UsageSpool(tmp_path)
    spool.write([record(1), record(2)])
    first = spool.claim_next()
    assert first is not None and tokens(first.records) == [1, 2]
    assert spool.claim_next() is None  # held: another worker must not replay it too
    first.release()
    again = spool.claim_next()
    assert again is not None
    again.remove()
    assert spool.claim_next() is None and not spool.has_files()


def test_a_torn_last_line_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    spool = UsageSpool(tmp_path)
    path = spool.write([record(1), record(2)])
    with open(path, "ab") as f:
        f.write(b'{"platform": "claude", "endp')  # a process died mid-write
    claim = spool.claim_next()
    assert claim is not None and tokens(claim.records) == [1, 2]
    assert "unreadable" in caplog.text
    claim.remove()
    assert not os.path.exists(path)


async def test_a_write_hanging_at_shutdown_is_given_up_and_spilled(tmp_path: Path):
    store = FlakyStore()
    store.hang = anyio.Event()  # the store never answers
    writer = quick_writer(store, tmp_path, max_buffered=1000, shutdown_seconds=0.2)

    async def body() -> None:
        for i in range(10):  # a full batch: written at once, and the write hangs
            writer.submit(record(i))
        await until(lambda: len(store.attempts) == 1)

    with anyio.fail_after(5):  # bounded: the in-flight write and the last one share shutdown_seconds
        await running(writer, body)
    assert len(store.attempts) == 1  # not tried again at shutdown: the spool takes them
    [file] = spool_files(tmp_path / "spool")
    assert len(file.read_text().splitlines()) == 10
    store.hang = None
    await running(quick_writer(store, tmp_path), lambda: until(lambda: len(store.records) == 10))
    assert tokens(store.records) == list(range(10))


async def test_a_spool_that_cannot_be_written_keeps_records_in_memory(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    blocker = tmp_path / "spool"
    blocker.write_text("a file where the spool directory should be")
    store = FlakyStore()
    store.down = True
    writer = quick_writer(store, tmp_path)

    async def body() -> None:
        for i in range(18):
            writer.submit(record(i))
            await anyio.sleep(0.003)
        await until(lambda: any("spilling" in r.getMessage() for r in writer_logs(caplog)))
        store.down = False
        await until(lambda: len(store.records) == 18)

    await running(writer, body)
    assert tokens(store.records) == list(range(18))  # within twice the buffer: nothing dropped
    failures = [r for r in writer_logs(caplog) if "spilling" in r.getMessage() and "failed" in r.getMessage()]
    assert len(failures) == 1
