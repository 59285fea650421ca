"""Leases in SQL: a row per held name; taking one is one INSERT or one conditional UPDATE.

Both statements are atomic on SQLite and MySQL, so of several processes
racing for a free or expired lease exactly one sees its write land.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from databases import Database

from .sql_errors import is_duplicate
from .sql_tables import int_from_db, leases


class SQLLeaseStore:
    def __init__(self, db: Database, dialect: str) -> None:
        self._db = db
        # `databases` gives no row count; ask the connection that just wrote.
        self._row_count_sql = "SELECT changes()" if dialect == "sqlite" else "SELECT ROW_COUNT()"

    async def acquire(self, name: str, owner: str, seconds: float) -> bool:
        # Microseconds kept (entities.utcnow drops them): leases last seconds.
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        until = now + timedelta(seconds=seconds)
        async with self._db.connection() as conn:
            try:
                await conn.execute(sa.insert(leases).values(name=name, owner=owner, expires_at=until))
                return True
            except Exception as exc:
                if not is_duplicate(exc):
                    raise
            # Held already: take it over only if it expired, or extend our own.
            await conn.execute(
                sa.update(leases)
                .where(leases.c.name == name, sa.or_(leases.c.expires_at < now, leases.c.owner == owner))
                .values(owner=owner, expires_at=until)
            )
            return int_from_db(await conn.fetch_val(self._row_count_sql)) > 0

    async def release(self, name: str, owner: str) -> None:
        await self._db.execute(sa.delete(leases).where(leases.c.name == name, leases.c.owner == owner))

