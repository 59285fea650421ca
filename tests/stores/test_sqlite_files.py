"""The SQLite database and the -wal and -shm files beside it are readable by their owner only."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Iterator

import pytest

from aiproxy.stores.entities import UsageRecord, User
from aiproxy.stores.sql import SQLStores

pytestmark = pytest.mark.anyio


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    # The common default umask, which would make new files 0644.
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


async def test_a_new_database_and_its_wal_files_are_0600(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "data" / "aiproxy.db"
    stores = SQLStores(f"sqlite+aiosqlite:///{path}")
    await stores.open()
    try:
        await stores.users.create(User(username="alice", password_hash="h", role="user"))
        await stores.usage.add_many([UsageRecord(platform="claude", model="m", endpoint="messages")])  # the batch writer's connection
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
        assert all(f.exists() for f in files), sorted(p.name for p in path.parent.iterdir())
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        await stores.close()


async def test_an_existing_world_readable_database_is_narrowed(
    tmp_path: Path, open_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "aiproxy.db"
    stores = SQLStores(f"sqlite+aiosqlite:///{path}")
    await stores.open()
    await stores.close()
    os.chmod(path, 0o644)  # as an older version left it
    caplog.set_level(logging.WARNING, logger="aiproxy.stores")
    stores = SQLStores(f"sqlite+aiosqlite:///{path}")
    await stores.open()
    try:
        assert mode(path) == 0o600
        assert "narrowing" in caplog.text
        assert await stores.schema_version() > 0  # the same database, opened as before
    finally:
        await stores.close()


async def test_a_private_database_is_left_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "aiproxy.db"
    path.touch(mode=0o600)
    os.chmod(path, 0o400 | 0o200)
    caplog.set_level(logging.WARNING, logger="aiproxy.stores")
    stores = SQLStores(f"sqlite+aiosqlite:///{path}")
    await stores.open()
    await stores.close()
    assert mode(path) == 0o600 and "narrowing" not in caplog.text
