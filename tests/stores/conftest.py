from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator, cast

import pytest

from aiproxy.stores.memory import MemoryStores
from aiproxy.stores.protocols import Stores
from aiproxy.stores.sql import SQLStores
from tests.dbs import database_params, fresh_database_url


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=database_params())
async def sql_url(request: pytest.FixtureRequest, tmp_path: Path, anyio_backend: str) -> AsyncIterator[str]:
    """A fresh, unopened database URL of every SQL kind available."""
    async with fresh_database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture(params=[pytest.param("memory", id="memory"), *database_params()])
async def stores(request: pytest.FixtureRequest, tmp_path: Path, anyio_backend: str) -> AsyncIterator[Stores]:
    """Opened stores of every kind: the memory reference and each SQL backend."""
    if request.param == "memory":
        # cast: protocols.Stores declares plain attributes, which MemoryStores'
        # concrete store types do not match for mypy (attributes are invariant).
        yield cast(Stores, MemoryStores())
        return
    async with fresh_database_url(request.param, tmp_path) as url:
        s = SQLStores(url)
        await s.open()
        try:
            yield s
        finally:
            await s.close()
