"""Stores on a SQL database, through `databases`: SQLite (the embedded default)
or MySQL/MariaDB.

One query definition serves both dialects: queries are SQLAlchemy Core
expressions over the tables in `sql_tables.py`, compiled by `databases` for the
driver in use. The same tables are the schema's one declaration, which new
migrations are rendered from (`migrations.py`); only the shipped migrations 1-9
and the few statements that exist in one dialect only (locks, pragmas, row
counts) are written per dialect.
"""

from __future__ import annotations

import logging
import os
import stat
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, Iterator, Sequence, TypeVar

import sqlalchemy as sa
from databases import Database, DatabaseURL
from databases.core import Connection
from databases.interfaces import Record

from . import migrations, query_log
from .entities import Account, ApiKey, UsageRecord, User, utcnow
from .protocols import (
    AccountStore,
    KeyStore,
    LeaseStore,
    UsageFilter,
    UsageStore,
    UsageTotal,
    UserStore,
    check_grouping,
    sort_totals,
)
from .sql_errors import is_duplicate
from .sql_leases import SQLLeaseStore
from .sql_tables import (
    USAGE_STRING_LIMITS,
    accounts,
    api_keys,
    day_from_db,
    from_db,
    int_from_db,
    sqlalchemy_dialect,
    usage_records,
    usd_from_db,
    users,
)
from .sqlite_batch import SQLiteBatchWriter

log = logging.getLogger("aiproxy.stores")

# Hygiene: statements' values (hashes, credentials) never reach the logs.
query_log.install()

# A new SQLite file is made owner read/write only: it holds password and key
# hashes and the encrypted upstream credentials. SQLite gives the -wal and
# -shm files it makes beside it the database file's own mode.
SQLITE_FILE_MODE = 0o600

# How long a SQLite connection waits for another one's write lock before
# failing with "database is locked". Writes are short (one row, or one usage
# batch), so this is only ever reached when something is wrong.
SQLITE_BUSY_TIMEOUT_S = 10.0

_SCHEMES = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    # `databases` maps a bare mysql:// to aiomysql; asyncmy is the driver we ship.
    "mysql": "mysql+asyncmy",
    "mysql+asyncmy": "mysql+asyncmy",
    "mariadb": "mysql+asyncmy",
    "mariadb+asyncmy": "mysql+asyncmy",
}


def normalize_url(url: str) -> DatabaseURL:
    """The URL with the driver this module supports for its dialect."""
    parsed = DatabaseURL(url)
    scheme = _SCHEMES.get(parsed.scheme)
    if scheme is None:
        raise ValueError(
            f"unsupported database URL scheme {parsed.scheme!r}: "
            "use sqlite+aiosqlite:///path.db or mysql+asyncmy://user:pw@host:3306/db"
        )
    dialect, driver = scheme.split("+")
    return parsed.replace(dialect=dialect, driver=driver)


@contextmanager
def _duplicate_as_value_error(message: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        if is_duplicate(exc):
            raise ValueError(message) from exc
        raise


E = TypeVar("E", User, ApiKey, Account)


class _Rows(Generic[E]):
    """Create/read/update/delete by id on one table, mapped to one dataclass.

    The dataclass fields and the table columns have the same names; values are
    normalised on the way out by `from_db`, so whichever driver is underneath a
    row reads back equal to what was written.
    """

    def __init__(
        self, db: Database, dialect: str, table: sa.Table, entity: type[E], *, not_updated: Sequence[str] = ()
    ) -> None:
        self.db = db
        self.table = table
        self.entity: type[E] = entity
        # Columns that update() leaves as stored: written by their own calls only.
        self._not_updated = frozenset(not_updated)
        # The statement's own result is unreliable for a row count: `databases`
        # returns lastrowid when it is non-zero, and SQLite's lastrowid is the
        # connection's last insert, not this statement's. Ask the server instead.
        self._row_count_sql = "SELECT changes()" if dialect == "sqlite" else "SELECT ROW_COUNT()"

    def encode(self, obj: E) -> dict[str, Any]:
        return {c.name: getattr(obj, c.name) for c in self.table.columns if c.name != "id"}

    def decode(self, row: Record) -> E:
        return self.entity(**{c.name: from_db(c, row[c.name]) for c in self.table.columns})

    async def one(self, where: sa.ColumnElement[bool], conn: Connection | None = None) -> E | None:
        query = sa.select(self.table).where(where)
        row = await (conn or self.db).fetch_one(query)
        return self.decode(row) if row is not None else None

    async def get(self, row_id: int, conn: Connection | None = None) -> E | None:
        return await self.one(self.table.c.id == row_id, conn)

    async def all(self, *where: sa.ColumnElement[bool]) -> list[E]:
        rows = await self.db.fetch_all(sa.select(self.table).where(*where).order_by(self.table.c.id))
        return [self.decode(r) for r in rows]

    async def create(self, obj: E) -> E:
        # One connection for the insert and the read-back (SQLite opens a new
        # connection per checkout; this halves that).
        async with self.db.connection() as conn:
            new_id = await conn.execute(sa.insert(self.table).values(**self.encode(obj)))
            created = await self.get(int(new_id), conn)
        assert created is not None, "row vanished right after its insert"
        return created

    async def update(self, obj: E) -> E:
        if obj.id is None:
            raise KeyError(None)
        values = {k: v for k, v in self.encode(obj).items() if k not in self._not_updated}
        values["updated_at"] = utcnow()
        async with self.db.connection() as conn:
            await conn.execute(sa.update(self.table).where(self.table.c.id == obj.id).values(**values))
            # Read back rather than trust the input: this is what was stored, and
            # a missing row shows up here as None whatever the driver's row count.
            updated = await self.get(obj.id, conn)
        if updated is None:
            raise KeyError(obj.id)
        return updated

    async def delete_where(self, where: sa.ColumnElement[bool]) -> int:
        async with self.db.connection() as conn:
            await conn.execute(sa.delete(self.table).where(where))
            return int_from_db(await conn.fetch_val(self._row_count_sql))


class SQLUserStore:
    def __init__(self, db: Database, dialect: str) -> None:
        # token_version is changed by bump_token_version alone: an edit read
        # before a logout or password change must not write the old version back.
        self._t = _Rows(db, dialect, users, User, not_updated=("token_version",))

    async def get(self, user_id: int) -> User | None:
        return await self._t.get(user_id)

    async def get_by_username(self, username: str) -> User | None:
        return await self._t.one(users.c.username == username)

    async def list(self) -> list[User]:
        return await self._t.all()

    async def create(self, user: User) -> User:
        with _duplicate_as_value_error(f"user {user.username!r} exists"):
            return await self._t.create(user)

    async def update(self, user: User) -> User:
        with _duplicate_as_value_error(f"user {user.username!r} exists"):
            return await self._t.update(user)

    async def delete(self, user_id: int) -> bool:
        return await self._t.delete_where(users.c.id == user_id) > 0

    async def bump_token_version(self, user_id: int) -> int | None:
        # One UPDATE adding to the stored value, so two bumps at once (on any
        # instances) both count. updated_at is left alone: nothing was edited.
        t = users
        async with self._t.db.connection() as conn:
            await conn.execute(sa.update(t).where(t.c.id == user_id).values(token_version=t.c.token_version + 1))
            value = await conn.fetch_val(sa.select(t.c.token_version).where(t.c.id == user_id))
        return int_from_db(value) if value is not None else None


class SQLKeyStore:
    def __init__(self, db: Database, dialect: str) -> None:
        # first_used_at is stamped by mark_first_use alone: an edit of the key,
        # read before a stamp landed, must not write the stamp back to NULL.
        self._t = _Rows(db, dialect, api_keys, ApiKey, not_updated=("first_used_at",))

    async def get(self, key_id: int) -> ApiKey | None:
        return await self._t.get(key_id)

    async def get_by_hash(self, key_hash: str) -> ApiKey | None:
        # The request path's cache-miss query; served by uq_api_keys_key_hash.
        return await self._t.one(api_keys.c.key_hash == key_hash)

    async def list(self, user_id: int | None = None) -> list[ApiKey]:
        if user_id is None:
            return await self._t.all()
        return await self._t.all(api_keys.c.user_id == user_id)

    async def create(self, key: ApiKey) -> ApiKey:
        with _duplicate_as_value_error("an API key with this hash exists"):
            return await self._t.create(key)

    async def update(self, key: ApiKey) -> ApiKey:
        with _duplicate_as_value_error("an API key with this hash exists"):
            return await self._t.update(key)

    async def delete(self, key_id: int) -> bool:
        return await self._t.delete_where(api_keys.c.id == key_id) > 0

    async def delete_for_user(self, user_id: int) -> int:
        return await self._t.delete_where(api_keys.c.user_id == user_id)

    async def mark_first_use(self, key_id: int, at: datetime) -> datetime | None:
        # Conditional, so that of two instances stamping at once the first
        # write stays; both then read the stamp that won. updated_at is left
        # alone: this is the gateway noting a use, not an edit of the key.
        t = api_keys
        await self._t.db.execute(
            sa.update(t).where(t.c.id == key_id, t.c.first_used_at.is_(None)).values(first_used_at=at)
        )
        value = await self._t.db.fetch_val(sa.select(t.c.first_used_at).where(t.c.id == key_id))
        return from_db(t.c.first_used_at, value) if value is not None else None


class SQLAccountStore:
    def __init__(self, db: Database, dialect: str) -> None:
        self._t = _Rows(db, dialect, accounts, Account)

    async def get(self, account_id: int) -> Account | None:
        return await self._t.get(account_id)

    async def list(self) -> list[Account]:
        return await self._t.all()

    async def create(self, account: Account) -> Account:
        return await self._t.create(account)

    async def update(self, account: Account) -> Account:
        return await self._t.update(account)

    async def delete(self, account_id: int) -> bool:
        return await self._t.delete_where(accounts.c.id == account_id) > 0


_GROUP_COLUMNS = {"key": "key_id", "user": "user_id", "account": "account_id", "model": "model", "platform": "platform"}
_TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens")


def _usage_conditions(w: UsageFilter) -> list[sa.ColumnElement[bool]]:
    t = usage_records
    conds: list[sa.ColumnElement[bool]] = []
    if w.start is not None:
        conds.append(t.c.created_at >= w.start)
    if w.end is not None:
        conds.append(t.c.created_at < w.end)
    for name in ("user_id", "key_id", "account_id", "model", "platform", "status"):
        value = getattr(w, name)
        if value is not None:
            conds.append(t.c[name] == value)
    if w.bridged is not None:
        # As UsageRecord.bridged says it: both formats known, and different.
        bridged = sa.and_(t.c.client_format != "", t.c.upstream_format != "",
                          t.c.client_format != t.c.upstream_format)
        conds.append(bridged if w.bridged else sa.not_(bridged))
    return conds


class SQLUsageStore:
    def __init__(self, db: Database, dialect: str) -> None:
        self._db = db
        self._dialect = dialect
        self._sqlite: SQLiteBatchWriter | None = None
        # add_many is the one write on the request path (in batches from the
        # usage writer), so its INSERT is compiled once here, with the bind
        # processors of the dialect `databases` uses, instead of per call:
        # SQLAlchemy spends ~0.3 ms compiling each row of a multi-row INSERT,
        # on the event loop.
        sa_dialect = sqlalchemy_dialect(dialect)
        columns = [c for c in usage_records.columns if c.name != "id"]
        compiled = sa.insert(usage_records).compile(dialect=sa_dialect, column_keys=[c.name for c in columns])
        assert list(compiled.positiontup or ()) == [c.name for c in columns]
        self._insert_sql = compiled.string
        # dialect_impl: the generic DateTime has no SQLite processor; the SQLite
        # DATETIME it stands for renders the text format the other queries compare.
        self._binds = [(c.name, c.type.dialect_impl(sa_dialect).bind_processor(sa_dialect)) for c in columns]
        if dialect == "sqlite":
            self._sqlite = SQLiteBatchWriter(str(db.url.database), self._insert_sql, busy_timeout_s=SQLITE_BUSY_TIMEOUT_S)

    def _encode(self, r: UsageRecord) -> tuple[Any, ...]:
        row = []
        for name, process in self._binds:
            value = getattr(r, name)
            # model and endpoint come from client requests: cut them to the column
            # width rather than have MySQL's strict mode refuse the whole batch.
            limit = USAGE_STRING_LIMITS.get(name)
            if limit is not None and isinstance(value, str) and len(value) > limit:
                value = value[:limit]
            row.append(process(value) if process is not None else value)
        return tuple(row)

    @staticmethod
    def _decode(row: Record) -> UsageRecord:
        return UsageRecord(**{c.name: from_db(c, row[c.name]) for c in usage_records.columns})

    async def add_many(self, records: Sequence[UsageRecord]) -> None:
        if not records:
            return
        rows = [self._encode(r) for r in records]
        if self._sqlite is not None:
            await self._sqlite.write(rows)
            return
        # The driver's executemany in one transaction: one commit (one fsync on
        # SQLite), and asyncmy sends the batch as multi-row INSERTs. `databases`'
        # own execute_many would compile and send a statement per record.
        async with self._db.connection() as conn, conn.transaction():
            async with conn.raw_connection.cursor() as cursor:
                await cursor.executemany(self._insert_sql, rows)

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()

    async def query(
        self, where: UsageFilter, *, offset: int = 0, limit: int = 50
    ) -> tuple[list[UsageRecord], int]:
        t = usage_records
        conds = _usage_conditions(where)
        page = (
            sa.select(t)
            .where(*conds)
            .order_by(t.c.created_at.desc(), t.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        async with self._db.connection() as conn:
            total = int_from_db(await conn.fetch_val(sa.select(sa.func.count()).select_from(t).where(*conds)))
            rows = await conn.fetch_all(page) if total > offset else []
        return [self._decode(r) for r in rows], total

    def _bucket(self, interval: str) -> sa.ColumnElement[Any]:
        """The SQL naming a record's time bucket as usage_bucket() does.
        created_at is naive UTC, so no time zone conversion is involved."""
        created = usage_records.c.created_at
        if interval == "day":
            # DATE() exists in both SQLite and MySQL.
            return sa.func.date(created)
        if self._dialect == "sqlite":
            return sa.func.strftime("%Y-%m-%dT%H:00:00Z", created)
        return sa.func.date_format(created, "%Y-%m-%dT%H:00:00Z")

    async def totals(
        self, where: UsageFilter, group_by: str | None, *, interval: str | None = None
    ) -> list[UsageTotal]:
        check_grouping(group_by, interval)
        t = usage_records
        column = t.c[_GROUP_COLUMNS[group_by]] if group_by not in (None, "day") else None
        keys: list[sa.ColumnElement[Any]] = []
        if group_by is not None:
            keys.append((column if column is not None else self._bucket("day")).label("grp"))
        if interval is not None:
            keys.append(self._bucket(interval).label("bucket"))
        query = (
            sa.select(
                *keys,
                sa.func.count().label("requests"),
                *(sa.func.sum(t.c[name]).label(name) for name in _TOKEN_FIELDS),
                # SUM over DECIMAL stays DECIMAL on MySQL: exact. On SQLite a
                # sum of REALs, rounded to the nano-dollar by usd_from_db.
                sa.func.sum(t.c.cost_usd).label("cost_usd"),
                sa.func.sum(sa.case((t.c.priced == sa.false(), 1), else_=0)).label("unpriced"),
                # As protocols.is_error_status.
                sa.func.sum(sa.case((sa.or_(t.c.status >= 400, t.c.status < 100), 1), else_=0)).label("errors"),
            )
            .where(*_usage_conditions(where))
            .group_by(*keys)
        )
        totals: list[UsageTotal] = []
        for r in await self._db.fetch_all(query):
            requests = int_from_db(r["requests"])
            if requests == 0:
                continue  # no group: the one row of an empty aggregate
            if group_by is None:
                group = None
            elif column is not None:
                group = from_db(column, r["grp"])
            else:
                group = day_from_db(r["grp"])
            bucket = None
            if interval == "day":
                bucket = day_from_db(r["bucket"])
            elif interval == "hour":
                bucket = str(r["bucket"])
            totals.append(
                UsageTotal(
                    group=group,
                    requests=requests,
                    **{name: int_from_db(r[name]) for name in _TOKEN_FIELDS},
                    cost_usd=usd_from_db(r["cost_usd"]),
                    unpriced=int_from_db(r["unpriced"]),
                    errors=int_from_db(r["errors"]),
                    bucket=bucket,
                )
            )
        # Sorted here, not in SQL: NULL placement and collation differ between
        # dialects, and this is the order the memory store gives.
        return sort_totals(totals)


def make_private(path: str) -> None:
    """Create the SQLite file `path` empty with mode 0600 if it does not exist
    (SQLite takes an empty file as an empty database); narrow an existing one,
    and its -wal and -shm files, to 0600 when others may read them (files made
    by an older version were 0644), with a warning."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SQLITE_FILE_MODE)
    except FileExistsError:
        pass
    else:
        os.close(fd)
        return
    for name in (path, path + "-wal", path + "-shm"):
        try:
            mode = stat.S_IMODE(os.stat(name).st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            log.warning("%s was readable by others (mode %04o); narrowing it to %04o", name, mode, SQLITE_FILE_MODE)
            os.chmod(name, SQLITE_FILE_MODE)


class SQLStores:
    """The four stores on one SQL database (see module docstring for URLs)."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.dialect = self.url.dialect
        options: dict[str, Any] = {}
        if self.dialect == "sqlite":
            if self.url.database in ("", ":memory:"):
                # `databases` opens a new SQLite connection per checkout, and each
                # would see its own empty in-memory database.
                raise ValueError("in-memory SQLite is not supported; use MemoryStores")
            # sqlite3's timeout is the busy timeout, set on every new connection.
            options["timeout"] = SQLITE_BUSY_TIMEOUT_S
        try:
            self._db = Database(self.url, **options)
        except ImportError as exc:
            raise ImportError(f"{exc}: install the driver with `pip install aiproxy[mysql]`") from exc
        # Annotated with the protocol types, the names the rest of the gateway uses.
        self.users: UserStore = SQLUserStore(self._db, self.dialect)
        self.keys: KeyStore = SQLKeyStore(self._db, self.dialect)
        self.accounts: AccountStore = SQLAccountStore(self._db, self.dialect)
        self._usage = SQLUsageStore(self._db, self.dialect)
        self.usage: UsageStore = self._usage
        self.leases: LeaseStore = SQLLeaseStore(self._db, self.dialect)

    async def open(self) -> None:
        if self.dialect == "sqlite":
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            make_private(self.url.database)
        await self._db.connect()
        try:
            await migrations.migrate(self._db, self.dialect)
        except BaseException:
            await self._db.disconnect()
            raise

    async def close(self) -> None:
        self._usage.close()
        await self._db.disconnect()

    async def schema_version(self) -> int:
        """The latest migration recorded in the database (0 for none)."""
        async with self._db.connection() as conn:
            return await migrations.recorded_version(conn)


__all__ = [
    "SQLAccountStore",
    "SQLKeyStore",
    "SQLStores",
    "SQLUsageStore",
    "SQLUserStore",
    "normalize_url",
]

