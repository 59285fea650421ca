"""GET /api/usage: a key's own status, asked with the key itself.

The key's permissions and limits, what it has used of them now (the quota
counters in the SharedState, the same ones QuotaMiddleware keeps), what is
left, and its usage of the last 30 days per UTC day from the usage store.
Not a proxied request, so it is the one read on the request path that goes
to the store. Never the key's hash.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..admin.serialize import iso
from ..inbound import API_KEY_STATE
from ..middleware.quota import (
    DAY,
    MINUTE,
    cost_day_counter,
    cost_total_counter,
    cost_week_counter,
    periods,
    rpm_counter,
    slot_key,
    tokens_counter,
)
from ..state import SharedState
from ..stores.entities import ApiKey, utcnow
from ..errors import error_response
from ..formats.dialect import OPENAI
from ..stores.protocols import Stores, UsageFilter

HISTORY_DAYS = 30
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


class KeyUsageEndpoint:
    def __init__(
        self,
        state: SharedState,
        stores: Stores,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.stores = stores  # its usage store is read per request: stores open at startup
        self.clock = clock

    async def __call__(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return error_response(OPENAI, 405, f"method {request.method} not allowed: use GET")
        key: ApiKey = request.scope["state"][API_KEY_STATE]
        limits = {name: getattr(key, name) for name in LIMITS}
        used: dict[str, Any] = {}
        usage: list[dict[str, Any]] = []
        if key.id is not None:
            used = await self._used(key, key.id)
            usage = await self._history(key.id)
        remaining = {
            name: max(0, limit - used[USED_BY_LIMIT[name]])
            for name, limit in limits.items()
            if limit is not None and USED_BY_LIMIT[name] in used
        }
        return JSONResponse(
            {
                "key": {
                    "id": key.id,
                    "name": key.name,
                    "key_prefix": key.key_prefix,
                    "enabled": key.enabled,
                    "expires_at": iso(key.expires_at),
                    "expires_after_days": key.expires_after_days,
                    "first_used_at": iso(key.first_used_at),
                    # When the key stops working, either way (null: never, or
                    # a first-use clock that has not started).
                    "expires": iso(key.expiry()),
                    "platforms": list(key.platforms),
                    "models": list(key.models),
                },
                "limits": limits,
                "used": used,
                "remaining": remaining,
                "usage": usage,
            }
        )

    async def _used(self, key: ApiKey, key_id: int) -> dict[str, Any]:
        day, week = periods(self.clock())
        used: dict[str, Any] = {}
        # The minute's window is counted only for keys with an rpm limit.
        if key.rpm_limit is not None:
            used["requests_this_minute"] = await self.state.get_window(rpm_counter(key_id), MINUTE)
        used["tokens_today"] = await self.state.get_window(tokens_counter(key_id), DAY)
        used["cost_today"] = await self.state.get_float(cost_day_counter(key_id, day))
        used["cost_this_week"] = await self.state.get_float(cost_week_counter(key_id, week))
        used["cost_total"] = await self.state.get_float(cost_total_counter(key_id))
        used["concurrency"] = await self.state.held(slot_key(key_id))
        return used

    async def _history(self, key_id: int) -> list[dict[str, Any]]:
        today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
        where = UsageFilter(start=today - timedelta(days=HISTORY_DAYS - 1), key_id=key_id)
        totals = await self.stores.usage.totals(where, "day")
        days = [
            {
                "day": total.group,
                "requests": total.requests,
                "tokens": total.input_tokens + total.output_tokens + total.cache_creation_tokens + total.cache_read_tokens,
                "input_tokens": total.input_tokens,
                "output_tokens": total.output_tokens,
                "cache_creation_tokens": total.cache_creation_tokens,
                "cache_read_tokens": total.cache_read_tokens,
                "cost_usd": total.cost_usd,
            }
            for total in totals
        ]
        return sorted(days, key=lambda d: str(d["day"]))
