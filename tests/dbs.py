"""Throwaway databases for tests: a SQLite file, or a MySQL/MariaDB database.

MySQL is used only when AIPROXY_TEST_MYSQL_URL names a server, e.g.
`mysql+asyncmy://root:@127.0.0.1:3306` (no database name: each test gets a
database of its own, created here and dropped afterwards).
"""

from __future__ import annotations

import os
import secrets
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from databases import Database

from aiproxy.stores.sql import normalize_url

MYSQL_URL_ENV = "AIPROXY_TEST_MYSQL_URL"
DB_KINDS = ("sqlite", "mysql")


def mysql_server_url() -> str | None:
    return os.environ.get(MYSQL_URL_ENV) or None


def database_params() -> list[Any]:
    """pytest params for every SQL kind; mysql is skipped, saying why, without a server."""
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param(
            "mysql",
            id="mysql",
            marks=pytest.mark.skipif(
                mysql_server_url() is None,
                reason=f"set {MYSQL_URL_ENV}=mysql+asyncmy://user:pw@host:3306 to test on MySQL/MariaDB",
            ),
        ),
    ]


@asynccontextmanager
async def fresh_database_url(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """A databases URL for an empty database of `kind`, removed afterwards.

    Nothing is opened on the yielded URL: that is the caller's (SQLStores') job,
    so tests can open it twice, concurrently, or after a close.
    """
    if kind == "sqlite":
        # A random name, so one test can ask for several fresh databases.
        yield f"sqlite+aiosqlite:///{tmp_path / f'aiproxy-{secrets.token_hex(4)}.db'}"
        return
    if kind != "mysql":
        raise ValueError(f"unknown database kind {kind!r}; expected one of {DB_KINDS}")
    server = mysql_server_url()
    if server is None:
        pytest.skip(f"{MYSQL_URL_ENV} is not set")
    server_url = normalize_url(server).replace(database="")
    # Random hex only, so safe to put in the statement: CREATE DATABASE takes
    # no bound parameters for the name.
    name = f"aiproxy_test_{secrets.token_hex(6)}"
    admin = Database(server_url)
    await admin.connect()
    try:
        await admin.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        try:
            yield str(server_url.replace(database=name))
        finally:
            await admin.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        await admin.disconnect()
