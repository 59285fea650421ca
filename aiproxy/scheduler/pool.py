"""The account pool: every account held in memory, decrypted, ready to be chosen.

Requests never read accounts from the store. The pool re-reads them when this
process changes one (the admin API calls `reload`) and every few seconds for
changes made by other instances.

The pool only says which accounts could serve a request; in which order they
are tried is the scheduler's alone (scheduler.py), from the shared state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Collection, Iterable

import anyio

from ..backoff import describe
from ..security.cipher import CredentialCipher, CredentialsError
from ..stores.entities import Account
from ..stores.protocols import AccountStore
from . import model_match

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
        """On its own platform's routes: a listed model (exactly or by
        wildcard), or any model at all when the account lists none."""
        # No model named (a models list, a count without one): any account will
        # do, and the upstream says what it thinks of the request.
        a = self.account
        if model is None or (not a.models and not a.model_mapping):
            return True
        return model in a.models or model in a.model_mapping or model_match.listed(model, a.models, a.model_mapping)

    def serves_bridged(self, model: str | None) -> bool:
        """On another platform's routes (through a translator): a listed
        model, or, listing none, a model of its own platform's family."""
        a = self.account
        return model is not None and model_match.serves(model, a.platform, a.models, a.model_mapping)

    def bridged_models(self, declared: Iterable[str]) -> list[str]:
        """The names a model list shows for it on another platform's routes: the
        plain names of its lists, or, listing none, those of `declared` (its
        type's known models) it serves there by the rule above."""
        a = self.account
        names = model_match.plain_names(a.models, a.model_mapping) if a.models or a.model_mapping else declared
        return [name for name in names if self.serves_bridged(name)]


class AccountPool:
    def __init__(self, store: AccountStore, cipher: CredentialCipher) -> None:
        self._store = store
        self._cipher = cipher
        self._accounts: list[PoolAccount] = []
        # Counts the reloads: what is derived from the accounts (the relay's
        # bridged ids) is derived again when it changes.
        self.generation = 0

    @property
    def accounts(self) -> list[PoolAccount]:
        return list(self._accounts)

    def get(self, account_id: int) -> PoolAccount | None:
        """The account with this id, enabled or not (a scan: for messages off the usual path)."""
        return next((a for a in self._accounts if a.account.id == account_id), None)

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
        self.generation += 1

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

    def candidates(
        self, platform: str, model: str | None, types: Collection[str], bridged: Collection[int] = ()
    ) -> list[PoolAccount]:
        """The enabled accounts that serve `model`, in no particular order (the
        scheduler orders them): those of `platform` and `types`, and those
        whose id is in `bridged` (reached through a translator from the route's
        format: of another platform, or of this one in another format, such as
        an `openai-responses` account on the chat route). A bridged account of
        the route's platform serves by its platform's rule (`serves`), one of
        another platform by `serves_bridged`."""
        if not bridged:
            return [
                a
                for a in self._accounts
                if a.account.enabled and a.account.platform == platform and a.account.type in types
                and a.serves(model)
            ]
        found = []
        for a in self._accounts:
            account = a.account
            if not account.enabled:
                continue
            if account.id in bridged:
                if a.serves(model) if account.platform == platform else a.serves_bridged(model):
                    found.append(a)
            elif account.platform == platform and account.type in types and a.serves(model):
                found.append(a)
        return found
