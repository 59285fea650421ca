"""GET /api/usage: a key's own status, asked with the key itself.

The key's permissions and limits, what it has used of them now (the quota
counters in the SharedState, the same ones QuotaMiddleware keeps: both take
their names and periods from `key_quotas`), what is left, and its usage of
the last 30 days per UTC day from the usage store.
Not a proxied request, so it is the one read on the request path that goes
to the store. Never the key's hash.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import key_quotas
from ..context import api_key
from ..errors import error_response
from ..formats.dialect import OPENAI
from ..state import SharedState
from ..stores.entities import utcnow
from ..stores.protocols import Stores, UsageFilter
from ..timestamps import iso

HISTORY_DAYS = 30


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
        key = api_key(request.scope)
        limits = key_quotas.limits(key)
        used: dict[str, Any] = {}
        usage: list[dict[str, Any]] = []
        if key.id is not None:
            used = await key_quotas.used(self.state, key, key.id, self.clock())
            usage = await self._history(key.id)
        remaining = key_quotas.remaining(limits, used)
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
