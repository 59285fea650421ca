"""Migrations declared once: NewTable, NewColumn and NewIndex render for
SQLite, MySQL/MariaDB and PostgreSQL from the table definitions, and the runner
applies them once, skipping what a start cut short already did."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from aiproxy.stores import migrations, sql_tables
from aiproxy.stores.entities import Account
from aiproxy.stores.migration_steps import Migration, NewColumn, NewIndex, NewTable, Present, render_dialect
from aiproxy.stores.sql import SQLStores

pytestmark = pytest.mark.anyio

# Test-only schema additions, as a later migration would declare them in sql_tables.py.
extra = sa.MetaData()
probes = sa.Table(
    "probes",
    extra,
    sa.Column("id", sql_tables.ID, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("group", sa.String(64), nullable=True),
    sa.Column("on", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("tags", sql_tables.JSONList, nullable=False, server_default="[]"),
    sa.Column("at", sql_tables.UTCDateTime, nullable=False),
    sa.Column("cost", sql_tables.USD, nullable=False, server_default=sql_tables.ZERO),
    sa.Index("uq_probes_name", "name", unique=True),
    **sql_tables.WITH_ID,
)
# Columns and an index for a table that exists (accounts), as sql_tables would gain them.
accounts_more = sa.Table(
    "accounts",
    extra,
    sa.Column("notes", sa.Text, nullable=False, server_default=""),
    sa.Column("rank", sa.Integer, nullable=True),
    sa.Index("ix_accounts_rank", "rank"),
)
PROBE_MIGRATION = Migration(
    migrations.SCHEMA_VERSION + 1,
    "test probe",
    steps=(NewTable(probes), NewColumn(accounts_more.c.notes), NewColumn(accounts_more.c.rank),
           NewIndex(next(iter(accounts_more.indexes)))),
)


def sqls(dialect: str) -> list[str]:
    return [s.sql for s in PROBE_MIGRATION.ddl(dialect)]


def test_rendered_for_sqlite() -> None:
    assert sqls("sqlite") == [
        "CREATE TABLE probes (\n\tid INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, \n\tname VARCHAR(64) NOT NULL, "
        "\n\t\"group\" VARCHAR(64), \n\t\"on\" BOOLEAN DEFAULT 1 NOT NULL, \n\ttags TEXT DEFAULT '[]' NOT NULL, "
        "\n\tat DATETIME NOT NULL, \n\tcost REAL DEFAULT 0 NOT NULL\n)",
        "CREATE UNIQUE INDEX uq_probes_name ON probes (name)",
        "ALTER TABLE accounts ADD COLUMN notes TEXT DEFAULT '' NOT NULL",
        "ALTER TABLE accounts ADD COLUMN rank INTEGER",
        "CREATE INDEX ix_accounts_rank ON accounts (rank)",
    ]


def test_rendered_for_mysql() -> None:
    """Microsecond DATETIME, DECIMAL costs, InnoDB utf8mb4_bin tables, and a
    TEXT default written as an expression, which MySQL 8 requires."""
    assert sqls("mysql") == [
        "CREATE TABLE probes (\n\tid BIGINT NOT NULL AUTO_INCREMENT, \n\tname VARCHAR(64) NOT NULL, "
        "\n\t`group` VARCHAR(64), \n\t`on` BOOL NOT NULL DEFAULT true, \n\ttags TEXT NOT NULL DEFAULT ('[]'), "
        "\n\tat DATETIME(6) NOT NULL, \n\tcost NUMERIC(18, 9) NOT NULL DEFAULT 0, \n\tPRIMARY KEY (id)\n)"
        "ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin",
        "CREATE UNIQUE INDEX uq_probes_name ON probes (name)",
        "ALTER TABLE accounts ADD COLUMN notes TEXT NOT NULL DEFAULT ('')",
        "ALTER TABLE accounts ADD COLUMN `rank` INTEGER",
        "CREATE INDEX ix_accounts_rank ON accounts (`rank`)",
    ]


def test_rendered_for_postgresql() -> None:
    """No PostgreSQL store runs yet; the DDL a declared migration will give it."""
    assert sqls("postgresql") == [
        "CREATE TABLE probes (\n\tid BIGSERIAL NOT NULL, \n\tname VARCHAR(64) NOT NULL, \n\t\"group\" VARCHAR(64), "
        "\n\t\"on\" BOOLEAN DEFAULT true NOT NULL, \n\ttags TEXT DEFAULT '[]' NOT NULL, "
        "\n\tat TIMESTAMP WITHOUT TIME ZONE NOT NULL, \n\tcost NUMERIC(18, 9) DEFAULT 0 NOT NULL, "
        "\n\tPRIMARY KEY (id)\n)",
        "CREATE UNIQUE INDEX uq_probes_name ON probes (name)",
        "ALTER TABLE accounts ADD COLUMN notes TEXT DEFAULT '' NOT NULL",
        "ALTER TABLE accounts ADD COLUMN rank INTEGER",
        "CREATE INDEX ix_accounts_rank ON accounts (rank)",
    ]


def test_every_statement_names_what_shows_it_ran() -> None:
    assert [s.skip_if for s in PROBE_MIGRATION.ddl("sqlite")] == [
        Present("probes"),
        Present("probes", index="uq_probes_name"),
        Present("accounts", column="notes"),
        Present("accounts", column="rank"),
        Present("accounts", index="ix_accounts_rank"),
    ]


def test_mysql_rendering_is_private_to_the_migrations() -> None:
    """The TEXT-default rule is set on our dialect instance, not SQLAlchemy's class."""
    from sqlalchemy.dialects import mysql
    from sqlalchemy.schema import CreateColumn

    assert "DEFAULT '[]'" in str(CreateColumn(probes.c.tags).compile(dialect=mysql.dialect()))
    assert render_dialect("mysql").ddl_compiler is not mysql.dialect.ddl_compiler


def test_steps_refuse_what_add_column_cannot_do() -> None:
    t = sa.Table("t", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("must", sa.Integer, nullable=False), sa.Column("u", sa.Integer, unique=True),
                 sa.Column("pct", sa.Text, nullable=False, server_default="100%"))
    with pytest.raises(ValueError, match="server_default"):
        NewColumn(t.c.must)
    with pytest.raises(ValueError, match="primary key"):
        NewColumn(t.c.id)
    with pytest.raises(ValueError, match="NewIndex"):
        NewColumn(t.c.u)
    with pytest.raises(ValueError, match="sql_tables"):
        NewColumn(sa.Column("loose", sa.Integer))
    with pytest.raises(ValueError, match="'%'"):
        NewColumn(t.c.pct).statements("sqlite")
    with pytest.raises(ValueError, match="dialect"):
        NewTable(t).statements("oracle")


def test_a_migration_is_one_form_or_the_other() -> None:
    with pytest.raises(ValueError):
        Migration(10, "both", sqlite=("x",), mysql=("y",), steps=(NewTable(probes),))
    with pytest.raises(ValueError):
        Migration(10, "neither")
    with pytest.raises(ValueError):
        Migration(10, "one dialect only", sqlite=("x",))
    with pytest.raises(ValueError, match="declared once"):
        PROBE_MIGRATION.statements("sqlite")


async def test_declared_migration_runs_once_and_keeps_rows(sql_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    s = SQLStores(sql_url)
    await s.open()
    old = await s.accounts.create(Account("old", "claude", "claude-console", credentials="c"))
    await s.close()

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, PROBE_MIGRATION])
    for _ in range(2):  # the second open finds version 10 recorded and applies nothing
        s = SQLStores(sql_url)
        await s.open()
        try:
            assert await s.schema_version() == PROBE_MIGRATION.version
            assert await s._db.fetch_val("SELECT COUNT(*) FROM schema_version") == PROBE_MIGRATION.version
            # The row from before has the new column's default, and still reads as it was.
            assert await s._db.fetch_val("SELECT notes FROM accounts WHERE id = :id", {"id": old.id}) == ""
            assert await s.accounts.get(old.id) == old  # type: ignore[arg-type]
            await s._db.execute(sa.insert(probes).values(name="p", at=sql_tables.naive_utc(old.created_at)))
            row = await s._db.fetch_one(sa.select(probes))
            assert row is not None
            assert (bool(row["on"]), row["tags"], float(row["cost"])) == (True, "[]", 0.0)
            with pytest.raises(Exception):  # the unique index is there
                await s._db.execute(sa.insert(probes).values(name="p", at=old.created_at))
            await s._db.execute(sa.delete(probes))
        finally:
            await s.close()


async def test_declared_migration_cut_short_completes(sql_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """MySQL commits each DDL statement by itself: a start that stopped after the
    CREATE TABLE, before its index and the new columns, finishes next time."""
    s = SQLStores(sql_url)
    await s.open()
    for statement in PROBE_MIGRATION.ddl(s.dialect)[:1]:
        await s._db.execute(sa.DDL(statement.sql))  # type: ignore[no-untyped-call]
    await s.close()

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, PROBE_MIGRATION])
    s = SQLStores(sql_url)
    await s.open()
    try:
        assert await s.schema_version() == PROBE_MIGRATION.version
        async with s._db.connection() as conn:
            for statement in PROBE_MIGRATION.ddl(s.dialect):
                assert statement.skip_if is not None
                assert await migrations._exists(conn, s.dialect, statement.skip_if), statement
    finally:
        await s.close()


# Optional: the PostgreSQL DDL on a real server, when one is named.
PG_URL_ENV = "AIPROXY_TEST_POSTGRES_URL"


@pytest.mark.skipif(not os.environ.get(PG_URL_ENV) or not shutil.which("psql"),
                    reason=f"set {PG_URL_ENV}=postgresql://user@127.0.0.1:5432/db (and have psql) to run")
def test_postgresql_takes_the_declared_schema(tmp_path: Path) -> None:
    """Every table of sql_tables plus the probe migration, as PostgreSQL DDL, in
    a schema of its own that is dropped afterwards."""
    schema = f"aiproxy_test_{os.getpid()}"
    statements = [s.sql for t in sql_tables.metadata.sorted_tables for s in NewTable(t).statements("postgresql")]
    statements += sqls("postgresql")
    script = tmp_path / "ddl.sql"
    script.write_text(f"CREATE SCHEMA {schema}; SET search_path TO {schema};\n"
                      + ";\n".join(statements) + f";\nDROP SCHEMA {schema} CASCADE;\n")
    done = subprocess.run(["psql", os.environ[PG_URL_ENV], "-v", "ON_ERROR_STOP=1", "-q", "-f", str(script)],
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        subprocess.run(["psql", os.environ[PG_URL_ENV], "-c", f"DROP SCHEMA IF EXISTS {schema} CASCADE"],
                       capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
