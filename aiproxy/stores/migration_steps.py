"""What a migration is made of, and how each step becomes SQL for a database.

A migration after the shipped ones is declared once, from the table
definitions in `sql_tables.py`, and SQLAlchemy's DDL compiler writes its SQL for
each dialect (SQLite, MySQL/MariaDB, and PostgreSQL when it comes):

    NewTable(sql_tables.things)              CREATE TABLE, then each of its indexes
    NewColumn(sql_tables.accounts.c.notes)   ALTER TABLE accounts ADD COLUMN notes ...
    NewIndex(sql_tables.ix_usage_model)      CREATE [UNIQUE] INDEX

The shipped migrations 1-9 predate this and are DDL text per dialect (plain
strings and `AddColumn`); they stay as they are (see shipped_migrations.py).

Every step renders to `Statement`s, each with the catalog entry whose presence
means it already ran, and the runner skips those: MySQL commits each DDL
statement by itself, so a migration cut short must be able to run again, and
MySQL 8 has neither ADD COLUMN IF NOT EXISTS nor CREATE INDEX IF NOT EXISTS.
Because of that check, a declared step may render from the tables as they are
*now*: a table created by migration 10 and given a column by migration 12 is
created with that column on a new database, and 12 then finds it there.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, TypeAlias

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.dialects.mysql.base import MySQLDDLCompiler
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.schema import BaseDDLElement, CreateColumn, CreateIndex, CreateTable

# The dialects the shipped migrations have text for, and so the ones a store runs on.
DIALECTS = ("sqlite", "mysql")
# The dialects a declared step renders for.
RENDER_DIALECTS = ("sqlite", "mysql", "postgresql")


@dataclass(frozen=True)
class Present:
    """A catalog entry: a table, or a column or an index of one."""

    table: str
    column: str | None = None
    index: str | None = None


@dataclass(frozen=True)
class Statement:
    """One DDL statement as the runner executes it; skipped when `skip_if` exists."""

    sql: str
    skip_if: Present | None = None


# --- shipped form: text per dialect ------------------------------------------


@dataclass(frozen=True)
class AddColumn:
    """`ALTER TABLE table ADD COLUMN column definition`, skipped when the column
    is already there.

    MySQL commits each DDL statement by itself, so a migration cut short after
    one of its ALTERs must be able to run again; and only MariaDB has
    `ADD COLUMN IF NOT EXISTS`, MySQL 8 has not. So the runner asks the catalog
    first, on both dialects (on SQLite the check is moot but harmless).
    """

    table: str
    column: str
    definition: str

    def sql(self) -> str:
        # The column name quoted with backticks, which both SQLite and MySQL
        # take: a column may be a reserved word (`group`).
        return f"ALTER TABLE {self.table} ADD COLUMN `{self.column}` {self.definition}"


Step: TypeAlias = "str | AddColumn"


# --- declared once, rendered per dialect -------------------------------------


class _MySQLDDLCompiler(MySQLDDLCompiler):
    """MySQL 8 takes a default on TEXT, BLOB or JSON only as an expression,
    `DEFAULT ('{}')` (MySQL 8.0.13+, MariaDB 10.2+), while SQLite's ADD COLUMN
    takes only a literal: so the literal is wrapped here, for MySQL alone."""

    def get_column_default_string(self, column: sa.Column[Any]) -> str | None:
        default = super().get_column_default_string(column)
        if default is None or default.startswith("("):
            return default
        rendered = self.dialect.type_compiler_instance.process(column.type)
        if re.match(r"(TINY|MEDIUM|LONG)?(TEXT|BLOB)\b|JSON\b", rendered):
            return f"({default})"
        return default


@functools.cache
def render_dialect(name: str) -> Dialect:
    """The SQLAlchemy dialect whose DDL compiler writes declared steps for `name`."""
    if name == "sqlite":
        return sqlite.dialect()
    if name == "mysql":
        dialect = mysql.dialect()
        # On this instance only: other users of SQLAlchemy in the process keep theirs.
        dialect.ddl_compiler = _MySQLDDLCompiler
        return dialect
    if name == "postgresql":
        # The psycopg dialect's __init__ is unannotated in SQLAlchemy itself.
        return postgresql.dialect()  # type: ignore[no-untyped-call]
    raise ValueError(f"unknown SQL dialect {name!r}; expected one of {RENDER_DIALECTS}")


def _compile(element: BaseDDLElement, dialect: str) -> str:
    sql = str(element.compile(dialect=render_dialect(dialect))).strip()
    # The runner sends DDL through sa.DDL, which reads "%" as a format character.
    if "%" in sql:
        raise ValueError(f"a declared migration cannot contain '%': {sql}")
    return sql


def _table_of(element: sa.Column[Any] | sa.Index) -> sa.Table:
    table = element.table
    if not isinstance(table, sa.Table):
        raise ValueError(f"{element!r} is not part of a table: declare it in sql_tables.py")
    return table


@dataclass(frozen=True)
class NewIndex:
    """CREATE [UNIQUE] INDEX for an index declared on a table in sql_tables.py."""

    index: sa.Index

    def __post_init__(self) -> None:
        # Its name is how the runner finds it in the catalog: give it one
        # (SQLAlchemy's naming convention names an unnamed one ix_<table>_<column>).
        _table_of(self.index)

    def statements(self, dialect: str) -> tuple[Statement, ...]:
        table = _table_of(self.index)
        sql = _compile(CreateIndex(self.index), dialect)
        return (Statement(sql, Present(table.name, index=str(self.index.name))),)


@dataclass(frozen=True)
class NewTable:
    """CREATE TABLE for a table of sql_tables.py, then CREATE INDEX for each of
    its indexes (each its own statement, so a start cut short between them
    finishes the rest next time)."""

    table: sa.Table

    def statements(self, dialect: str) -> tuple[Statement, ...]:
        create = Statement(_compile(CreateTable(self.table), dialect), Present(self.table.name))
        indexes = sorted(self.table.indexes, key=lambda i: str(i.name))
        return (create, *(s for i in indexes for s in NewIndex(i).statements(dialect)))


@dataclass(frozen=True)
class NewColumn:
    """ALTER TABLE ... ADD COLUMN for a column of a table in sql_tables.py.

    The rows already there get the column's `server_default`, so a NOT NULL
    column must have one. What ADD COLUMN cannot do on SQLite is refused here:
    a primary key, or a unique or indexed column (declare a named sa.Index on
    the table and add it with NewIndex).
    """

    column: sa.Column[Any]

    def __post_init__(self) -> None:
        table = _table_of(self.column)
        where = f"{table.name}.{self.column.name}"
        if self.column.primary_key:
            raise ValueError(f"{where}: a primary key cannot be added to a table that exists")
        if self.column.unique or self.column.index:
            raise ValueError(f"{where}: declare its index as a named sa.Index and add it with NewIndex")
        if not self.column.nullable and self.column.server_default is None:
            raise ValueError(f"{where} is NOT NULL: give it a server_default for the rows already there")

    def statements(self, dialect: str) -> tuple[Statement, ...]:
        table = _table_of(self.column)
        name = render_dialect(dialect).identifier_preparer.format_table(table)
        sql = f"ALTER TABLE {name} ADD COLUMN {_compile(CreateColumn(self.column), dialect)}"
        return (Statement(sql, Present(table.name, column=self.column.name)),)


DeclaredStep: TypeAlias = "NewTable | NewColumn | NewIndex"


@dataclass(frozen=True)
class Migration:
    """One schema version: declared once (`steps`), or, for the shipped ones,
    DDL text per dialect (`sqlite` and `mysql`)."""

    version: int
    description: str
    sqlite: tuple[Step, ...] = ()
    mysql: tuple[Step, ...] = ()
    steps: tuple[DeclaredStep, ...] = ()

    def __post_init__(self) -> None:
        per_dialect = bool(self.sqlite or self.mysql)
        if per_dialect == bool(self.steps) or (per_dialect and not (self.sqlite and self.mysql)):
            raise ValueError(
                f"migration {self.version}: give steps=(...) (declared once), or sqlite= and mysql= text"
            )

    def statements(self, dialect: str) -> tuple[Step, ...]:
        """The DDL text of a shipped migration, as written."""
        if not (self.sqlite or self.mysql):
            raise ValueError(f"migration {self.version} is declared once: use ddl()")
        if dialect not in DIALECTS:
            raise ValueError(f"unknown SQL dialect {dialect!r}")
        return self.sqlite if dialect == "sqlite" else self.mysql

    def ddl(self, dialect: str) -> tuple[Statement, ...]:
        """What the runner executes on `dialect`, in order."""
        if self.steps:
            return tuple(s for step in self.steps for s in step.statements(dialect))
        return tuple(
            Statement(step.sql(), Present(step.table, column=step.column))
            if isinstance(step, AddColumn)
            else Statement(step)
            for step in self.statements(dialect)
        )
