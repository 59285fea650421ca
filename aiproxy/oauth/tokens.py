"""Valid access tokens for OAuth accounts, refreshed shortly before they expire.

At most one refresh runs per account at a time: in this process, concurrent
requests on an expiring token wait on the account's lock and reuse the one
refresh's result (a refresh token is often single-use; a second refresh with
it would fail and could revoke the grant).

Across processes (workers, instances) the same holds when the manager is
given a `shared` lock (oauth/shared_lock.py: a lease in the store they all
share): the refresh runs under it, and whoever waited reads the stored
credentials first, finding the tokens the holder saved.

The manager never touches a store: new credentials go through `save`, which
the app factory supplies (it encrypts, updates the account, reloads the pool).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping

import httpx

from ..stores.entities import Account
from .exchange import InvalidGrant, OAuthError, credentials_from_answer, token_request
from .providers import OAuthProvider
from .shared_lock import RefreshLockTimeout, StoreRefreshLock

log = logging.getLogger("aiproxy.oauth")

SaveCredentials = Callable[[int, dict[str, Any]], Awaitable[None]]

# After a refresh failed for a passing reason (provider down), requests keep
# using the still-valid token this long before the next attempt, rather than
# each one queueing behind a slow, failing refresh.
RETRY_AFTER_FAILURE = 30.0


class TokenError(Exception):
    """No usable access token. `status` is what the client should be answered."""

    status = 502

    def __init__(self, account: Account, reason: str) -> None:
        super().__init__(reason)
        self.account_id = account.id
        self.account_name = account.name
        self.reason = reason

    @property
    def message(self) -> str:
        return f"upstream account {self.account_name!r} (id {self.account_id}): {self.reason}"


class ReauthorizationRequired(TokenError):
    """The refresh token was refused (or there is none): an admin must log the account in again."""

    status = 401

    @property
    def message(self) -> str:
        return (
            f"upstream account {self.account_name!r} (id {self.account_id}) needs re-authorization "
            f"by an admin: {self.reason}"
        )


@dataclass
class _Replaced:
    # The access token a refresh replaced, and what replaced it: a caller still
    # holding the old credentials (the pool not yet reloaded, or it waited on
    # the lock) gets the new ones.
    old_access_token: str | None
    credentials: dict[str, Any]


class TokenManager:
    def __init__(
        self,
        providers: Mapping[str, OAuthProvider],
        client: httpx.AsyncClient,
        save: SaveCredentials,
        *,
        skew: float = 300.0,
        clock: Callable[[], float] = time.time,
        shared: StoreRefreshLock | None = None,
    ) -> None:
        self._providers = providers
        self._shared = shared
        self._client = client
        self._save = save
        self._skew = skew
        self._clock = clock
        self._locks: dict[int, asyncio.Lock] = {}
        self._replaced: dict[int, _Replaced] = {}
        self._refused: dict[int, tuple[str, str]] = {}  # account -> (refused refresh token, why)
        self._retry_at: dict[int, float] = {}  # account -> no refresh attempt before this time

    async def access_token(
        self, account: Account, credentials: dict[str, Any], *, rejected: str | None = None
    ) -> str:
        """A valid access token for `account`, refreshing it first if it expires within the skew.

        `rejected` is a token the upstream just refused (401) although it looked
        fresh: it is refreshed regardless, unless another caller already did.
        """
        assert account.id is not None
        current = self._latest(account.id, credentials)
        if self._fresh(current, rejected):
            return str(current["access_token"])
        # Shielded: refresh tokens are often single-use, so a refresh must run
        # to its end (and be saved) even if the request that started it is
        # cancelled by a client disconnect; otherwise the new tokens are lost.
        task = asyncio.ensure_future(self._refresh_once(account, credentials, rejected))
        task.add_done_callback(_retrieve_exception)
        return await asyncio.shield(task)

    def latest(self, account: Account, credentials: dict[str, Any]) -> dict[str, Any]:
        """`credentials`, or what a refresh in this process replaced them with
        (for facts that change with the tokens, like OpenAI's account id)."""
        assert account.id is not None
        return self._latest(account.id, credentials)

    async def _refresh_once(self, account: Account, credentials: dict[str, Any], rejected: str | None) -> str:
        assert account.id is not None
        lock = self._locks.setdefault(account.id, asyncio.Lock())
        async with lock:
            # Re-check under the lock: the caller before us may just have refreshed.
            current = self._latest(account.id, credentials)
            if self._fresh(current, rejected):
                return str(current["access_token"])
            if self._shared is None:
                return await self._refresh(account, current, rejected)
            try:
                async with self._shared.hold(account.id) as stored:
                    if stored and stored.get("access_token") != current.get("access_token") and self._fresh(
                        stored, rejected
                    ):
                        # Another process refreshed while we waited: use its tokens.
                        self._replaced[account.id] = _Replaced(current.get("access_token"), stored)
                        return str(stored["access_token"])
                    return await self._refresh(account, stored or current, rejected)
            except RefreshLockTimeout as exc:
                if self._unexpired(current, rejected):
                    return str(current["access_token"])
                raise TokenError(account, str(exc)) from exc

    def _latest(self, account_id: int, given: dict[str, Any]) -> dict[str, Any]:
        replaced = self._replaced.get(account_id)
        if replaced is None:
            return given
        if given.get("access_token") == replaced.old_access_token:
            return replaced.credentials
        # The caller has something newer than our refresh (the pool reloaded
        # it, or an admin re-authorized): that wins.
        if given.get("access_token") != replaced.credentials.get("access_token"):
            del self._replaced[account_id]
        return given

    def _fresh(self, credentials: dict[str, Any], rejected: str | None = None) -> bool:
        if not credentials.get("access_token") or credentials["access_token"] == rejected:
            return False
        expires_at = credentials.get("expires_at")
        if not isinstance(expires_at, (int, float)):
            return True  # pasted without an expiry: used as it is until the upstream refuses it
        return expires_at - self._skew > self._clock()

    def _unexpired(self, credentials: dict[str, Any], rejected: str | None) -> bool:
        # Good enough to serve when a refresh cannot be done right now.
        expires_at = credentials.get("expires_at")
        token = credentials.get("access_token")
        return bool(token) and token != rejected and (
            not isinstance(expires_at, (int, float)) or expires_at > self._clock()
        )

    async def _refresh(self, account: Account, current: dict[str, Any], rejected: str | None) -> str:
        assert account.id is not None
        provider = self._providers.get(account.type)
        refresh_token = current.get("refresh_token")
        if provider is None or not refresh_token:
            if self._unexpired(current, rejected):
                return str(current["access_token"])  # inside the skew, but still good
            why = "was refused by the upstream" if current.get("access_token") == rejected else "has expired"
            raise ReauthorizationRequired(account, f"the access token {why} and there is no refresh token")
        refused = self._refused.get(account.id)
        if refused is not None and refused[0] == refresh_token:
            # Asking again with a refused token would only hammer the provider.
            raise ReauthorizationRequired(account, refused[1])
        if self._clock() < self._retry_at.get(account.id, 0.0) and self._unexpired(current, rejected):
            return str(current["access_token"])
        try:
            answer = await token_request(
                self._client, provider, {"grant_type": "refresh_token", "refresh_token": str(refresh_token)}
            )
        except InvalidGrant as exc:
            why = f"the refresh token was refused ({exc})"
            self._refused[account.id] = (str(refresh_token), why)
            raise ReauthorizationRequired(account, why) from exc
        except OAuthError as exc:
            self._retry_at[account.id] = self._clock() + RETRY_AFTER_FAILURE
            # A passing failure: a token that has not quite expired still serves.
            if self._unexpired(current, rejected):
                log.warning("account %s: token refresh failed, using the current token: %s", account.id, exc)
                return str(current["access_token"])
            raise TokenError(account, f"refreshing the access token failed: {exc}") from exc
        self._retry_at.pop(account.id, None)
        fresh = credentials_from_answer(answer, self._clock(), previous=current, provider=provider)
        self._replaced[account.id] = _Replaced(current.get("access_token"), fresh)
        try:
            await self._save(account.id, fresh)
        except Exception:
            # The new tokens still serve from memory; a rotated refresh token
            # that was not stored is lost at restart, hence the loud log.
            log.exception("account %s: saving refreshed credentials failed", account.id)
        log.info("account %s: access token refreshed", account.id)
        return str(fresh["access_token"])


def _retrieve_exception(task: asyncio.Task[str]) -> None:
    # A refresh whose caller went away may still fail; its error was for that
    # caller, so it is read here to keep asyncio from logging it as lost.
    if not task.cancelled():
        task.exception()
