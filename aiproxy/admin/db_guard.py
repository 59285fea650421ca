"""The admin API's database calls, bounded in time: a database that hangs or
is unreachable answers 503 `database_unavailable`, never a hang or a 500.

The admin app is handed its stores wrapped here (and the account pool's
reload, which reads the store), so every endpoint gets the same bound without
a line of its own. A call that runs past the timeout is not cancelled: it is
left to finish on its own (the driver's connection stays consistent), and the
request answers 503 at once. Errors that mean the database refused a
statement (a duplicate, a missing row) pass through unchanged.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, Awaitable, Callable, TypeVar, cast

from ..stores.protocols import AccountStore, KeyStore, LeaseStore, Stores, UsageStore, UserStore
from ..stores.sql_errors import is_unavailable
from .context import AdminContext
from .errors import ApiError

T = TypeVar("T")

ERROR_TYPE = "database_unavailable"
_RETRY_AFTER = {"retry-after": "5"}


def _retrieve(task: asyncio.Future[Any]) -> None:
    # Nobody awaits an abandoned call: mark its outcome seen.
    if not task.cancelled():
        task.exception()


class DatabaseGuard:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    async def call(self, awaitable: Awaitable[T]) -> T:
        task = asyncio.ensure_future(awaitable)
        task.add_done_callback(_retrieve)
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.timeout)
        except Exception as exc:
            if task.done():
                # The call itself ended in an error (a driver's own timeout
                # included): an outage, or the database refusing the statement.
                if is_unavailable(exc):
                    raise self.unavailable(f"the database is unavailable ({type(exc).__name__})") from exc
                raise
            # Still running: our timeout. It goes on by itself, unawaited.
            raise self.unavailable(f"the database did not answer within {self.timeout:g} s; try again shortly") from None

    @staticmethod
    def unavailable(message: str) -> ApiError:
        return ApiError(503, ERROR_TYPE, message, _RETRY_AFTER)

    def wrap(self, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        async def guarded(*args: Any, **kwargs: Any) -> T:
            return await self.call(fn(*args, **kwargs))

        return guarded


class _GuardedStore:
    """One store whose coroutine methods go through the guard. Looked up per
    call, so a method replaced on the store later is the one called."""

    def __init__(self, inner: Any, guard: DatabaseGuard) -> None:
        self._inner = inner
        self._guard = guard

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if inspect.iscoroutinefunction(attr):
            return self._guard.wrap(attr)
        return attr


class GuardedStores:
    """`Stores` whose every database call is bounded by the guard."""

    def __init__(self, stores: Stores, guard: DatabaseGuard) -> None:
        self._stores = stores
        self._users: Any = _GuardedStore(stores.users, guard)
        self._keys: Any = _GuardedStore(stores.keys, guard)
        self._accounts: Any = _GuardedStore(stores.accounts, guard)
        self._usage: Any = _GuardedStore(stores.usage, guard)
        self._leases: Any = _GuardedStore(stores.leases, guard)

    @property
    def users(self) -> UserStore:
        return self._users  # type: ignore[no-any-return]

    @property
    def keys(self) -> KeyStore:
        return self._keys  # type: ignore[no-any-return]

    @property
    def accounts(self) -> AccountStore:
        return self._accounts  # type: ignore[no-any-return]

    @property
    def usage(self) -> UsageStore:
        return self._usage  # type: ignore[no-any-return]

    @property
    def leases(self) -> LeaseStore:
        return self._leases  # type: ignore[no-any-return]

    async def open(self) -> None:
        await self._stores.open()

    async def close(self) -> None:
        await self._stores.close()


class _GuardedContext:
    """The admin context as the endpoints see it: the same, read through at
    each use (so a hook set later is the one used), but with guarded stores
    and a guarded pool reload."""

    def __init__(self, ctx: AdminContext, guard: DatabaseGuard) -> None:
        self._ctx = ctx
        self._guard = guard
        self._guarded: tuple[Stores, GuardedStores] | None = None

    @property
    def stores(self) -> Stores:
        stores = self._ctx.stores
        if self._guarded is None or self._guarded[0] is not stores:
            self._guarded = (stores, GuardedStores(stores, self._guard))
        return self._guarded[1]

    @property
    def accounts_changed(self) -> Callable[[], Awaitable[None]]:
        return self._guard.wrap(self._ctx.accounts_changed)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)


def guarded_context(ctx: AdminContext, timeout: float) -> AdminContext:
    """`ctx` with every database call of the admin API bounded by `timeout` seconds."""
    return cast(AdminContext, _GuardedContext(ctx, DatabaseGuard(timeout)))
