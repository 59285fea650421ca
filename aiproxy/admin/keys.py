"""Gateway API keys: admins manage every key, a user only their own.

The plaintext key exists once, in the answer to its creation; the store keeps
its SHA-256 and a short prefix. Someone else's key looks exactly like a
missing one (404), so a user cannot probe which key ids exist.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from ..security.api_keys import generate_api_key, hash_api_key, shown_prefix
from ..stores.entities import CLIENTS, PLATFORMS, ApiKey, User
from .auth import current_user, is_admin
from .context import AdminContext
from .errors import ApiError, not_found
from .serialize import key_json
from .validation import (
    as_bool,
    as_group,
    as_int,
    as_int_between,
    as_optional_datetime,
    as_optional_limit,
    as_str,
    as_str_list,
    invalid,
    path_id,
    query_int,
    read_object,
    require,
)


def _only_own(user_id: int | None, caller: User) -> None:
    if user_id is not None and user_id != caller.id and not is_admin(caller):
        raise ApiError(403, "forbidden", "user_id: only admins may act on other users' keys")


# A key's binding to dedicated accounts: only admins may set these.
BINDING_FIELDS = ("account_id", "group", "shared_fallback")

# A key's quotas (null: no limit): only admins may set these, or a user could
# lift their own. Integer limits, then USD budgets.
INT_QUOTA_FIELDS = ("rpm_limit", "max_concurrency", "daily_token_limit")
COST_QUOTA_FIELDS = ("daily_cost_limit", "weekly_cost_limit", "total_cost_limit")
QUOTA_FIELDS = INT_QUOTA_FIELDS + COST_QUOTA_FIELDS


# Ten years: beyond that, "never" (null) says it better.
MAX_EXPIRES_AFTER_DAYS = 3650


def _expires_after_days(value: Any) -> int | None:
    if value is None:
        return None
    return as_int_between(value, "expires_after_days", 1, MAX_EXPIRES_AFTER_DAYS)


class KeyEndpoints:
    def __init__(self, ctx: AdminContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/keys", self.list_keys, methods=["GET"]),
            Route("/keys", self.create_key, methods=["POST"]),
            Route("/keys/{id:int}", self.get_key, methods=["GET"]),
            Route("/keys/{id:int}", self.update_key, methods=["PATCH"]),
            Route("/keys/{id:int}", self.delete_key, methods=["DELETE"]),
        ]

    async def _target(self, request: Request, caller: User) -> ApiKey:
        key_id = path_id(request)
        key = await self.ctx.stores.keys.get(key_id)
        if key is None or (not is_admin(caller) and key.user_id != caller.id):
            raise not_found("key", key_id)
        return key

    async def _bind(self, key: ApiKey, body: dict[str, Any], caller: User) -> None:
        """Apply the binding fields in `body` to `key`. A normal user may only
        send the values the key already has (403 otherwise)."""
        changes: dict[str, Any] = {}
        if "account_id" in body:
            changes["account_id"] = None if body["account_id"] is None else as_int(body["account_id"], "account_id")
        if "group" in body:
            changes["group"] = as_group(body["group"], "group")
        if "shared_fallback" in body:
            changes["shared_fallback"] = as_bool(body["shared_fallback"], "shared_fallback")
        changed = [name for name in BINDING_FIELDS if name in changes and changes[name] != getattr(key, name)]
        if changed and not is_admin(caller):
            raise ApiError(403, "forbidden", f"{changed[0]}: only admins may bind keys to accounts or groups")
        account_id = changes.get("account_id", key.account_id)
        if "account_id" in changed and account_id is not None:
            if await self.ctx.stores.accounts.get(account_id) is None:
                raise invalid("account_id", f"account {account_id} does not exist")
        if account_id is not None and changes.get("group", key.group) is not None:
            raise invalid("account_id" if "account_id" in changes else "group",
                          "a key is bound to one account or to one group, not both")
        for name, value in changes.items():
            setattr(key, name, value)

    def _limit(self, key: ApiKey, body: dict[str, Any], caller: User) -> None:
        """Apply the quota fields in `body` to `key`. A normal user may only
        send the values the key already has (403 otherwise)."""
        changes: dict[str, Any] = {}
        for name in QUOTA_FIELDS:
            if name in body:
                changes[name] = as_optional_limit(body[name], name, integer=name in INT_QUOTA_FIELDS)
        changed = [name for name, value in changes.items() if value != getattr(key, name)]
        if changed and not is_admin(caller):
            raise ApiError(403, "forbidden", f"{changed[0]}: only admins may set a key's quotas")
        for name, value in changes.items():
            setattr(key, name, value)

    async def list_keys(self, request: Request) -> JSONResponse:
        caller = await current_user(request, self.ctx)
        user_id = query_int(request, "user_id", minimum=1)
        _only_own(user_id, caller)
        if not is_admin(caller):
            user_id = caller.id
        keys = await self.ctx.stores.keys.list(user_id=user_id)
        return JSONResponse({"keys": [key_json(k) for k in keys]})

    async def create_key(self, request: Request) -> JSONResponse:
        caller = await current_user(request, self.ctx)
        body = await read_object(request)
        name = as_str(require(body, "name"), "name")
        owner_id = caller.id
        if body.get("user_id") is not None:
            owner_id = as_int(body["user_id"], "user_id")
            _only_own(owner_id, caller)
            if await self.ctx.stores.users.get(owner_id) is None:
                raise invalid("user_id", f"user {owner_id} does not exist")
        assert owner_id is not None
        plaintext = generate_api_key()
        key = ApiKey(
            user_id=owner_id,
            name=name,
            key_hash=hash_api_key(plaintext),
            key_prefix=shown_prefix(plaintext),
            enabled=as_bool(body.get("enabled", True), "enabled"),
            expires_at=as_optional_datetime(body.get("expires_at"), "expires_at"),
            expires_after_days=_expires_after_days(body.get("expires_after_days")),
            platforms=as_str_list(body.get("platforms", []), "platforms", choices=PLATFORMS),
            models=as_str_list(body.get("models", []), "models"),
            allowed_clients=as_str_list(body.get("allowed_clients", []), "allowed_clients", choices=CLIENTS),
        )
        await self._bind(key, body, caller)
        self._limit(key, body, caller)
        key = await self.ctx.stores.keys.create(key)
        # Also for a new key: a request-path cache may remember this hash as
        # unknown if someone tried it before it existed.
        self.ctx.keys_changed(key.key_hash)
        return JSONResponse({**key_json(key), "key": plaintext}, status_code=201)

    async def get_key(self, request: Request) -> JSONResponse:
        caller = await current_user(request, self.ctx)
        return JSONResponse(key_json(await self._target(request, caller)))

    async def update_key(self, request: Request) -> JSONResponse:
        caller = await current_user(request, self.ctx)
        key = await self._target(request, caller)
        body = await read_object(request)
        if "name" in body:
            key.name = as_str(body["name"], "name")
        if "enabled" in body:
            key.enabled = as_bool(body["enabled"], "enabled")
        if "expires_at" in body:
            key.expires_at = as_optional_datetime(body["expires_at"], "expires_at")
        if "expires_after_days" in body:
            key.expires_after_days = _expires_after_days(body["expires_after_days"])
        if "platforms" in body:
            key.platforms = as_str_list(body["platforms"], "platforms", choices=PLATFORMS)
        if "models" in body:
            key.models = as_str_list(body["models"], "models")
        if "allowed_clients" in body:
            key.allowed_clients = as_str_list(body["allowed_clients"], "allowed_clients", choices=CLIENTS)
        await self._bind(key, body, caller)
        self._limit(key, body, caller)
        key = await self.ctx.stores.keys.update(key)
        self.ctx.keys_changed(key.key_hash)
        return JSONResponse(key_json(key))

    async def delete_key(self, request: Request) -> JSONResponse:
        caller = await current_user(request, self.ctx)
        key = await self._target(request, caller)
        assert key.id is not None
        await self.ctx.stores.keys.delete(key.id)
        self.ctx.keys_changed(key.key_hash)
        return JSONResponse({"ok": True})
