"""What a database's catalog says about its tables, in one comparable shape.

Used to check that two databases have the same schema: the one the migrations
built and the one built from sql_tables.py.
"""

from __future__ import annotations

from typing import Any

from databases import Database


def sqlite_affinity(declared: str) -> str:
    """The column affinity SQLite gives a declared type (https://sqlite.org/datatype3.html,
    3.1): SQLite stores by affinity, so VARCHAR(255) and TEXT are the same column.
    BOOLEAN (NUMERIC) is counted as INTEGER: the shipped migrations declared flags
    INTEGER, and the two affinities differ only in a CAST expression (same page)."""
    t = declared.upper()
    if t == "BOOLEAN" or "INT" in t:
        return "INTEGER"
    if any(s in t for s in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in t or not t:
        return "BLOB"
    if any(s in t for s in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


async def catalog(db: Database, dialect: str) -> dict[str, Any]:
    """Every table: its columns in order (name, type, nullability, default,
    key and auto-increment), its indexes (name, uniqueness, columns in order)
    and, on MySQL, its engine and collation."""
    if dialect == "sqlite":
        return await _sqlite(db)
    return await _mysql(db)


async def _sqlite(db: Database) -> dict[str, Any]:
    out: dict[str, Any] = {}
    tables = await db.fetch_all(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND substr(name, 1, 7) != 'sqlite_' ORDER BY name"
    )
    for table in tables:
        name = table["name"]
        info = await db.fetch_all("SELECT * FROM pragma_table_info(:t) ORDER BY cid", {"t": name})
        pk_columns = sum(1 for c in info if c["pk"])
        columns = [
            # An INTEGER PRIMARY KEY is the rowid, which cannot be NULL whether
            # or not NOT NULL was written (migration 1 did not write it).
            (c["name"], sqlite_affinity(c["type"]),
             bool(c["notnull"] or (c["pk"] and pk_columns == 1 and c["type"].upper() == "INTEGER")),
             c["dflt_value"], c["pk"])
            for c in info
        ]
        indexes = []
        for ix in await db.fetch_all("SELECT * FROM pragma_index_list(:t)", {"t": name}):
            cols = await db.fetch_all("SELECT name FROM pragma_index_info(:i) ORDER BY seqno", {"i": ix["name"]})
            indexes.append((ix["name"], bool(ix["unique"]), ix["origin"], [c["name"] for c in cols]))
        out[name] = {
            "columns": columns,
            "indexes": sorted(indexes),
            "autoincrement": "AUTOINCREMENT" in table["sql"].upper(),
        }
    return out


_MYSQL_COLUMN = (
    "column_name", "column_type", "is_nullable", "column_default", "column_key", "extra",
    "character_set_name", "collation_name",
)


async def _mysql(db: Database) -> dict[str, Any]:
    out: dict[str, Any] = {}
    tables = await db.fetch_all(
        "SELECT table_name AS name, engine AS engine, table_collation AS table_collation"
        " FROM information_schema.tables"
        " WHERE table_schema = DATABASE() ORDER BY table_name"
    )
    for table in tables:
        name = table["name"]
        columns = [
            tuple(c[k] for k in _MYSQL_COLUMN)
            for c in await db.fetch_all(
                "SELECT " + ", ".join(f"{k} AS {k}" for k in _MYSQL_COLUMN) + " FROM information_schema.columns"
                " WHERE table_schema = DATABASE() AND table_name = :t ORDER BY ordinal_position",
                {"t": name},
            )
        ]
        rows = await db.fetch_all(
            "SELECT index_name AS index_name, non_unique AS non_unique, column_name AS column_name"
            " FROM information_schema.statistics"
            " WHERE table_schema = DATABASE() AND table_name = :t ORDER BY index_name, seq_in_index",
            {"t": name},
        )
        indexes: dict[str, tuple[bool, list[str]]] = {}
        for r in rows:
            unique, cols = indexes.setdefault(r["index_name"], (not int(r["non_unique"]), []))
            cols.append(r["column_name"])
        out[name] = {
            "columns": columns,
            "indexes": sorted(indexes.items()),
            "engine": table["engine"],
            "collation": table["table_collation"],
        }
    return out
