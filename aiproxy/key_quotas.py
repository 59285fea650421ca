"""A key's quotas as facts: which limits a key has, the names of their counters
in the SharedState, the periods they run over, and what a key has used of them.

QuotaMiddleware checks and counts against these counters; GET /api/usage
(`routes/key_usage.py`) shows them to the key's holder. Both read them from
here, so the two cannot disagree on a counter's name or a period's start.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from .state import SharedState
from .stores.entities import ApiKey

MINUTE = 60
DAY = 86_400

# A key's limits, by field name (all optional; None: no limit).
LIMITS = ("rpm_limit", "max_concurrency", "daily_token_limit", "daily_cost_limit", "weekly_cost_limit", "total_cost_limit")
# Which `used` figure each limit is measured against.
USED_BY_LIMIT = {
    "rpm_limit": "requests_this_minute",
    "max_concurrency": "concurrency",
    "daily_token_limit": "tokens_today",
    "daily_cost_limit": "cost_today",
    "weekly_cost_limit": "cost_this_week",
    "total_cost_limit": "cost_total",
}


def slot_key(key_id: int) -> str:
    return f"key:{key_id}"


def rpm_counter(key_id: int) -> str:
    return f"rpm:{key_id}"


def tokens_counter(key_id: int) -> str:
    return f"tokens:{key_id}"


def cost_day_counter(key_id: int, day: str) -> str:
    return f"cost:day:{key_id}:{day}"


def cost_week_counter(key_id: int, week: str) -> str:
    return f"cost:week:{key_id}:{week}"


def cost_total_counter(key_id: int) -> str:
    return f"cost:total:{key_id}"


def periods(now: float) -> tuple[str, str]:
    """The UTC day and the week (its Monday) running at epoch second `now`, as dates."""
    today = datetime.fromtimestamp(now, timezone.utc).date()
    return today.isoformat(), (today - timedelta(days=today.weekday())).isoformat()


def has_quota(key: ApiKey) -> bool:
    """Does the key have any of the LIMITS (failure mode `closed` refuses these)?

    Spelled out rather than looped over LIMITS: it runs per request.
    """
    return (
        key.max_concurrency is not None
        or key.rpm_limit is not None
        or key.daily_token_limit is not None
        or key.daily_cost_limit is not None
        or key.weekly_cost_limit is not None
        or key.total_cost_limit is not None
    )


def limits(key: ApiKey) -> dict[str, Any]:
    return {name: getattr(key, name) for name in LIMITS}


async def used(state: SharedState, key: ApiKey, key_id: int, now: float) -> dict[str, Any]:
    """What the key has used of its quotas at epoch second `now`, by figure name (USED_BY_LIMIT's values)."""
    day, week = periods(now)
    figures: dict[str, Any] = {}
    # The minute's window is counted only for keys with an rpm limit.
    if key.rpm_limit is not None:
        figures["requests_this_minute"] = await state.get_window(rpm_counter(key_id), MINUTE)
    figures["tokens_today"] = await state.get_window(tokens_counter(key_id), DAY)
    figures["cost_today"] = await state.get_float(cost_day_counter(key_id, day))
    figures["cost_this_week"] = await state.get_float(cost_week_counter(key_id, week))
    figures["cost_total"] = await state.get_float(cost_total_counter(key_id))
    figures["concurrency"] = await state.held(slot_key(key_id))
    return figures


def remaining(limits: dict[str, Any], used: dict[str, Any]) -> dict[str, Any]:
    """What is left of each limit that is set and measured (never below 0)."""
    return {
        name: max(0, limit - used[USED_BY_LIMIT[name]])
        for name, limit in limits.items()
        if limit is not None and USED_BY_LIMIT[name] in used
    }
