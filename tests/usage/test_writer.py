from __future__ import annotations

from typing import Sequence

import anyio
import pytest

from aiproxy.stores.entities import UsageRecord
from aiproxy.stores.memory import MemoryUsageStore
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


async def test_buffer_is_bounded_while_the_store_is_down():
    store = BatchRecordingStore(fail_times=1000)
    writer = UsageWriter(store, batch_size=10, flush_seconds=3600, max_buffered=5)
    for i in range(8):
        writer.submit(record(i))
    assert writer.pending == 5
