"""One token refresh per account across every worker and instance sharing the store.

A refresh token is often single-use: if two processes refresh the same account
at once, one of them is refused, and some providers then revoke the grant. So
before refreshing, a process takes the account's lease in the store (which all
workers and instances share); whoever waited for it then reads the stored
credentials, and finds the tokens the holder just saved instead of refreshing
again.
"""

from __future__ import annotations

import time
import uuid
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable

import anyio

from ..stores.protocols import LeaseStore

ReadCredentials = Callable[[int], Awaitable["dict[str, Any] | None"]]


class RefreshLockTimeout(Exception):
    pass


class StoreRefreshLock:
    def __init__(
        self,
        leases: LeaseStore,
        read_credentials: ReadCredentials,
        *,
        hold_seconds: float = 60.0,
        wait_seconds: float = 30.0,
        poll_seconds: float = 0.2,
    ) -> None:
        self._leases = leases
        self._read = read_credentials
        # Unique per process (and per app in it): the lease is ours or not.
        self._owner = f"{uuid.uuid4().hex}"
        self._hold = hold_seconds  # outlives a crashed holder by at most this
        self._wait = wait_seconds
        self._poll = poll_seconds

    @asynccontextmanager
    async def hold(self, account_id: int) -> AsyncIterator[dict[str, Any] | None]:
        """Hold the account's refresh lease; yields its credentials as stored now."""
        name = f"oauth-refresh:{account_id}"
        deadline = time.monotonic() + self._wait
        while not await self._leases.acquire(name, self._owner, self._hold):
            if time.monotonic() > deadline:
                raise RefreshLockTimeout(f"another process has been refreshing account {account_id} for too long")
            await anyio.sleep(self._poll)
        try:
            yield await self._read(account_id)
        finally:
            with anyio.CancelScope(shield=True):
                await self._leases.release(name, self._owner)
