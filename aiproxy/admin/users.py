"""Console users: admins manage them all; nobody else sees them.

The one rule beyond validation: an admin can neither delete, demote nor
disable themself. Every call here is made by an enabled admin, so as long as
that admin cannot remove themself, at least one enabled admin always remains.

A new password, a role change or a disable ends the user's sessions (their
token version is bumped): whoever held them logs in again, as who they are now.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from ..security.passwords import HashingBusy
from ..stores.entities import ROLES, User
from .auth import current_admin, hashing_busy
from .context import AdminContext
from .errors import ApiError, not_found
from .serialize import user_json
from .validation import as_bool, as_choice, as_password, as_str, invalid, path_id, read_object, require

USERNAME_MAX_LENGTH = 64


def _conflict(username: str) -> ApiError:
    return ApiError(409, "conflict", f"username: {username!r} is already taken")


class UserEndpoints:
    def __init__(self, ctx: AdminContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/users", self.list_users, methods=["GET"]),
            Route("/users", self.create_user, methods=["POST"]),
            Route("/users/{id:int}", self.get_user, methods=["GET"]),
            Route("/users/{id:int}", self.update_user, methods=["PATCH"]),
            Route("/users/{id:int}", self.delete_user, methods=["DELETE"]),
        ]

    async def _target(self, request: Request) -> User:
        user_id = path_id(request)
        user = await self.ctx.stores.users.get(user_id)
        if user is None:
            raise not_found("user", user_id)
        return user

    async def _forget_keys_of(self, user_id: int) -> None:
        # Whatever the request path cached about these keys (their owner's
        # state included) must be re-read.
        for key in await self.ctx.stores.keys.list(user_id=user_id):
            self.ctx.keys_changed(key.key_hash)

    async def _hash(self, password: str) -> str:
        try:
            return await self.ctx.passwords.hash(password)
        except HashingBusy as exc:
            raise hashing_busy(exc) from None

    async def list_users(self, request: Request) -> JSONResponse:
        await current_admin(request, self.ctx)
        users = await self.ctx.stores.users.list()
        return JSONResponse({"users": [user_json(u) for u in users]})

    async def create_user(self, request: Request) -> JSONResponse:
        await current_admin(request, self.ctx)
        body = await read_object(request)
        username = as_str(require(body, "username"), "username", max_length=USERNAME_MAX_LENGTH)
        password = as_password(require(body, "password"), "password")
        role = as_choice(body.get("role", "user"), "role", ROLES)
        enabled = as_bool(body.get("enabled", True), "enabled")
        must_change = as_bool(body.get("must_change_password", False), "must_change_password")
        if await self.ctx.stores.users.get_by_username(username) is not None:
            raise _conflict(username)
        user = User(
            username=username,
            password_hash=await self._hash(password),
            role=role,
            enabled=enabled,
            must_change_password=must_change,
        )
        try:
            user = await self.ctx.stores.users.create(user)
        except ValueError:
            # Lost a race with another create of the same name.
            raise _conflict(username) from None
        return JSONResponse(user_json(user), status_code=201)

    async def get_user(self, request: Request) -> JSONResponse:
        await current_admin(request, self.ctx)
        return JSONResponse(user_json(await self._target(request)))

    async def update_user(self, request: Request) -> JSONResponse:
        caller = await current_admin(request, self.ctx)
        user = await self._target(request)
        body = await read_object(request)
        was_enabled, was_role = user.enabled, user.role

        # Validate everything before changing anything.
        if "username" in body:
            username = as_str(body["username"], "username", max_length=USERNAME_MAX_LENGTH)
            if username != user.username:
                if await self.ctx.stores.users.get_by_username(username) is not None:
                    raise _conflict(username)
                user.username = username
        new_password = as_password(body["password"], "password") if "password" in body else None
        if "role" in body:
            user.role = as_choice(body["role"], "role", ROLES)
        if "enabled" in body:
            user.enabled = as_bool(body["enabled"], "enabled")
        if "must_change_password" in body:
            user.must_change_password = as_bool(body["must_change_password"], "must_change_password")
        if user.id == caller.id:
            if user.role != "admin":
                raise invalid("role", "you cannot remove your own admin role")
            if not user.enabled:
                raise invalid("enabled", "you cannot disable yourself")

        if new_password is not None:
            user.password_hash = await self._hash(new_password)
        try:
            user = await self.ctx.stores.users.update(user)
        except ValueError:
            # The stores refuse a duplicate username; we lost a race to a rename or create.
            raise _conflict(user.username) from None
        assert user.id is not None
        if new_password is not None or user.role != was_role or (was_enabled and not user.enabled):
            # A reset password, another role or a disable: the sessions from
            # before end (including the caller's own, should they reset their
            # own password here rather than through POST /password).
            version = await self.ctx.stores.users.bump_token_version(user.id)
            if version is not None:
                user.token_version = version
        if user.enabled != was_enabled or user.role != was_role:
            await self._forget_keys_of(user.id)
        return JSONResponse(user_json(user))

    async def delete_user(self, request: Request) -> JSONResponse:
        caller = await current_admin(request, self.ctx)
        user = await self._target(request)
        assert user.id is not None
        if user.id == caller.id:
            raise ApiError(400, "validation_error", "id: you cannot delete yourself")
        # Keys first: a key must never outlive its owner, even if the user
        # delete below fails.
        keys = await self.ctx.stores.keys.list(user_id=user.id)
        await self.ctx.stores.keys.delete_for_user(user.id)
        await self.ctx.stores.users.delete(user.id)
        for key in keys:
            self.ctx.keys_changed(key.key_hash)
        return JSONResponse({"ok": True, "deleted_keys": len(keys)})
