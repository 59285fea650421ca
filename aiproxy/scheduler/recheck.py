"""Accounts in error come back by themselves once their upstream works again.

An account marked in error without an end (a 401/403: bad credentials, a
suspended subscription) stays out of rotation until an admin resets it, or
until this periodic check finds that one test request to it succeeds — the
admin fixed the key upstream, or the provider lifted a suspension.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

import anyio

from .pool import AccountPool
from .scheduler import Scheduler

log = logging.getLogger("aiproxy.recheck")

TestAccount = Callable[[int], Awaitable[dict[str, Any]]]


async def recheck_errored(scheduler: Scheduler, pool: AccountPool, test_account: TestAccount) -> list[int]:
    """Test every account in error (with no end time); reset those that answer. Returns the reset ids."""
    ids = [a.id for a in pool.accounts if a.account.enabled]
    statuses = await scheduler.status(ids)
    recovered: list[int] = []
    for account_id, status in statuses.items():
        if status.state != "error" or status.until is not None:
            continue  # cooldowns lapse by themselves
        result = await test_account(account_id)
        if result.get("ok"):
            await scheduler.reset(account_id)
            recovered.append(account_id)
            log.info("account %s answers again; its error mark is cleared", account_id)
    return recovered


async def recheck_forever(
    scheduler: Scheduler, pool: AccountPool, test_account: TestAccount, interval: float
) -> None:
    while True:
        await anyio.sleep(interval)
        try:
            await recheck_errored(scheduler, pool, test_account)
        except Exception:
            log.exception("rechecking accounts in error failed")
