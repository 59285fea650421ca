"""Quota: is this key still within its limits?

Checked before the request, in this order: expiry (403), then the key's
quotas, each a 429 in the caller's dialect when exceeded:

- concurrency: a slot `key:<id>` held until the response ends (or the client
  goes away, or the app raises);
- requests per minute: a fixed window on the UTC minute; the N+1th request of
  the minute is refused with `retry-after` = seconds to the window's end;
- tokens per UTC day and cost per UTC day, per week (from Monday 00:00 UTC)
  and in total: refused once what was already spent reaches the limit. A
  request is never cut short: the one that crosses a budget completes, and
  the next is refused.

After the request, its record's tokens and cost (the usage middleware, just
inside this one, leaves the finished record on the request's context) are
added to the counters (named in `key_quotas`, which GET /api/usage reads too). Counters live in the SharedState, so with Redis they hold
across every worker and instance; they are counted for every key, so a limit
set later already sees the day's (week's, …) spending.

While Redis does not answer, the state serves from this process's memory
(limits then hold per process). With failure mode `closed` the app factory
hands in a `quota_state` that refuses instead (StateUnavailable): the checks
of a quota-limited key then answer 503 in the caller's dialect, with
`retry-after`; keys without quotas are served either way.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import datetime, timedelta, timezone
from typing import Callable

import anyio
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..context import api_key, context
from ..errors import error_response
from ..formats.dialect import Dialect
from ..key_quotas import (
    DAY,
    MINUTE,
    cost_day_counter,
    cost_total_counter,
    cost_week_counter,
    has_quota,
    periods,
    rpm_counter,
    slot_key,
    tokens_counter,
)
from ..state import SharedState, StateUnavailable
from ..stores.entities import ApiKey, UsageRecord, utcnow

log = logging.getLogger(__name__)

# Float counters lapse this long after their first add: a day's and a week's
# outlive their period (their names carry its date, so a new period starts a
# new counter); the total's in effect never.
_DAY_TTL = 2 * DAY
_WEEK_TTL = 8 * DAY
_TOTAL_TTL = 100 * 365 * DAY


def _tokens(record: UsageRecord) -> int:
    return record.input_tokens + record.output_tokens + record.cache_creation_tokens + record.cache_read_tokens


class QuotaMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        dialect: Dialect,
        state: SharedState,
        quota_state: SharedState | None = None,
        slot_lease: float = 3600.0,
        now: Callable[[], datetime] = utcnow,
        clock: Callable[[], float] = time.time,
        first_use: Callable[[ApiKey], datetime | None] | None = None,
    ) -> None:
        self.app = app
        self.dialect = dialect
        self.state = state
        # Where a quota-limited key's limits are checked: `state` itself, or
        # (failure mode `closed`) a view of it that refuses while Redis is away.
        self.quota_state = quota_state if quota_state is not None else state
        self.slot_lease = slot_lease  # a concurrency slot comes back by itself after this, should its holder die
        self.now = now  # naive UTC datetime, for expiry
        self.clock = clock  # epoch seconds, for the quota periods
        # Stamps (and tells) the first use of keys that expire N days after it;
        # without it only a first use already stored counts (KeyFirstUse).
        self.first_use = first_use

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = api_key(scope)
        expiry = key.expiry(self.first_use(key) if self.first_use is not None else None)
        if expiry is not None and expiry <= self.now():
            message = f"API key expired at {expiry.isoformat()}Z"
            if expiry != key.expires_at:
                message += f" ({key.expires_after_days} days after its first use)"
            await error_response(self.dialect, 403, message)(scope, receive, send)
            return
        if key.id is None:  # not a stored key: nothing to count against
            await self.app(scope, receive, send)
            return
        key_id = key.id

        limited = has_quota(key)
        state = self.quota_state if limited else self.state
        slot: str | None = None
        try:
            if key.max_concurrency is not None:
                try:
                    slot = await state.acquire(slot_key(key_id), key.max_concurrency, self.slot_lease)
                except StateUnavailable as exc:
                    await self._unavailable(exc)(scope, receive, send)
                    return
                if slot is None:
                    message = f"too many concurrent requests: this key allows {key.max_concurrency} at once"
                    await error_response(self.dialect, 429, message)(scope, receive, send)
                    return
            try:
                # A key without limits has nothing to be refused for: no counter reads.
                refusal = await self._refusal(state, key, key_id) if limited else None
            except StateUnavailable as exc:
                await self._unavailable(exc)(scope, receive, send)
                return
            if refusal is not None:
                message, headers = refusal
                await error_response(self.dialect, 429, message, headers)(scope, receive, send)
                return
            try:
                await self.app(scope, receive, send)
            finally:
                # Counted even when the client went away (a cancelled task):
                # what the upstream was paid for counts.
                with anyio.CancelScope(shield=True):
                    await self._count(key_id, context(scope).record)
        finally:
            if slot is not None:
                with anyio.CancelScope(shield=True):
                    await self.state.release(slot_key(key_id), slot)

    def _unavailable(self, exc: StateUnavailable) -> Response:
        headers = {"retry-after": str(max(1, math.ceil(exc.retry_after)))}
        message = "this key's quotas cannot be checked now (the gateway's shared state is unreachable); try again shortly"
        return error_response(self.dialect, 503, message, headers)

    async def _refusal(self, state: SharedState, key: ApiKey, key_id: int) -> tuple[str, dict[str, str]] | None:
        """Why the key may not make this request now (message, headers), or None."""
        if key.rpm_limit is not None:
            count = await state.incr_window(rpm_counter(key_id), MINUTE)
            if count > key.rpm_limit:
                retry = max(1, math.ceil(MINUTE - self.clock() % MINUTE))
                message = f"rate limit exceeded: this key allows {key.rpm_limit} requests per minute"
                return message, {"retry-after": str(retry)}
        if key.daily_token_limit is not None:
            used = await state.get_window(tokens_counter(key_id), DAY)
            if used >= key.daily_token_limit:
                return self._budget("daily token", f"{key.daily_token_limit} tokens", "at 00:00 UTC", DAY)
        day, week = self._periods()
        budgets = (
            (key.daily_cost_limit, cost_day_counter(key_id, day), "daily cost", "at 00:00 UTC", DAY),
            (key.weekly_cost_limit, cost_week_counter(key_id, week), "weekly cost", "on Monday 00:00 UTC", None),
            (key.total_cost_limit, cost_total_counter(key_id), "total cost", "never", None),
        )
        for limit, counter, name, resets, period in budgets:
            if limit is not None and await state.get_float(counter) >= limit:
                return self._budget(name, f"${limit:g}", resets, period)
        return None

    def _budget(self, name: str, limit: str, resets: str, period: int | None) -> tuple[str, dict[str, str]]:
        if resets == "never":
            return f"{name} budget of this key ({limit}) is spent; it does not reset", {}
        headers: dict[str, str] = {}
        now = self.clock()
        if period == DAY:
            headers["retry-after"] = str(max(1, math.ceil(DAY - now % DAY)))
        else:  # the week: to next Monday 00:00 UTC
            today = datetime.fromtimestamp(now, timezone.utc)
            monday = (today - timedelta(days=today.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
            headers["retry-after"] = str(max(1, math.ceil((monday + timedelta(days=7)).timestamp() - now)))
        return f"{name} budget of this key ({limit}) is spent; it resets {resets}", headers

    def _periods(self) -> tuple[str, str]:
        """The UTC day and the week (its Monday) now running, as dates."""
        return periods(self.clock())

    async def _count(self, key_id: int, record: UsageRecord | None) -> None:
        if record is None:
            return
        try:
            tokens = _tokens(record)
            if tokens > 0:
                await self.state.incr_window(tokens_counter(key_id), DAY, tokens)
            if record.cost_usd > 0:
                day, week = self._periods()
                await self.state.incr_float(cost_day_counter(key_id, day), record.cost_usd, _DAY_TTL)
                await self.state.incr_float(cost_week_counter(key_id, week), record.cost_usd, _WEEK_TTL)
                await self.state.incr_float(cost_total_counter(key_id), record.cost_usd, _TOTAL_TTL)
        except Exception:  # the answer is out: a counter that failed must not turn it into an error
            log.exception("could not count the usage of key %s against its quotas", key_id)
