"""The schema, declared once: SQLAlchemy Core tables for every SQL database.

These tables are what the queries are built from and what new migrations are
written from (`migrations.NewTable`, `NewColumn`, `NewIndex`, which SQLAlchemy
renders for each dialect). The shipped migrations 1-9 are frozen DDL text from
before that; tests/stores/test_sql_tables.py checks that a database they built and
one built from these tables have the same columns (names, order, types,
nullability, defaults), keys and indexes, on SQLite and MariaDB, so the two
cannot drift.

The column types decide how values are bound (datetimes and booleans are
rendered differently for SQLite and MySQL), so that one query definition works
on both, and what each database stores them as (`load_dialect_impl` below).
`server_default` is there for the rows that existed before a column was added
(an insert always gives every column); it is part of the stored schema.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.dialects.mysql import pymysql
from sqlalchemy.dialects.sqlite import pysqlite
from sqlalchemy.engine.interfaces import Dialect


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A DATETIME holding naive UTC (see entities.utcnow).

    An aware datetime is converted to UTC first: the columns keep no zone, and
    writing the wall-clock digits of another zone would silently shift it.
    """

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        # MySQL's DATETIME drops the microseconds unless asked to keep them; a
        # datetime must equal itself after a round trip. (PostgreSQL's
        # TIMESTAMP keeps them by default; SQLite keeps the text.)
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return naive_utc(value) if value is not None else None


class JSONList(sa.TypeDecorator[list[str]]):
    """A list of strings stored as JSON text.

    Not sa.JSON: MySQL's JSON type is a different column type from SQLite's, and
    the lists are only ever read whole, never queried into.
    """

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: list[str] | None, dialect: Dialect) -> str:
        return json.dumps(list(value or []))


class JSONObject(sa.TypeDecorator[dict[str, Any]]):
    """A JSON object stored as JSON text (not sa.JSON, for the reasons above)."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: dict[str, Any] | None, dialect: Dialect) -> str:
        return json.dumps(dict(value or {}))


class USD(sa.TypeDecorator[float]):
    """An amount in USD to the nano-dollar: DECIMAL(18,9) on MySQL, REAL on
    SQLite (see migration 5). Bound as a Decimal from the float's shortest
    repr, so MySQL stores exactly the digits the gateway computed (costs are
    quantized to 1e-9 before they become floats); read back as float."""

    impl = sa.Float
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        # SQLite has no decimal type (a DECIMAL column stores reals anyway).
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.REAL())
        # asdecimal=False: read back as the float Float gave before; from_db
        # and usd_from_db take either.
        return dialect.type_descriptor(sa.Numeric(18, 9, asdecimal=False))

    def process_bind_param(self, value: float | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return Decimal(repr(float(value))) if dialect.name == "mysql" else float(value)


def usd_from_db(value: Any) -> float:
    """A cost or SUM() of costs: MySQL gives a Decimal (exact), SQLite a float,
    whose summing error is rounded away at the nano-dollar."""
    if value is None:
        return 0.0
    return float(value) if isinstance(value, Decimal) else round(float(value), 9)


def sqlalchemy_dialect(name: str) -> Dialect:
    """The SQLAlchemy dialect class `databases` compiles with for `name`, so that
    values bound outside it (SQLUsageStore.add_many) are rendered the same way.
    MySQL gets the positional "format" paramstyle, for the driver's executemany."""
    if name == "sqlite":
        return pysqlite.dialect(paramstyle="qmark")
    return pymysql.dialect(paramstyle="format")


def naive_utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def from_db(column: sa.Column[Any], value: Any) -> Any:
    """Normalise a value read from `column` to what the entity field holds.

    The drivers disagree (aiosqlite may hand back DATETIME as text and booleans
    as 0/1, asyncmy gives TINYINT as int and SUM() as Decimal), and `databases`
    applies SQLAlchemy's result processors on some paths and not others, so
    accept every shape and produce one.
    """
    if value is None:
        return None
    kind = column.type
    if isinstance(kind, JSONList):
        return list(json.loads(value)) if isinstance(value, (str, bytes)) else list(value)
    if isinstance(kind, JSONObject):
        return dict(json.loads(value)) if isinstance(value, (str, bytes)) else dict(value)
    if isinstance(kind, UTCDateTime):
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return naive_utc(value)
    if isinstance(kind, USD):
        return usd_from_db(value)
    if isinstance(kind, sa.Boolean):
        return bool(value)
    if isinstance(kind, sa.Integer):
        return int(value)
    return value


def day_from_db(value: Any) -> str | None:
    """DATE(created_at) as 'YYYY-MM-DD': MySQL gives a date, SQLite a string."""
    if value is None:
        return None
    if isinstance(value, (date, datetime)):
        return value.strftime("%Y-%m-%d")
    return str(value)[:10]


def int_from_db(value: Any) -> int:
    """COUNT()/SUM() results: MySQL returns SUM() as Decimal."""
    return int(value) if value is not None else 0


metadata = sa.MetaData()

# An auto-increment id: BIGINT on MySQL and PostgreSQL. On SQLite only a column
# typed exactly INTEGER becomes the rowid, and so counts up by itself.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Every table on MySQL. utf8mb4_bin: string comparison, UNIQUE and GROUP BY are
# exact, as they are in SQLite and the memory store; the default *_ci collations
# would make "Alice" and "alice" the same user and merge model names that differ
# only in case. No foreign keys on any database: the memory store has none,
# usage rows must outlive the keys and accounts they name, and deleting a
# user's keys is the caller's decision (KeyStore.delete_for_user).
MYSQL_TABLE: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
# Tables with an ID are AUTOINCREMENT on SQLite (as migration 1 made them): an
# id is never handed out again, even after the newest row is deleted.
WITH_ID: dict[str, Any] = {**MYSQL_TABLE, "sqlite_autoincrement": True}

# Existing-row defaults of added columns (see the module docstring).
ZERO = sa.text("0")

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("username", sa.String(255), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("must_change_password", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Added by migration 9: the version every session token must carry.
    sa.Column("token_version", sa.Integer, nullable=False, server_default=ZERO),
    sa.Index("uq_users_username", "username", unique=True),
    **WITH_ID,
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("key_hash", sa.String(255), nullable=False),
    sa.Column("key_prefix", sa.String(64), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    sa.Column("platforms", JSONList, nullable=False),
    sa.Column("models", JSONList, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Added by migration 4. `group` is a reserved word: SQLAlchemy quotes it.
    sa.Column("account_id", sa.BigInteger, nullable=True),
    sa.Column("group", sa.String(64), nullable=True),
    sa.Column("shared_fallback", sa.Boolean, nullable=False, server_default=sa.false()),
    # Added by migration 6: quotas, each NULL for no limit.
    sa.Column("rpm_limit", sa.Integer, nullable=True),
    sa.Column("max_concurrency", sa.Integer, nullable=True),
    sa.Column("daily_token_limit", sa.BigInteger, nullable=True),
    sa.Column("daily_cost_limit", sa.Double, nullable=True),
    sa.Column("weekly_cost_limit", sa.Double, nullable=True),
    sa.Column("total_cost_limit", sa.Double, nullable=True),
    # Added by migration 7: the client programs the key may be used from.
    sa.Column("allowed_clients", JSONList, nullable=False, server_default="[]"),
    # Added by migration 8: expiry N days after the first use, and that use.
    sa.Column("expires_after_days", sa.Integer, nullable=True),
    sa.Column("first_used_at", UTCDateTime, nullable=True),
    sa.Index("uq_api_keys_key_hash", "key_hash", unique=True),
    sa.Index("ix_api_keys_user_id", "user_id"),
    **WITH_ID,
)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("platform", sa.String(32), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("credentials", sa.Text, nullable=False),
    sa.Column("base_url", sa.Text, nullable=True),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("models", JSONList, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Added by migration 2, hence after the timestamps.
    sa.Column("model_mapping", JSONObject, nullable=False, server_default="{}"),
    sa.Column("options", JSONObject, nullable=False, server_default="{}"),
    sa.Column("proxy", sa.Text, nullable=True),
    # Added by migration 4.
    sa.Column("weight", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.Column("max_concurrency", sa.Integer, nullable=True),
    sa.Column("schedulable", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("group", sa.String(64), nullable=True),
    **WITH_ID,
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(191), primary_key=True),
    sa.Column("owner", sa.String(191), nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    **MYSQL_TABLE,
)

usage_records = sa.Table(
    "usage_records",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("platform", sa.String(32), nullable=False),
    sa.Column("endpoint", sa.String(255), nullable=False),
    sa.Column("model", sa.String(255), nullable=False),
    sa.Column("user_id", sa.BigInteger, nullable=True),
    sa.Column("key_id", sa.BigInteger, nullable=True),
    sa.Column("account_id", sa.BigInteger, nullable=True),
    sa.Column("stream", sa.Boolean, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("input_tokens", sa.BigInteger, nullable=False),
    sa.Column("output_tokens", sa.BigInteger, nullable=False),
    sa.Column("cache_creation_tokens", sa.BigInteger, nullable=False),
    sa.Column("cache_read_tokens", sa.BigInteger, nullable=False),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("ttfb_ms", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # Added by migration 5.
    sa.Column("cache_creation_1h_tokens", sa.BigInteger, nullable=False, server_default=ZERO),
    sa.Column("cost_usd", USD, nullable=False, server_default=ZERO),
    sa.Column("priced", sa.Boolean, nullable=False, server_default=sa.false()),
    # Added by migration 10: the client's and the upstream's wire format ('' before).
    sa.Column("client_format", sa.String(32), nullable=False, server_default=""),
    sa.Column("upstream_format", sa.String(32), nullable=False, server_default=""),
    sa.Index("ix_usage_created_at", "created_at"),
    sa.Index("ix_usage_key_created", "key_id", "created_at"),
    sa.Index("ix_usage_account_created", "account_id", "created_at"),
    sa.Index("ix_usage_user_created", "user_id", "created_at"),
    **WITH_ID,
)

# Longest value each usage string column takes on MySQL (characters); the
# usage store truncates to these rather than lose a batch to one long value.
# The VARCHARs' from their declaration; error is TEXT (65,535 bytes): 16,000
# characters fit even at 4 bytes each.
USAGE_STRING_LIMITS = {
    **{c.name: c.type.length for c in usage_records.columns if isinstance(c.type, sa.String) and c.type.length},
    "error": 16_000,
}

schema_version = sa.Table(
    "schema_version",
    metadata,
    # Written by the runner, never counted up by the database.
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
    **MYSQL_TABLE,
)
