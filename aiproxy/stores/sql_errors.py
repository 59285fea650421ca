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


# asyncmy's (and PyMySQL's) errors for a server that cannot be reached, went
# away, or gave up on a lock: matched by name, as above.
_MYSQL_UNAVAILABLE = frozenset({"OperationalError", "InterfaceError"})


def is_unavailable(exc: BaseException) -> bool:
    """True when the database could not be reached or did not answer, as
    opposed to refusing the statement: a network error, a timeout, SQLite's
    "database is locked" / read-only / cannot open, MySQL's "can't connect",
    "server has gone away" and "lost connection"."""
    if isinstance(exc, (OSError, sqlite3.OperationalError)):
        return True
    module = type(exc).__module__ or ""
    if type(exc).__name__ in _MYSQL_UNAVAILABLE and module.startswith(("asyncmy", "pymysql")):
        return True
    # asyncmy also fails a connect to a server that closes at once with a bare
    # RuntimeError ("Transport does not expose socket instance"), and a dead
    # connection with AttributeErrors: not DB-API errors, but raised inside the
    # driver's own code, which a refused statement never is.
    if isinstance(exc, (RuntimeError, AttributeError)):
        return _raised_in(exc, "asyncmy")
    return False


def _raised_in(exc: BaseException, package: str) -> bool:
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = tb.tb_frame.f_code.co_filename.replace("\\", "/")
    return f"/{package}/" in filename or filename.startswith(f"{package}/")
