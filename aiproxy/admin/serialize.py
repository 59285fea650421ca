"""Entities as the JSON the admin API answers with.

Each function lists its fields explicitly rather than dumping the dataclass:
a field added to an entity later (a secret, say) must not leak by default.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..scheduler.status import AccountStatus
from ..stores.entities import Account, ApiKey, UsageRecord, User
from ..stores.protocols import UsageTotal
from ..timestamps import iso


def user_json(user: User) -> dict[str, Any]:
    # Never password_hash.
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "enabled": user.enabled,
        "must_change_password": user.must_change_password,
        "created_at": iso(user.created_at),
        "updated_at": iso(user.updated_at),
    }


def user_brief_json(user: User) -> dict[str, Any]:
    """The user as the login answer shows it."""
    return {"id": user.id, "username": user.username, "role": user.role}


def key_json(key: ApiKey) -> dict[str, Any]:
    # Never key_hash: it is what the request path looks keys up by.
    return {
        "id": key.id,
        "user_id": key.user_id,
        "name": key.name,
        "key_prefix": key.key_prefix,
        "enabled": key.enabled,
        "expires_at": iso(key.expires_at),
        "expires_after_days": key.expires_after_days,
        "first_used_at": iso(key.first_used_at),
        "platforms": list(key.platforms),
        "models": list(key.models),
        "allowed_clients": list(key.allowed_clients),
        "account_id": key.account_id,
        "group": key.group,
        "shared_fallback": key.shared_fallback,
        "rpm_limit": key.rpm_limit,
        "max_concurrency": key.max_concurrency,
        "daily_token_limit": key.daily_token_limit,
        "daily_cost_limit": key.daily_cost_limit,
        "weekly_cost_limit": key.weekly_cost_limit,
        "total_cost_limit": key.total_cost_limit,
        "created_at": iso(key.created_at),
        "updated_at": iso(key.updated_at),
    }


def account_json(account: Account) -> dict[str, Any]:
    # Never credentials, not even encrypted: only whether there are any.
    return {
        "id": account.id,
        "name": account.name,
        "platform": account.platform,
        "type": account.type,
        "base_url": account.base_url,
        "priority": account.priority,
        "enabled": account.enabled,
        "models": list(account.models),
        "model_mapping": dict(account.model_mapping),
        "options": dict(account.options),
        "proxy": masked_proxy(account.proxy),
        "weight": account.weight,
        "max_concurrency": account.max_concurrency,
        "schedulable": account.schedulable,
        "group": account.group,
        "has_credentials": bool(account.credentials),
        "created_at": iso(account.created_at),
        "updated_at": iso(account.updated_at),
    }


def epoch_iso(seconds: float | None, *, round_up: bool = False) -> str | None:
    """Epoch seconds -> ISO 8601 UTC with a trailing Z, to the whole second
    (rounded down, or up for a moment something lasts until)."""
    if seconds is None:
        return None
    whole = math.ceil(seconds) if round_up else math.floor(seconds)
    return iso(datetime.fromtimestamp(whole, tz=timezone.utc))


def account_status_json(status: AccountStatus) -> dict[str, Any]:
    return {
        "state": status.state,
        "reason": status.reason,
        "until": epoch_iso(status.until, round_up=True),
        "last_error": status.last_error,
        "last_error_at": epoch_iso(status.last_error_at),
        "last_used": epoch_iso(status.last_used),
        "concurrency": status.concurrency,
    }


def usage_today_json(total: UsageTotal | None) -> dict[str, int]:
    """An account's usage since midnight UTC, without the group."""
    total = total or UsageTotal(group=None)
    return {
        "requests": total.requests,
        "input_tokens": total.input_tokens,
        "output_tokens": total.output_tokens,
        "cache_creation_tokens": total.cache_creation_tokens,
        "cache_read_tokens": total.cache_read_tokens,
    }


def usage_record_json(record: UsageRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "created_at": iso(record.created_at),
        "platform": record.platform,
        "endpoint": record.endpoint,
        "model": record.model,
        "user_id": record.user_id,
        "key_id": record.key_id,
        "account_id": record.account_id,
        "stream": record.stream,
        "status": record.status,
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "cache_creation_tokens": record.cache_creation_tokens,
        "cache_read_tokens": record.cache_read_tokens,
        "cache_creation_1h_tokens": record.cache_creation_1h_tokens,
        "cost_usd": record.cost_usd,
        "priced": record.priced,
        "duration_ms": record.duration_ms,
        "ttfb_ms": record.ttfb_ms,
        "error": record.error,
        "client_format": record.client_format,
        "upstream_format": record.upstream_format,
        "bridged": record.bridged,
    }


def usage_total_json(total: UsageTotal) -> dict[str, Any]:
    return {
        "group": total.group,
        "requests": total.requests,
        "input_tokens": total.input_tokens,
        "output_tokens": total.output_tokens,
        "cache_creation_tokens": total.cache_creation_tokens,
        "cache_read_tokens": total.cache_read_tokens,
        "cost_usd": total.cost_usd,
        "unpriced": total.unpriced,
        "errors": total.errors,
    }


def masked_proxy(proxy: str | None) -> str | None:
    """The proxy URL with any password replaced by `***`: a proxy password is
    an upstream credential, and credentials are never returned."""
    if not proxy:
        return proxy
    parts = urlsplit(proxy)
    if parts.password is None:
        return proxy
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    if parts.port is not None:
        host += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
