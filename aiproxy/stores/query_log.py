"""Keeping the values of SQL statements out of the logs.

At DEBUG, `databases` logs every statement with its arguments ("Query: ...
Args: (...)") and aiosqlite logs every call it runs on its thread with the
call's arguments. Those arguments are password hashes, API key hashes and
encrypted upstream credentials. The filter below, installed on both loggers
when the SQL stores are imported, keeps the statements (useful when debugging)
and replaces the values.
"""

from __future__ import annotations

import functools
import logging

HIDDEN = "(values hidden)"
# The loggers whose records carry statement values (databases' backends and
# core log as "databases"; aiosqlite's worker thread as "aiosqlite").
LOGGERS = ("databases", "aiosqlite")


class HideStatementValues(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple) or not args:
            return True
        if record.name == "databases" and record.msg == "Query: %s Args: %s":
            record.args = (args[0], HIDDEN)
        elif record.name == "aiosqlite":
            # "executing %s" / "operation %s completed": the call is a
            # functools.partial holding the statement and its parameters.
            record.args = tuple(_call_name(a) if isinstance(a, functools.partial) else a for a in args)
        return True


def _call_name(call: functools.partial) -> str:  # type: ignore[type-arg]
    return f"{getattr(call.func, '__qualname__', 'call')}({HIDDEN})"


_filter = HideStatementValues()


def install() -> None:
    """Put the filter on the loggers (once; calling again changes nothing)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)
