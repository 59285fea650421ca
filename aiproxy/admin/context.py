"""What the admin API is handed by the app factory: stores, secrets and change hooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from ..accounts.registry import ACCOUNT_TYPES, AccountTypes
from ..oauth.flows import OAuthFlows
from ..scheduler.status import AccountMonitor
from ..security.cipher import CredentialCipher
from ..security.login_throttle import LoginThrottle
from ..security.passwords import PasswordHashing
from ..security.tokens import TokenIssuer
from ..settings import UpstreamURLs
from ..stores.protocols import Stores


@dataclass
class AdminContext:
    stores: Stores
    cipher: CredentialCipher
    tokens: TokenIssuer
    # Called after a key is updated or deleted, with its hash, so the request
    # path's key cache drops it at once.
    keys_changed: Callable[[str], None]
    # Called after any account is created, updated or deleted, so the account
    # pool re-reads the accounts before the admin call answers.
    accounts_changed: Callable[[], Awaitable[None]]
    # Pending OAuth logins of subscription accounts; None: no OAuth endpoints.
    oauth: OAuthFlows | None = None
    # The scheduler's view of accounts' runtime health; None: accounts show
    # `"status": null` and /accounts/{id}/reset answers 501.
    monitor: AccountMonitor | None = None
    # Sends one minimal request through an account (aiproxy.account_test) and
    # answers {ok, status, latency_ms, message}; None: /accounts/{id}/test answers 501.
    test_account: Callable[[int], Awaitable[dict[str, Any]]] | None = None
    # Admin authentication: failed logins counted per username and
    # client address, and Argon2 work bounded to a few at a time.
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    passwords: PasswordHashing = field(default_factory=PasswordHashing)
    # The account types accounts may have (their validation, and what
    # GET /account-types shows), and the upstream URLs their default base URLs come from.
    account_types: AccountTypes = ACCOUNT_TYPES
    upstream: UpstreamURLs = field(default_factory=UpstreamURLs)
