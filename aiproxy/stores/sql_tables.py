"""SQLAlchemy Core descriptions of the tables that `migrations.py` creates.

Used to build queries only, never to create tables: the DDL lives in the
migrations, per dialect. The column types matter because they decide how values
are bound (datetimes and booleans are rendered differently for SQLite and
MySQL), so that one query definition works on both.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
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

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("username", sa.String(255), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("must_change_password", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Added by migration 9: the version every session token must carry.
    sa.Column("token_version", sa.Integer, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
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
    sa.Column("shared_fallback", sa.Boolean, nullable=False),
    # Added by migration 6: quotas, each NULL for no limit.
    sa.Column("rpm_limit", sa.Integer, nullable=True),
    sa.Column("max_concurrency", sa.Integer, nullable=True),
    sa.Column("daily_token_limit", sa.BigInteger, nullable=True),
    sa.Column("daily_cost_limit", sa.Float, nullable=True),
    sa.Column("weekly_cost_limit", sa.Float, nullable=True),
    sa.Column("total_cost_limit", sa.Float, nullable=True),
    # Added by migration 7: the client programs the key may be used from.
    sa.Column("allowed_clients", JSONList, nullable=False),
    # Added by migration 8: expiry N days after the first use, and that use.
    sa.Column("expires_after_days", sa.Integer, nullable=True),
    sa.Column("first_used_at", UTCDateTime, nullable=True),
)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
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
    sa.Column("model_mapping", JSONObject, nullable=False),
    sa.Column("options", JSONObject, nullable=False),
    sa.Column("proxy", sa.Text, nullable=True),
    # Added by migration 4.
    sa.Column("weight", sa.Integer, nullable=False),
    sa.Column("max_concurrency", sa.Integer, nullable=True),
    sa.Column("schedulable", sa.Boolean, nullable=False),
    sa.Column("group", sa.String(64), nullable=True),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(191), primary_key=True),
    sa.Column("owner", sa.String(191), nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

usage_records = sa.Table(
    "usage_records",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
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
    sa.Column("cache_creation_1h_tokens", sa.BigInteger, nullable=False),
    sa.Column("cost_usd", USD, nullable=False),
    sa.Column("priced", sa.Boolean, nullable=False),
)

# Longest value each usage string column takes on MySQL (characters); the
# usage store truncates to these rather than lose a batch to one long value.
# error is TEXT (65,535 bytes): 16,000 characters fit even at 4 bytes each.
USAGE_STRING_LIMITS = {"platform": 32, "endpoint": 255, "model": 255, "error": 16_000}

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)
