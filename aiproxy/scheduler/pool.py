"""The account pool: every account held in memory, decrypted, ready to be chosen.

Requests never read accounts from the store. The pool re-reads them when this
process changes one (the admin API calls `reload`) and every few seconds for
changes made by other instances.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Collection

import anyio

from ..backoff import describe
from ..security.cipher import CredentialCipher, CredentialsError
from ..stores.entities import Account
from ..stores.protocols import AccountStore

log = logging.getLogger("aiproxy.pool")


@dataclass
class PoolAccount:
    account: Account
    credentials: dict[str, Any]

    @property
    def id(self) -> int:
        assert self.account.id is not None
        return self.account.id

    def serves(self, model: str | None) -> bool:
        # No model named (a models list, a count without one): any account will
        # do, and the upstream says what it thinks of the request.
        a = self.account
        if model is None or (not a.models and not a.model_mapping):
            return True
        return model in a.models or model in a.model_mapping


class AccountPool:
    def __init__(
        self,
        store: AccountStore,
        cipher: CredentialCipher,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._cipher = cipher
        self._clock = clock
        self._accounts: list[PoolAccount] = []
        self._last_used: dict[int, float] = {}

    @property
    def accounts(self) -> list[PoolAccount]:
        return list(self._accounts)

    async def reload(self) -> None:
        loaded: list[PoolAccount] = []
        for account in await self._store.list():
            try:
                credentials = self._cipher.decrypt(account.credentials)
            except CredentialsError:
                # Leave it out rather than fail every request: the admin sees it
                # listed and can re-enter its credentials.
                log.error("account %s (%s): %s", account.id, account.name, "credentials cannot be decrypted")
                continue
            loaded.append(PoolAccount(account, credentials))
        self._accounts = loaded

    async def refresh_forever(self, interval: float) -> None:
        # The store may stay down for long: one line when re-reading starts
        # failing and one when it works again, not a traceback per interval.
        failing = False
        while True:
            await anyio.sleep(interval)
            try:
                await self.reload()
            except Exception as exc:
                if not failing:
                    failing = True
                    log.warning(
                        "re-reading accounts failed: %s; keeping the %d in memory", describe(exc), len(self._accounts)
                    )
                continue
            if failing:
                failing = False
                log.warning("re-reading accounts works again (%d accounts)", len(self._accounts))

    def candidates(self, platform: str, model: str | None, types: Collection[str]) -> list[PoolAccount]:
        """Accounts that can serve this request, best first.

        Lowest priority number first; within a priority, the least recently
        used first, so load spreads over the tier.
        """
        found = [
            a
            for a in self._accounts
            if a.account.enabled and a.account.platform == platform and a.account.type in types and a.serves(model)
        ]
        found.sort(key=lambda a: (a.account.priority, self._last_used.get(a.id, 0.0), a.id))
        return found

    def mark_used(self, account_id: int) -> None:
        self._last_used[account_id] = self._clock()
