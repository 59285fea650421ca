"""Upstream accounts in the pool: admin only.

Credentials are write-only. They arrive as a JSON object, are checked against
what the account's type needs, and are stored only as the cipher's output;
no answer ever carries them, encrypted or not (just `has_credentials`).
After every change the pool is told to re-read the accounts before we answer,
so the next proxied request already sees the change.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from ..accounts import AccountType, AccountTypes
from ..scheduler.status import AccountStatus
from ..security.cipher import CredentialsError
from ..stores.entities import PLATFORMS, Account
from ..stores.protocols import UsageFilter, UsageTotal
from .account_types import AccountTypeEndpoints
from .auth import current_admin
from .context import AdminContext
from .errors import ApiError, not_found
from .serialize import account_json, account_status_json, masked_proxy, usage_today_json
from .validation import (
    as_bool,
    as_choice,
    as_group,
    as_http_url,
    as_int,
    as_int_between,
    as_object,
    as_proxy_url,
    as_str,
    as_str_list,
    as_str_map,
    invalid,
    path_id,
    read_object,
    require,
)

DEFAULT_PRIORITY = 50
PRIORITY_RANGE = (0, 1000)
WEIGHT_RANGE = (1, 1000)
MAX_CONCURRENCY_RANGE = (1, 10000)


def weight(value: Any) -> int:
    return as_int_between(value, "weight", *WEIGHT_RANGE)


def max_concurrency(value: Any) -> int | None:
    if value is None:
        return None
    return as_int_between(value, "max_concurrency", *MAX_CONCURRENCY_RANGE)


# The scheduling fields, each with its check (also taken by the OAuth finish).
SCHEDULING_FIELDS: dict[str, Callable[[Any], Any]] = {
    "weight": weight,
    "max_concurrency": max_concurrency,
    "schedulable": lambda v: as_bool(v, "schedulable"),
    "group": lambda v: as_group(v, "group"),
}


def today_start() -> datetime:
    """Midnight UTC today, naive as the stores keep it."""
    return datetime.now(timezone.utc).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)


async def accounts_json(ctx: AdminContext, accounts: Sequence[Account]) -> list[dict[str, Any]]:
    """The accounts as the API shows them, with each one's runtime `status`
    (one monitor call for all) and `today`'s usage (one usage query for all)."""
    ids = [a.id for a in accounts if a.id is not None]
    statuses: dict[int, AccountStatus] | None = None
    if ctx.monitor is not None and ids:
        statuses = await ctx.monitor.status(ids)
    totals: dict[Any, UsageTotal] = {}
    if ids:
        where = UsageFilter(start=today_start(), account_id=ids[0] if len(ids) == 1 else None)
        found = await ctx.stores.usage.totals(where, group_by="account")
        totals = {t.group: t for t in found if t.group is not None}
    shown: list[dict[str, Any]] = []
    for a in accounts:
        status = None
        if ctx.monitor is not None:
            status = account_status_json((statuses or {}).get(a.id or 0) or AccountStatus(state="ok"))
        shown.append({**account_json(a), "status": status, "today": usage_today_json(totals.get(a.id))})
    return shown


async def one_account_json(ctx: AdminContext, account: Account) -> dict[str, Any]:
    [shown] = await accounts_json(ctx, [account])
    return shown


def check_options(options: dict[str, Any], account_type: AccountType) -> dict[str, Any]:
    """The options as stored: checked by the type's own check (types without one take any object)."""
    return account_type.check_options(options) if account_type.check_options else options


def _check_base_url(account_type: AccountType, base_url: str | None) -> None:
    # Types with no default upstream: the account's base_url is where they go.
    if account_type.base_url.required and not base_url:
        raise invalid("base_url", f"is required for {account_type.name} accounts")


def check_credentials(value: Any, account_type: AccountType) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid("credentials", "must be an object")
    return account_type.check_credentials(value)


def _type(value: Any, platform: str, types: AccountTypes) -> AccountType:
    choices = types.by_platform().get(platform, ())
    if not choices:
        raise invalid("type", f"platform {platform!r} has no account types yet")
    return types[as_choice(value, "type", choices)]


def _priority(value: Any) -> int:
    priority = as_int(value, "priority")
    low, high = PRIORITY_RANGE
    if not low <= priority <= high:
        raise invalid("priority", f"must be between {low} and {high}")
    return priority


class AccountEndpoints:
    def __init__(self, ctx: AdminContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/accounts", self.list_accounts, methods=["GET"]),
            Route("/accounts", self.create_account, methods=["POST"]),
            Route("/accounts/{id:int}", self.get_account, methods=["GET"]),
            Route("/accounts/{id:int}", self.update_account, methods=["PATCH"]),
            Route("/accounts/{id:int}", self.delete_account, methods=["DELETE"]),
            Route("/accounts/{id:int}/reset", self.reset_account, methods=["POST"]),
            Route("/accounts/{id:int}/test", self.test_account, methods=["POST"]),
            # What types accounts may have, for the console's form (read-only).
            *AccountTypeEndpoints(self.ctx).routes(),
        ]

    async def _target(self, request: Request) -> Account:
        account_id = path_id(request)
        account = await self.ctx.stores.accounts.get(account_id)
        if account is None:
            raise not_found("account", account_id)
        return account

    async def list_accounts(self, request: Request) -> JSONResponse:
        await current_admin(request, self.ctx)
        accounts = await self.ctx.stores.accounts.list()
        return JSONResponse({"accounts": await accounts_json(self.ctx, accounts)})

    async def create_account(self, request: Request) -> JSONResponse:
        await current_admin(request, self.ctx)
        body = await read_object(request)
        name = as_str(require(body, "name"), "name")
        platform = as_choice(require(body, "platform"), "platform", PLATFORMS)
        account_type = _type(require(body, "type"), platform, self.ctx.account_types)
        credentials = check_credentials(require(body, "credentials"), account_type)
        base_url = as_http_url(body.get("base_url"), "base_url")
        _check_base_url(account_type, base_url)
        account = Account(
            name=name,
            platform=platform,
            type=account_type.name,
            credentials=self.ctx.cipher.encrypt(credentials),
            base_url=base_url,
            priority=_priority(body.get("priority", DEFAULT_PRIORITY)),
            enabled=as_bool(body.get("enabled", True), "enabled"),
            models=as_str_list(body.get("models", []), "models"),
            model_mapping=as_str_map(body.get("model_mapping", {}), "model_mapping"),
            options=check_options(as_object(body.get("options", {}), "options"), account_type),
            proxy=as_proxy_url(body.get("proxy"), "proxy"),
            **{name: check(body[name]) for name, check in SCHEDULING_FIELDS.items() if name in body},
        )
        account = await self.ctx.stores.accounts.create(account)
        await self.ctx.accounts_changed()
        return JSONResponse(await one_account_json(self.ctx, account), status_code=201)

    async def get_account(self, request: Request) -> JSONResponse:
        await current_admin(request, self.ctx)
        return JSONResponse(await one_account_json(self.ctx, await self._target(request)))

    async def update_account(self, request: Request) -> JSONResponse:
        await current_admin(request, self.ctx)
        account = await self._target(request)
        body = await read_object(request)
        old_type = account.type

        if "name" in body:
            account.name = as_str(body["name"], "name")
        if "platform" in body:
            account.platform = as_choice(body["platform"], "platform", PLATFORMS)
        # Checked even when only the platform changed: the type must belong to it.
        account_type = _type(body.get("type", account.type), account.platform, self.ctx.account_types)
        account.type = account_type.name
        if "base_url" in body:
            account.base_url = as_http_url(body["base_url"], "base_url")
        if "priority" in body:
            account.priority = _priority(body["priority"])
        if "enabled" in body:
            account.enabled = as_bool(body["enabled"], "enabled")
        if "models" in body:
            account.models = as_str_list(body["models"], "models")
        # Replaced whole, not merged: what is sent is what the account has.
        if "model_mapping" in body:
            account.model_mapping = as_str_map(body["model_mapping"], "model_mapping")
        if "options" in body:
            account.options = as_object(body["options"], "options")
        # The masked form the API returned means "unchanged", so a client may
        # send back what it read without wiping the stored password.
        if "proxy" in body and body["proxy"] != masked_proxy(account.proxy):
            account.proxy = as_proxy_url(body["proxy"], "proxy")
        for name, check in SCHEDULING_FIELDS.items():
            if name in body:
                setattr(account, name, check(body[name]))

        if "credentials" in body:
            account.credentials = self.ctx.cipher.encrypt(check_credentials(body["credentials"], account_type))
        elif account.type != old_type:
            # The kept credentials must still suit the new type.
            try:
                kept = self.ctx.cipher.decrypt(account.credentials)
            except CredentialsError:
                raise invalid("credentials", "the stored credentials cannot be read; send new ones") from None
            account.credentials = self.ctx.cipher.encrypt(check_credentials(kept, account_type))

        _check_base_url(account_type, account.base_url)
        account.options = check_options(account.options, account_type)
        account = await self.ctx.stores.accounts.update(account)
        await self.ctx.accounts_changed()
        return JSONResponse(await one_account_json(self.ctx, account))

    async def delete_account(self, request: Request) -> JSONResponse:
        await current_admin(request, self.ctx)
        account = await self._target(request)
        assert account.id is not None
        await self.ctx.stores.accounts.delete(account.id)
        await self.ctx.accounts_changed()
        return JSONResponse({"ok": True})

    async def reset_account(self, request: Request) -> JSONResponse:
        """Clear the account's runtime state (rate limit, cooldown, error) now."""
        await current_admin(request, self.ctx)
        account = await self._target(request)
        if self.ctx.monitor is None:
            raise ApiError(501, "not_implemented", "this gateway has no account monitor to reset")
        assert account.id is not None
        await self.ctx.monitor.reset(account.id)
        return JSONResponse(await one_account_json(self.ctx, account))

    async def test_account(self, request: Request) -> JSONResponse:
        """Send one minimal request through the account and say how it went."""
        await current_admin(request, self.ctx)
        account = await self._target(request)
        if self.ctx.test_account is None:
            raise ApiError(501, "not_implemented", "this gateway cannot test accounts")
        assert account.id is not None
        return JSONResponse(await self.ctx.test_account(account.id))
