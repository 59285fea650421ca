"""Which driver errors mean "the database is unavailable" (503, retry) rather than a refused statement."""

from __future__ import annotations

import sqlite3

from aiproxy.stores.sql_errors import is_unavailable


def raised_in(filename: str, exc: BaseException) -> BaseException:
    # An exception as raised from inside a module of that file name.
    code = compile("def fail(exc):\n    raise exc\n", filename, "exec")
    scope: dict = {}
    exec(code, scope)
    try:
        scope["fail"](exc)
    except BaseException as caught:
        return caught
    raise AssertionError("unreachable")


def asyncmy_error(name: str) -> BaseException:
    cls = type(name, (Exception,), {"__module__": "asyncmy.errors"})
    return cls(2013, "Lost connection to MySQL server during query")


def test_connection_failures_are_unavailable() -> None:
    assert is_unavailable(ConnectionRefusedError(111, "Connection refused"))
    assert is_unavailable(TimeoutError())
    assert is_unavailable(sqlite3.OperationalError("database is locked"))
    assert is_unavailable(asyncmy_error("OperationalError"))
    assert is_unavailable(asyncmy_error("InterfaceError"))
    # asyncmy's connect to a server that closes at once.
    assert is_unavailable(raised_in("asyncmy/connection.pyx", RuntimeError("Transport does not expose socket instance")))


def test_refusals_and_bugs_are_not() -> None:
    assert not is_unavailable(sqlite3.IntegrityError("UNIQUE constraint failed"))
    assert not is_unavailable(asyncmy_error("IntegrityError"))
    assert not is_unavailable(ValueError("user exists"))
    assert not is_unavailable(RuntimeError("a bug of ours"))
    assert not is_unavailable(raised_in("/app/aiproxy/admin/users.py", RuntimeError("a bug of ours")))
