"""sql_tables.py is the one declaration of the schema: a database the
migrations built and one built from the table definitions alone are the same,
column for column, key for key and index for index, on SQLite and MariaDB."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import sqlalchemy as sa
from databases import Database

from aiproxy.stores import sql_tables
from aiproxy.stores.entities import Account, ApiKey, UsageRecord, User
from aiproxy.stores.migration_steps import NewTable
from aiproxy.stores.sql import SQLStores, normalize_url
from tests.dbs import database_params, fresh_database_url
from tests.stores.schema_catalog import catalog, sqlite_affinity

pytestmark = pytest.mark.anyio


async def build_from_tables(url: str, dialect: str) -> Database:
    """A connected database holding exactly what sql_tables.py declares."""
    db = Database(normalize_url(url))
    await db.connect()
    for table in sql_tables.metadata.sorted_tables:
        for statement in NewTable(table).statements(dialect):
            await db.execute(sa.DDL(statement.sql))  # type: ignore[no-untyped-call]
    return db


@pytest.mark.parametrize("kind", database_params())
async def test_migrated_schema_is_the_declared_schema(kind: str, tmp_path: Path) -> None:
    async with fresh_database_url(kind, tmp_path) as migrated_url, fresh_database_url(kind, tmp_path) as declared_url:
        migrated = SQLStores(migrated_url)
        await migrated.open()
        declared = await build_from_tables(declared_url, migrated.dialect)
        try:
            want = await catalog(declared, migrated.dialect)
            got = await catalog(migrated._db, migrated.dialect)
        finally:
            await declared.disconnect()
            await migrated.close()
    assert sorted(got) == sorted(sql_tables.metadata.tables)
    for name in want:
        assert got[name] == want[name], name
    # The comparison sees what matters: the defaults given to rows that existed
    # before a column was added, the unique keys, the ids' auto-increment.
    assert any(c[0] == "schedulable" and c[3] is not None for c in got["accounts"]["columns"])
    assert got["users"]["indexes"] and got["usage_records"]["indexes"]


def test_entities_have_exactly_the_columns() -> None:
    """The stores map rows to entities by column name (sql._Rows)."""
    for entity, table in [(User, sql_tables.users), (ApiKey, sql_tables.api_keys),
                          (Account, sql_tables.accounts), (UsageRecord, sql_tables.usage_records)]:
        assert {f.name for f in dataclasses.fields(entity)} == {c.name for c in table.columns}


def test_usage_string_limits_are_the_column_widths() -> None:
    assert sql_tables.USAGE_STRING_LIMITS == {"platform": 32, "endpoint": 255, "model": 255, "error": 16_000,
                                              "client_format": 32, "upstream_format": 32}


def test_sqlite_affinity() -> None:
    cases = {"INTEGER": "INTEGER", "BIGINT": "INTEGER", "BOOLEAN": "INTEGER", "VARCHAR(255)": "TEXT",
             "TEXT": "TEXT", "REAL": "REAL", "DOUBLE": "REAL", "DATETIME": "NUMERIC", "": "BLOB"}
    assert {t: sqlite_affinity(t) for t in cases} == cases
