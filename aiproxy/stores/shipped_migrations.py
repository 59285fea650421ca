"""Migrations 1-9 as they shipped: DDL text per dialect, frozen.

Databases out there recorded these as applied, so their text must never change
(tests/stores/test_shipped_migrations.py pins a digest of every statement on each
dialect). They predate the declared form (migration_steps.py); the schema they
build is what sql_tables.py declares, which the same tests check on SQLite and
MariaDB. New migrations go in migrations.py, declared once.
"""

from __future__ import annotations

from .migration_steps import AddColumn, Migration

# Created before any migration runs (inside the migration lock), so it is not a
# migration itself. One row per applied migration: the history is kept, and the
# primary key makes a second recording of the same version fail loudly.
SCHEMA_VERSION_DDL = {
    "sqlite": (
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER NOT NULL PRIMARY KEY,"
        " applied_at DATETIME NOT NULL)"
    ),
    "mysql": (
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INT NOT NULL PRIMARY KEY,"
        " applied_at DATETIME(6) NOT NULL"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    ),
}

# MySQL notes, for every table below:
# - utf8mb4_bin: string comparison, UNIQUE and GROUP BY are exact, as they are in
#   SQLite and the memory store; the default *_ci collations would make "Alice"
#   and "alice" the same user and merge model names that differ only in case.
# - DATETIME(6): keep microseconds, so a datetime equals itself after a round trip.
# - Indexes are declared inside CREATE TABLE: MySQL has no CREATE INDEX IF NOT
#   EXISTS, and MySQL DDL is not transactional, so one self-contained
#   `CREATE TABLE IF NOT EXISTS` per table is what makes a half-applied migration
#   safe to run again.
# - No foreign keys, on either dialect: the memory store has none, usage rows
#   must outlive the keys and accounts they name, and deleting a user's keys is
#   the caller's decision (KeyStore.delete_for_user).
_MYSQL_TABLE = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

_V1_SQLITE = (
    """CREATE TABLE IF NOT EXISTS users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        username TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        must_change_password INTEGER NOT NULL,
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS uq_users_username ON users (username)",
    """CREATE TABLE IF NOT EXISTS api_keys (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        key_hash TEXT NOT NULL,
        key_prefix TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        expires_at DATETIME NULL,
        platforms TEXT NOT NULL,
        models TEXT NOT NULL,
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS uq_api_keys_key_hash ON api_keys (key_hash)",
    "CREATE INDEX IF NOT EXISTS ix_api_keys_user_id ON api_keys (user_id)",
    """CREATE TABLE IF NOT EXISTS accounts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        platform TEXT NOT NULL,
        type TEXT NOT NULL,
        credentials TEXT NOT NULL,
        base_url TEXT NULL,
        priority INTEGER NOT NULL,
        enabled INTEGER NOT NULL,
        models TEXT NOT NULL,
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS usage_records (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        platform TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        model TEXT NOT NULL,
        user_id INTEGER NULL,
        key_id INTEGER NULL,
        account_id INTEGER NULL,
        stream INTEGER NOT NULL,
        status INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cache_creation_tokens INTEGER NOT NULL,
        cache_read_tokens INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        ttfb_ms INTEGER NULL,
        error TEXT NULL,
        created_at DATETIME NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS ix_usage_created_at ON usage_records (created_at)",
    "CREATE INDEX IF NOT EXISTS ix_usage_key_created ON usage_records (key_id, created_at)",
    "CREATE INDEX IF NOT EXISTS ix_usage_account_created"
    " ON usage_records (account_id, created_at)",
    "CREATE INDEX IF NOT EXISTS ix_usage_user_created ON usage_records (user_id, created_at)",
)

_V1_MYSQL = (
    f"""CREATE TABLE IF NOT EXISTS users (
        id BIGINT AUTO_INCREMENT PRIMARY KEY,
        username VARCHAR(255) NOT NULL,
        password_hash VARCHAR(255) NOT NULL,
        role VARCHAR(32) NOT NULL,
        enabled BOOLEAN NOT NULL,
        must_change_password BOOLEAN NOT NULL,
        created_at DATETIME(6) NOT NULL,
        updated_at DATETIME(6) NOT NULL,
        UNIQUE KEY uq_users_username (username)
    ) {_MYSQL_TABLE}""",
    f"""CREATE TABLE IF NOT EXISTS api_keys (
        id BIGINT AUTO_INCREMENT PRIMARY KEY,
        user_id BIGINT NOT NULL,
        name VARCHAR(255) NOT NULL,
        key_hash VARCHAR(255) NOT NULL,
        key_prefix VARCHAR(64) NOT NULL,
        enabled BOOLEAN NOT NULL,
        expires_at DATETIME(6) NULL,
        platforms TEXT NOT NULL,
        models TEXT NOT NULL,
        created_at DATETIME(6) NOT NULL,
        updated_at DATETIME(6) NOT NULL,
        UNIQUE KEY uq_api_keys_key_hash (key_hash),
        KEY ix_api_keys_user_id (user_id)
    ) {_MYSQL_TABLE}""",
    # credentials is TEXT: an encrypted token of unknown length, never indexed.
    f"""CREATE TABLE IF NOT EXISTS accounts (
        id BIGINT AUTO_INCREMENT PRIMARY KEY,
        name VARCHAR(255) NOT NULL,
        platform VARCHAR(32) NOT NULL,
        type VARCHAR(64) NOT NULL,
        credentials TEXT NOT NULL,
        base_url TEXT NULL,
        priority INT NOT NULL,
        enabled BOOLEAN NOT NULL,
        models TEXT NOT NULL,
        created_at DATETIME(6) NOT NULL,
        updated_at DATETIME(6) NOT NULL
    ) {_MYSQL_TABLE}""",
    # The string lengths here are enforced by SQLUsageStore, which truncates
    # before inserting: model and endpoint come from client requests, and one
    # over-long value must not make MySQL reject a whole batch of usage.
    f"""CREATE TABLE IF NOT EXISTS usage_records (
        id BIGINT AUTO_INCREMENT PRIMARY KEY,
        platform VARCHAR(32) NOT NULL,
        endpoint VARCHAR(255) NOT NULL,
        model VARCHAR(255) NOT NULL,
        user_id BIGINT NULL,
        key_id BIGINT NULL,
        account_id BIGINT NULL,
        stream BOOLEAN NOT NULL,
        status INT NOT NULL,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        cache_creation_tokens BIGINT NOT NULL,
        cache_read_tokens BIGINT NOT NULL,
        duration_ms INT NOT NULL,
        ttfb_ms INT NULL,
        error TEXT NULL,
        created_at DATETIME(6) NOT NULL,
        KEY ix_usage_created_at (created_at),
        KEY ix_usage_key_created (key_id, created_at),
        KEY ix_usage_account_created (account_id, created_at),
        KEY ix_usage_user_created (user_id, created_at)
    ) {_MYSQL_TABLE}""",
)

# Per-account model mapping, type options (both JSON objects as text, like the
# lists of v1) and outbound proxy. Existing accounts get empty objects and no
# proxy. The defaults exist only for those rows: inserts always give a value.
# MySQL allows a default on TEXT only as an expression, `('{}')` (MySQL 8.0.13+,
# MariaDB 10.2+); SQLite's ADD COLUMN allows only a literal.
_V2_SQLITE = (
    AddColumn("accounts", "model_mapping", "TEXT NOT NULL DEFAULT '{}'"),
    AddColumn("accounts", "options", "TEXT NOT NULL DEFAULT '{}'"),
    AddColumn("accounts", "proxy", "TEXT NULL"),
)

_V2_MYSQL = (
    AddColumn("accounts", "model_mapping", "TEXT NOT NULL DEFAULT ('{}')"),
    AddColumn("accounts", "options", "TEXT NOT NULL DEFAULT ('{}')"),
    AddColumn("accounts", "proxy", "TEXT NULL"),
)

# Named, expiring leases: a lock every process sharing the database can take
# (one OAuth token refresh per account across workers and instances).
_V3_SQLITE = (
    """CREATE TABLE IF NOT EXISTS leases (
        name TEXT NOT NULL PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at DATETIME NOT NULL
    )""",
)

_V3_MYSQL = (
    f"""CREATE TABLE IF NOT EXISTS leases (
        name VARCHAR(191) NOT NULL PRIMARY KEY,
        owner VARCHAR(191) NOT NULL,
        expires_at DATETIME(6) NOT NULL
    ) {_MYSQL_TABLE}""",
)

# Scheduling: an account's weight within its priority tier, its concurrency
# cap, whether it may be picked at all, and its group; a key's binding to one
# account or a group, and whether it may fall back to the shared pool. Existing
# accounts get weight 1, no cap, schedulable, no group; existing keys no
# binding and no fallback (the defaults are for those rows; inserts always give
# a value). `group` is a reserved word: AddColumn quotes it.
_V4_SQLITE = (
    AddColumn("accounts", "weight", "INTEGER NOT NULL DEFAULT 1"),
    AddColumn("accounts", "max_concurrency", "INTEGER NULL"),
    AddColumn("accounts", "schedulable", "INTEGER NOT NULL DEFAULT 1"),
    AddColumn("accounts", "group", "TEXT NULL"),
    AddColumn("api_keys", "account_id", "INTEGER NULL"),
    AddColumn("api_keys", "group", "TEXT NULL"),
    AddColumn("api_keys", "shared_fallback", "INTEGER NOT NULL DEFAULT 0"),
)

_V4_MYSQL = (
    AddColumn("accounts", "weight", "INT NOT NULL DEFAULT 1"),
    AddColumn("accounts", "max_concurrency", "INT NULL"),
    AddColumn("accounts", "schedulable", "BOOLEAN NOT NULL DEFAULT TRUE"),
    AddColumn("accounts", "group", "VARCHAR(64) NULL"),
    AddColumn("api_keys", "account_id", "BIGINT NULL"),
    AddColumn("api_keys", "group", "VARCHAR(64) NULL"),
    AddColumn("api_keys", "shared_fallback", "BOOLEAN NOT NULL DEFAULT FALSE"),
)

# Cost: each usage record's list-price cost, the part of its cache writes made
# with the 1h TTL, and whether its model had a price at all.
# - cost_usd is DECIMAL(18,9) on MySQL: costs are computed to the nano-dollar,
#   and a DECIMAL keeps those digits exactly, so SUM() over any number of rows
#   is exact (up to $999,999,999). SQLite has no decimal type (a DECIMAL
#   column has NUMERIC affinity and stores reals anyway): REAL it is. A double
#   holds 15-17 significant digits, so a cost to 1e-9 below $1,000,000
#   round-trips exactly, and SUM() (Kahan-Babuska compensated in SQLite) is
#   rounded to the nano-dollar when read (sql_tables.usd_from_db). TEXT would
#   round-trip too, but SUM() would convert it to REAL all the same.
# - Rows recorded before this migration were never priced: they get cost 0
#   and priced false, the same flag as a model the price table lacks.
_V5_SQLITE = (
    AddColumn("usage_records", "cache_creation_1h_tokens", "INTEGER NOT NULL DEFAULT 0"),
    AddColumn("usage_records", "cost_usd", "REAL NOT NULL DEFAULT 0"),
    AddColumn("usage_records", "priced", "INTEGER NOT NULL DEFAULT 0"),
)

_V5_MYSQL = (
    AddColumn("usage_records", "cache_creation_1h_tokens", "BIGINT NOT NULL DEFAULT 0"),
    AddColumn("usage_records", "cost_usd", "DECIMAL(18,9) NOT NULL DEFAULT 0"),
    AddColumn("usage_records", "priced", "BOOLEAN NOT NULL DEFAULT FALSE"),
)

# Key quotas, each NULL for no limit (what existing keys get): requests per
# minute, concurrent requests, tokens per UTC day, and USD budgets per day,
# week and in total (doubles: a limit, not a ledger, so no DECIMAL needed).
_V6_SQLITE = (
    AddColumn("api_keys", "rpm_limit", "INTEGER NULL"),
    AddColumn("api_keys", "max_concurrency", "INTEGER NULL"),
    AddColumn("api_keys", "daily_token_limit", "INTEGER NULL"),
    AddColumn("api_keys", "daily_cost_limit", "REAL NULL"),
    AddColumn("api_keys", "weekly_cost_limit", "REAL NULL"),
    AddColumn("api_keys", "total_cost_limit", "REAL NULL"),
)

_V6_MYSQL = (
    AddColumn("api_keys", "rpm_limit", "INT NULL"),
    AddColumn("api_keys", "max_concurrency", "INT NULL"),
    AddColumn("api_keys", "daily_token_limit", "BIGINT NULL"),
    AddColumn("api_keys", "daily_cost_limit", "DOUBLE NULL"),
    AddColumn("api_keys", "weekly_cost_limit", "DOUBLE NULL"),
    AddColumn("api_keys", "total_cost_limit", "DOUBLE NULL"),
)

# The client programs a key may be used from, a JSON list like `models`;
# existing keys get `[]`, any client (the default is for those rows only).
_V7_SQLITE = (AddColumn("api_keys", "allowed_clients", "TEXT NOT NULL DEFAULT '[]'"),)

_V7_MYSQL = (AddColumn("api_keys", "allowed_clients", "TEXT NOT NULL DEFAULT ('[]')"),)

# Keys that expire N days after their first use: the N, and the first use,
# stamped by the gateway (NULL: not used since the key got an N).
_V8_SQLITE = (
    AddColumn("api_keys", "expires_after_days", "INTEGER NULL"),
    AddColumn("api_keys", "first_used_at", "DATETIME NULL"),
)

_V8_MYSQL = (
    AddColumn("api_keys", "expires_after_days", "INT NULL"),
    AddColumn("api_keys", "first_used_at", "DATETIME(6) NULL"),
)

# The version of a user's admin sessions: a token carries the version it was
# issued at, and one from before the last bump (password change or reset,
# disable, role change, logout) is refused. Existing users start at 0.
_V9_SQLITE = (AddColumn("users", "token_version", "INTEGER NOT NULL DEFAULT 0"),)

_V9_MYSQL = (AddColumn("users", "token_version", "INT NOT NULL DEFAULT 0"),)

SHIPPED: tuple[Migration, ...] = (
    Migration(1, "users, api keys, accounts and usage", sqlite=_V1_SQLITE, mysql=_V1_MYSQL),
    Migration(2, "account model mapping, options and proxy", sqlite=_V2_SQLITE, mysql=_V2_MYSQL),
    Migration(3, "leases", sqlite=_V3_SQLITE, mysql=_V3_MYSQL),
    Migration(4, "account scheduling fields and key bindings", sqlite=_V4_SQLITE, mysql=_V4_MYSQL),
    Migration(5, "usage cost, 1h cache writes and priced flag", sqlite=_V5_SQLITE, mysql=_V5_MYSQL),
    Migration(6, "key quotas", sqlite=_V6_SQLITE, mysql=_V6_MYSQL),
    Migration(7, "key allowed clients", sqlite=_V7_SQLITE, mysql=_V7_MYSQL),
    Migration(8, "key expiry after first use", sqlite=_V8_SQLITE, mysql=_V8_MYSQL),
    Migration(9, "user session token version", sqlite=_V9_SQLITE, mysql=_V9_MYSQL),
)
