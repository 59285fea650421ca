"""Telling the drivers' errors apart, without importing the optional ones."""

from __future__ import annotations

import sqlite3


def is_duplicate(exc: BaseException) -> bool:
    """True for a UNIQUE (or primary key) violation, from either driver."""
    if isinstance(exc, sqlite3.IntegrityError):
        # 2067/1555 are SQLITE_CONSTRAINT_UNIQUE/_PRIMARYKEY; the text check covers old Pythons.
        return getattr(exc, "sqlite_errorcode", None) in (2067, 1555) or "UNIQUE" in str(exc)
    # asyncmy is optional, so match its IntegrityError by name, not by import.
    # 1062 is ER_DUP_ENTRY.
    return type(exc).__name__ == "IntegrityError" and bool(exc.args) and exc.args[0] == 1062
