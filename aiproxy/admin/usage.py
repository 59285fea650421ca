"""Usage reports: totals per group, time series, and the individual records, paged.

Admins see everyone's usage and may filter by user; a normal user's query is
always pinned to their own user id, whatever else they filter on.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from ..stores.entities import PLATFORMS, User
from ..stores.protocols import USAGE_GROUPS, USAGE_INTERVALS, UsageFilter, usage_bucket
from ..timestamps import iso
from .auth import current_user, is_admin
from .context import AdminContext
from .errors import ApiError
from .serialize import usage_record_json, usage_total_json
from .validation import as_choice, invalid, query_bool, query_int, query_moment

DEFAULT_GROUP = "model"
DEFAULT_WINDOW = timedelta(days=7)
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# A series' default window: the bucket holding "now" and the ones before it.
SERIES_DEFAULT_BUCKETS = {"day": 7, "hour": 24}
SERIES_STEP = {"day": timedelta(days=1), "hour": timedelta(hours=1)}
# Enough for three years of days or six weeks of hours; a chart of more is
# unreadable and its answer needlessly large.
MAX_BUCKETS = 1100
SERIES_GROUPS = tuple(g for g in USAGE_GROUPS if g != "day")


def bucket_start(moment: datetime, interval: str) -> datetime:
    if interval == "day":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(minute=0, second=0, microsecond=0)


def window_buckets(start: datetime, end: datetime, interval: str) -> list[str]:
    """Every bucket that overlaps [start, end), oldest first."""
    step = SERIES_STEP[interval]
    buckets: list[str] = []
    moment = bucket_start(start, interval)
    while moment < end:
        if len(buckets) >= MAX_BUCKETS:
            raise invalid("start", f"the window holds more than {MAX_BUCKETS} {interval}s; narrow it or use a longer interval")
        buckets.append(usage_bucket(moment, interval))
        moment += step
    return buckets


def _filter(
    request: Request, caller: User, *, default_window: bool, series_interval: str | None = None
) -> UsageFilter:
    """The UsageFilter the query parameters describe, pinned to the caller
    unless they are an admin. With default_window, a missing end is now and a
    missing start is DEFAULT_WINDOW before the end (for a series: the start of
    the bucket SERIES_DEFAULT_BUCKETS - 1 buckets before the end's)."""
    params = request.query_params
    start = query_moment(request, "start")
    end = query_moment(request, "end", end_of_day=True)
    if default_window:
        # Not truncated to the second: records stamped in this very second
        # (created_at has no microseconds) are before it and count.
        end = end or datetime.now(timezone.utc).replace(tzinfo=None)
        if start is None and series_interval is not None:
            last = bucket_start(end - timedelta(microseconds=1), series_interval)
            start = last - SERIES_STEP[series_interval] * (SERIES_DEFAULT_BUCKETS[series_interval] - 1)
        start = start or end - DEFAULT_WINDOW
    if start is not None and end is not None and start > end:
        raise invalid("start", "must not be after end")

    user_id = query_int(request, "user_id", minimum=1)
    if not is_admin(caller):
        if user_id is not None and user_id != caller.id:
            raise ApiError(403, "forbidden", "user_id: only admins may see other users' usage")
        user_id = caller.id

    platform = params.get("platform") or None
    if platform is not None:
        as_choice(platform, "platform", PLATFORMS)
    return UsageFilter(
        start=start,
        end=end,
        user_id=user_id,
        key_id=query_int(request, "key_id", minimum=1),
        account_id=query_int(request, "account_id", minimum=1),
        model=params.get("model") or None,
        platform=platform,
        status=query_int(request, "status"),
        bridged=query_bool(request, "bridged"),
    )


class UsageEndpoints:
    def __init__(self, ctx: AdminContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/usage", self.totals, methods=["GET"]),
            Route("/usage/series", self.series, methods=["GET"]),
            Route("/usage/records", self.records, methods=["GET"]),
        ]

    async def totals(self, request: Request) -> JSONResponse:
        caller = await current_user(request, self.ctx)
        group_by = as_choice(request.query_params.get("group_by") or DEFAULT_GROUP, "group_by", USAGE_GROUPS)
        where = _filter(request, caller, default_window=True)
        totals = await self.ctx.stores.usage.totals(where, group_by)
        return JSONResponse(
            {
                "group_by": group_by,
                "start": iso(where.start),
                "end": iso(where.end),
                "totals": [usage_total_json(t) for t in totals],
            }
        )

    async def series(self, request: Request) -> JSONResponse:
        caller = await current_user(request, self.ctx)
        params = request.query_params
        interval = as_choice(params.get("interval") or "day", "interval", USAGE_INTERVALS)
        group_by = params.get("group_by") or None
        if group_by is not None:
            as_choice(group_by, "group_by", SERIES_GROUPS)
        where = _filter(request, caller, default_window=True, series_interval=interval)
        assert where.start is not None and where.end is not None
        buckets = window_buckets(where.start, where.end, interval)
        rows = await self.ctx.stores.usage.totals(where, group_by, interval=interval)
        return JSONResponse(
            {
                "interval": interval,
                "group_by": group_by,
                "start": iso(where.start),
                "end": iso(where.end),
                "buckets": buckets,
                "rows": [{"bucket": t.bucket, **usage_total_json(t)} for t in rows],
            }
        )

    async def records(self, request: Request) -> JSONResponse:
        caller = await current_user(request, self.ctx)
        offset = query_int(request, "offset", minimum=0) or 0
        limit = query_int(request, "limit", minimum=1, maximum=MAX_LIMIT) or DEFAULT_LIMIT
        # Records come newest first, so paging needs no default time window.
        where = _filter(request, caller, default_window=False)
        records, total = await self.ctx.stores.usage.query(where, offset=offset, limit=limit)
        return JSONResponse(
            {
                "total": total,
                "offset": offset,
                "limit": limit,
                "records": [usage_record_json(r) for r in records],
            }
        )
