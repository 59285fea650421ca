"""Logging in and out, changing one's own password, and asking who one is.

These stay open to a user who must change their password; every other admin
endpoint refuses them until they have (see auth.current_user).

Every password check goes through the context's LoginThrottle (refused with
429 before any hashing while the username or address is blocked) and its
PasswordHashing (Argon2 in a thread, a few at a time; 503 when none comes
free in time).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from ..security.passwords import HashingBusy
from ..stores.entities import User
from .auth import client_address, current_user, hashing_busy, too_many_attempts, unauthorized
from .context import AdminContext
from .serialize import user_brief_json, user_json
from .validation import as_password, invalid, read_object, require


def _string_field(body: dict[str, object], field: str) -> str:
    value = require(body, field)
    if not isinstance(value, str):
        raise invalid(field, "must be a string")
    return value


class SessionEndpoints:
    def __init__(self, ctx: AdminContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/password", self.change_password, methods=["POST"]),
            Route("/me", self.me, methods=["GET"]),
        ]

    def _begin(self, username: str, address: str, scope: str) -> None:
        """Count an attempt (as a failure, until `login_throttle.succeeded`
        says otherwise), or refuse it with 429 while blocked."""
        retry_after = self.ctx.login_throttle.begin(username, address, scope=scope)
        if retry_after is not None:
            raise too_many_attempts(retry_after)

    async def _verify(
        self, username: str, address: str, scope: str, password_hash: str | None, password: str
    ) -> bool:
        """The password check of an attempt begun by `_begin`; 503 when hashing is busy."""
        try:
            return await self.ctx.passwords.verify(password_hash, password)
        except HashingBusy as exc:
            self.ctx.login_throttle.not_checked(username, address, scope=scope)
            raise hashing_busy(exc) from None

    def _token(self, user: User) -> str:
        assert user.id is not None
        return self.ctx.tokens.issue(user.id, user.role, user.token_version)

    async def login(self, request: Request) -> JSONResponse:
        body = await read_object(request)
        username = _string_field(body, "username")
        password = _string_field(body, "password")
        address = client_address(request)
        # Throttled before the store is asked: a blocked attempt costs nothing.
        self._begin(username, address, "login")
        try:
            user = await self.ctx.stores.users.get_by_username(username)
        except Exception:
            self.ctx.login_throttle.not_checked(username, address)
            raise
        # An unknown user is checked against a dummy hash, through the same
        # slots: the same time and the same answer as a wrong password.
        ok = await self._verify(username, address, "login", user.password_hash if user else None, password)
        # One answer for unknown user, wrong password and disabled user alike.
        if user is None or not ok or not user.enabled:
            raise unauthorized("invalid username or password, or the user is disabled")
        self.ctx.login_throttle.succeeded(username, address)
        return JSONResponse(
            {
                "token": self._token(user),
                "must_change_password": user.must_change_password,
                "user": user_brief_json(user),
            }
        )

    async def logout(self, request: Request) -> JSONResponse:
        user = await current_user(request, self.ctx, password_change_ok=True)
        assert user.id is not None
        # Tokens are not kept anywhere to be struck out one by one: the user's
        # version moves on, which ends this session and every other one.
        await self.ctx.stores.users.bump_token_version(user.id)
        return JSONResponse({"ok": True})

    async def change_password(self, request: Request) -> JSONResponse:
        user = await current_user(request, self.ctx, password_change_ok=True)
        body = await read_object(request)
        old_password = _string_field(body, "old_password")
        new_password = as_password(require(body, "new_password"), "new_password")
        # Throttled like a login, so that a stolen token is no way to guess
        # the password; counted per user apart from the logins to the name,
        # so that someone hammering /login with it cannot keep its owner,
        # logged in already, from changing the password.
        address = client_address(request)
        who = str(user.id)
        self._begin(who, address, "password")
        if not await self._verify(who, address, "password", user.password_hash, old_password):
            raise invalid("old_password", "is not the current password")
        self.ctx.login_throttle.succeeded(who, address, scope="password")
        if new_password == old_password:
            raise invalid("new_password", "must differ from the old password")
        try:
            user.password_hash = await self.ctx.passwords.hash(new_password)
        except HashingBusy as exc:
            raise hashing_busy(exc) from None
        user.must_change_password = False
        user = await self.ctx.stores.users.update(user)
        assert user.id is not None
        # Every other session of this user ends; this one goes on with the
        # token answered here.
        version = await self.ctx.stores.users.bump_token_version(user.id)
        if version is None:
            raise unauthorized("user no longer exists or is disabled")
        user.token_version = version
        return JSONResponse({"ok": True, "token": self._token(user)})

    async def me(self, request: Request) -> JSONResponse:
        user = await current_user(request, self.ctx, password_change_ok=True)
        return JSONResponse(user_json(user))
