"""The SQL schema's history, as an ordered list of migrations, and their runner.

`SQLStores.open()` applies every migration above the version recorded in
`schema_version`, in order, and records each one as it goes. Never edit a
migration that has shipped: add a new one at the end instead, because
databases out there already recorded the old one as applied.

The schema is declared once, in `sql_tables.py`. Migrations 1-9 shipped as DDL
text per dialect and stay frozen (shipped_migrations.py). Every migration after
them is declared once, from those table definitions, and rendered for each
database by SQLAlchemy (migration_steps.py).

Adding a migration
------------------
1. Declare the change in sql_tables.py, at the end of the table it changes:
   the column (a NOT NULL one needs a `server_default` for the rows already
   there), a named sa.Index, or a new sa.Table. For example:

       sa.Column("rank", sa.Integer, nullable=False, server_default=sa.text("0")),
       ...
       ix_accounts_rank = sa.Index("ix_accounts_rank", accounts.c.rank)

2. Append one Migration to MIGRATIONS below, naming what you declared; it
   renders for SQLite, MySQL/MariaDB and PostgreSQL alike:

       Migration(10, "account rank", steps=(
           NewColumn(sql_tables.accounts.c.rank),
           NewIndex(sql_tables.ix_accounts_rank),
       )),

   (`NewTable(sql_tables.things)` creates a new table with its indexes.)
3. Give the entity in entities.py the field (every column is one: the stores
   map rows to entities by column name), and add a test in
   tests/stores/test_stores.py that a database at the previous version
   migrates to the new one and keeps its rows (see `open_at_version`).

tests/stores/test_sql_tables.py then checks, on SQLite and MariaDB, that the
migrated schema is the declared one, and test_shipped_migrations.py that the
new migration is declared once and renders for every dialect. There is no step
for changing or dropping a column yet: the first migration that needs one adds
that step kind (with its catalog check) to migration_steps.py.
"""

from __future__ import annotations

import logging
import sqlite3

import anyio
import sqlalchemy as sa
from databases import Database
from databases.core import Connection

from . import sql_tables
from .entities import utcnow
from .migration_steps import (
    DIALECTS,
    AddColumn,
    Migration,
    NewColumn,
    NewIndex,
    NewTable,
    Present,
    Statement,
)
from .shipped_migrations import SCHEMA_VERSION_DDL, SHIPPED
from .sql_tables import int_from_db, schema_version

log = logging.getLogger(__name__)

MIGRATIONS: list[Migration] = [
    *SHIPPED,
    Migration(10, "usage wire formats", steps=(
        NewColumn(sql_tables.usage_records.c.client_format),
        NewColumn(sql_tables.usage_records.c.upstream_format),
    )),
    # Next: Migration(11, "...", steps=(NewColumn(...), ...)), see "Adding a migration" above.
]

# Versions must run 1, 2, 3, … with no gaps: the runner trusts the order.
assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))

SCHEMA_VERSION = MIGRATIONS[-1].version


# MySQL: a server-wide named lock, so that two processes starting together on a
# new database do not both run the DDL (which MySQL cannot roll back).
MYSQL_LOCK = "aiproxy_migrate"
MYSQL_LOCK_TIMEOUT_S = 30


async def _sqlite_wal(conn: Connection) -> None:
    """Switch the file to WAL, which lets readers (the admin UI, a CLI) read
    while the server writes. It is persistent in the file, so once is enough.

    Switching needs an exclusive lock, and SQLite answers "database is locked"
    at once, without its busy timeout, when two connections race to switch a
    new file: retry for a while instead.
    """
    for attempt in range(100):
        try:
            await conn.fetch_val("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                raise
            await anyio.sleep(0.05)


async def migrate(db: Database, dialect: str) -> None:
    """Bring the schema of a connected `db` up to SCHEMA_VERSION.

    Safe for several processes at once: each takes the lock, and whoever comes
    second finds the migrations recorded and applies nothing.
    """
    # One connection throughout: the lock (a SQLite write transaction or a
    # MySQL session lock) belongs to the connection that took it.
    async with db.connection() as conn:
        if dialect == "sqlite":
            await _sqlite_wal(conn)
            # IMMEDIATE takes the write lock now, so a second process waits here
            # (busy timeout) and then finds the work done. SQLite DDL is
            # transactional: a failed migration leaves nothing behind.
            await conn.execute("BEGIN IMMEDIATE")
            try:
                await _apply_pending(conn, dialect)
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")
            return
        got = await conn.fetch_val(sa.select(sa.func.get_lock(MYSQL_LOCK, MYSQL_LOCK_TIMEOUT_S)))
        if got != 1:
            raise RuntimeError(f"could not take the MySQL lock {MYSQL_LOCK!r} to migrate the schema")
        try:
            await _apply_pending(conn, dialect)
        finally:
            await conn.fetch_val(sa.select(sa.func.release_lock(MYSQL_LOCK)))


async def recorded_version(conn: Connection) -> int:
    """The latest migration recorded (0 for none)."""
    return int_from_db(await conn.fetch_val(sa.select(sa.func.max(schema_version.c.version))))


async def _apply_pending(conn: Connection, dialect: str) -> None:
    if not await _exists(conn, dialect, Present("schema_version")):
        await conn.execute(_ddl(SCHEMA_VERSION_DDL[dialect]))
    current = await recorded_version(conn)
    # Read at call time, not import time, so tests can add a migration.
    known = MIGRATIONS[-1].version if MIGRATIONS else 0
    if current > known:
        # Written by a newer aiproxy: its tables may not mean what we think.
        raise RuntimeError(f"database schema is at version {current}, newer than this aiproxy knows ({known})")
    for m in MIGRATIONS:
        if m.version <= current:
            continue
        log.info("applying schema migration %d: %s", m.version, m.description)
        for statement in m.ddl(dialect):
            if statement.skip_if is not None and await _exists(conn, dialect, statement.skip_if):
                continue
            await conn.execute(_ddl(statement.sql))
        # MySQL commits each DDL statement by itself, so record every migration
        # as soon as it is done: a crash then leaves a correct version behind.
        await conn.execute(sa.insert(schema_version).values(version=m.version, applied_at=utcnow()))


def _ddl(statement: str) -> sa.ExecutableDDLElement:
    # sa.DDL, not text(): text() would read any ":word" as a bind parameter.
    return sa.DDL(statement)  # type: ignore[no-untyped-call]


async def _exists(conn: Connection, dialect: str, entry: Present) -> bool:
    """Whether a table, column or index exists, from the catalog.

    Asked, rather than running `... IF NOT EXISTS` at every start: MySQL answers
    that with a warning, which asyncmy logs each time, and MySQL 8 has no
    IF NOT EXISTS for columns and indexes at all.
    """
    values = {"table": entry.table}
    if entry.column is not None:
        values["name"] = entry.column
    elif entry.index is not None:
        values["name"] = entry.index
    return int_from_db(await conn.fetch_val(_CATALOG[dialect][_kind(entry)], values)) > 0


def _kind(entry: Present) -> str:
    return "column" if entry.column is not None else "index" if entry.index is not None else "table"


_CATALOG = {
    "sqlite": {
        "table": "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = :table",
        "column": "SELECT COUNT(*) FROM pragma_table_info(:table) WHERE name = :name",
        "index": "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = :table AND name = :name",
    },
    "mysql": {
        "table": (
            "SELECT COUNT(*) FROM information_schema.tables"
            " WHERE table_schema = DATABASE() AND table_name = :table"
        ),
        "column": (
            "SELECT COUNT(*) FROM information_schema.columns"
            " WHERE table_schema = DATABASE() AND table_name = :table AND column_name = :name"
        ),
        "index": (
            "SELECT COUNT(*) FROM information_schema.statistics"
            " WHERE table_schema = DATABASE() AND table_name = :table AND index_name = :name"
        ),
    },
}


__all__ = [
    "DIALECTS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SCHEMA_VERSION_DDL",
    "AddColumn",
    "Migration",
    "NewColumn",
    "NewIndex",
    "NewTable",
    "Statement",
    "migrate",
    "recorded_version",
]
