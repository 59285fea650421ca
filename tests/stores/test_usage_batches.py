"""A usage batch is written whole or not at all, on every SQL backend: the usage
writer puts a failed batch back and writes it again, so a batch half written
would be half duplicated."""

from __future__ import annotations

from typing import Any

import pytest

from aiproxy.stores.entities import UsageRecord
from aiproxy.stores.protocols import UsageFilter
from aiproxy.stores.sql import SQLStores

pytestmark = pytest.mark.anyio


async def test_a_batch_that_fails_part_way_writes_nothing(sql_url: str) -> None:
    stores = SQLStores(sql_url)
    await stores.open()
    try:
        # Large enough that MySQL gets several multi-row INSERTs, the bad row in a late one.
        batch = [UsageRecord(platform="claude", endpoint="messages", input_tokens=i) for i in range(8000)]
        bad: Any = None
        batch[7900].platform = bad  # NOT NULL: refused by the database itself
        with pytest.raises(Exception):
            await stores.usage.add_many(batch)
        assert (await stores.usage.query(UsageFilter(), limit=1))[1] == 0
        # The same connection(s) work afterwards, and the good batch goes in whole.
        batch[7900].platform = "claude"
        await stores.usage.add_many(batch)
        assert (await stores.usage.query(UsageFilter(), limit=1))[1] == 8000
    finally:
        await stores.close()
