"""Moments as the stores keep them (naive UTC) and as the APIs answer them (ISO 8601 with a Z).

Below the admin API and the routes alike (GET /api/usage shows a key's dates
the way the admin API does), so neither imports the other for it.
"""

from __future__ import annotations

from datetime import datetime, timezone


def to_naive_utc(moment: datetime) -> datetime:
    # The stores keep naive UTC (see entities.utcnow); a naive input is taken as UTC.
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def iso(moment: datetime | None) -> str | None:
    """Naive-UTC (as stored) or aware datetime -> ISO 8601 with a trailing Z."""
    if moment is None:
        return None
    return to_naive_utc(moment).isoformat() + "Z"
