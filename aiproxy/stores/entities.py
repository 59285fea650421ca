"""The records every store keeps: users, API keys, upstream accounts and usage.

Plain dataclasses so that the in-memory and SQL stores, the admin API and the
request path all speak about the same things in the same words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

PLATFORMS = ("claude", "openai", "gemini")
# The client programs a key's `allowed_clients` can name (middleware.permission tells them apart).
CLIENTS = ("claude-code", "codex-cli", "gemini-cli")
ROLES = ("admin", "user")

# An account's `type` is one of the account types declared in aiproxy/accounts
# (one module per type, listed in aiproxy/accounts/registry.py).


def utcnow() -> datetime:
    # Naive UTC everywhere: SQLite and MySQL DATETIME columns keep no zone, so
    # storing naive UTC keeps a value equal to itself after a round trip.
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


@dataclass
class User:
    username: str
    password_hash: str
    role: str = "user"
    enabled: bool = True
    must_change_password: bool = False
    # Stamped into every admin session token; bumping it (UserStore.bump_token_version:
    # a password change or reset, a disable, a role change, a logout) makes
    # every token issued before answer 401.
    token_version: int = 0
    id: int | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)


@dataclass
class ApiKey:
    """A user's key to the gateway. Only a hash of the key is ever stored."""

    user_id: int
    name: str
    key_hash: str
    key_prefix: str  # the first characters, so people can tell their keys apart
    enabled: bool = True
    expires_at: datetime | None = None
    # Expiry counted from the key's first use instead of a date: N days after
    # first_used_at, which the gateway stamps at the first request (None: unused).
    expires_after_days: int | None = None
    first_used_at: datetime | None = None
    platforms: list[str] = field(default_factory=list)  # empty: every platform
    models: list[str] = field(default_factory=list)  # empty: every model
    # The client programs the key may be used from (CLIENTS); empty: any.
    allowed_clients: list[str] = field(default_factory=list)
    # Binding to dedicated accounts: the key is served by this one account, or
    # by the accounts of this group (a group no account has serves nothing).
    account_id: int | None = None
    group: str | None = None
    # Whether a bound key may fall back to the shared pool (accounts with no
    # group) when its dedicated account or group cannot serve.
    shared_fallback: bool = False
    # Quotas (QuotaMiddleware); None: no limit. Tokens are input + output +
    # cache tokens per UTC day; costs are list-price USD per UTC day, per week
    # (from Monday 00:00 UTC) and over the key's whole life.
    rpm_limit: int | None = None
    max_concurrency: int | None = None
    daily_token_limit: int | None = None
    daily_cost_limit: float | None = None
    weekly_cost_limit: float | None = None
    total_cost_limit: float | None = None
    id: int | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    def expiry(self, first_use: datetime | None = None) -> datetime | None:
        """When the key stops working: its expires_at or, for a key that
        expires N days after its first use, that moment, whichever comes
        first. `first_use` stands in for first_used_at while the stamp of the
        first use is not stored yet."""
        ends = [self.expires_at] if self.expires_at is not None else []
        first = self.first_used_at or first_use
        if self.expires_after_days is not None and first is not None:
            ends.append(first + timedelta(days=self.expires_after_days))
        return min(ends) if ends else None


@dataclass
class Account:
    """An upstream account in the pool.

    `credentials` is the encrypted token as stored; only the account pool
    decrypts it, and the admin API never returns it.
    """

    name: str
    platform: str
    type: str
    credentials: str = ""
    base_url: str | None = None
    priority: int = 50
    enabled: bool = True
    models: list[str] = field(default_factory=list)  # empty: every model
    # Requested model -> the name this upstream knows it by. Its keys count as
    # models the account serves.
    model_mapping: dict[str, str] = field(default_factory=dict)
    # Non-secret settings of the account's type (region, api_version,
    # deployments, project id, …); secrets go in `credentials`.
    options: dict[str, Any] = field(default_factory=dict)
    # Outbound proxy for this account's upstream calls: http://, https:// or socks5:// URL.
    proxy: str | None = None
    # Share of the load within its priority tier, relative to the tier's other accounts (>= 1).
    weight: int = 1
    # Requests in flight at most on this account; None: unlimited.
    max_concurrency: int | None = None
    # False: kept and shown but never picked (parked for a while; unlike
    # `enabled`, meant to be switched back).
    schedulable: bool = True
    # A named group of accounts, for keys bound to it; None: the shared pool.
    group: str | None = None
    id: int | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)


@dataclass
class UsageRecord:
    """One proxied request: who, through which account, what it cost in tokens."""

    platform: str
    endpoint: str
    model: str = ""
    user_id: int | None = None
    key_id: int | None = None
    account_id: int | None = None
    stream: bool = False
    status: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    duration_ms: int = 0
    ttfb_ms: int | None = None
    error: str | None = None
    # The part of cache_creation_tokens written with the 1h TTL.
    cache_creation_1h_tokens: int = 0
    # List-price cost in USD, to the nano-dollar, computed once when the record
    # is made. priced False: the model was not in the price table, so the cost
    # is recorded as 0 (not known) and flagged.
    cost_usd: float = 0.0
    priced: bool = True
    # The wire formats (formats/wire.py names) the client spoke and the one sent
    # upstream: they differ where the request was translated for an account of
    # another format. "" where not known: records from before they were kept,
    # and requests refused before a route or an account was reached.
    client_format: str = ""
    upstream_format: str = ""
    id: int | None = None
    created_at: datetime = field(default_factory=utcnow)

    @property
    def bridged(self) -> bool:
        """Was the request translated between two formats? Not when either is unknown."""
        return bool(self.client_format and self.upstream_format) and self.client_format != self.upstream_format

