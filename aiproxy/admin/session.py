"""Logging in, changing one's own password, and asking who one is.

These three stay open to a user who must change their password; every other
admin endpoint refuses them until they have (see auth.current_user).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from ..security.passwords import hash_password, verify_password
from .auth import current_user, unauthorized
from .context import AdminContext
from .serialize import user_brief_json, user_json
from .validation import as_password, invalid, read_object, require

# Verified against when the username is unknown, so that a wrong username
# costs as much time as a wrong password and does not reveal who exists.
_dummy_hash: str | None = None


async def _check_password(password_hash: str | None, password: str) -> bool:
    global _dummy_hash
    if password_hash is None:
        if _dummy_hash is None:
            _dummy_hash = await run_in_threadpool(hash_password, "not a real password")
        password_hash = _dummy_hash
        await run_in_threadpool(verify_password, password_hash, password)
        return False
    # Argon2 takes tens of milliseconds of CPU: off the event loop, which
    # also carries the proxied traffic.
    return await run_in_threadpool(verify_password, password_hash, password)


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
            Route("/password", self.change_password, methods=["POST"]),
            Route("/me", self.me, methods=["GET"]),
        ]

    async def login(self, request: Request) -> JSONResponse:
        body = await read_object(request)
        username = _string_field(body, "username")
        password = _string_field(body, "password")
        user = await self.ctx.stores.users.get_by_username(username)
        ok = await _check_password(user.password_hash if user else None, password)
        # One answer for unknown user, wrong password and disabled user alike.
        if user is None or not ok or not user.enabled:
            raise unauthorized("invalid username or password, or the user is disabled")
        assert user.id is not None
        return JSONResponse(
            {
                "token": self.ctx.tokens.issue(user.id, user.role),
                "must_change_password": user.must_change_password,
                "user": user_brief_json(user),
            }
        )

    async def change_password(self, request: Request) -> JSONResponse:
        user = await current_user(request, self.ctx, password_change_ok=True)
        body = await read_object(request)
        old_password = _string_field(body, "old_password")
        new_password = as_password(require(body, "new_password"), "new_password")
        if not await _check_password(user.password_hash, old_password):
            raise invalid("old_password", "is not the current password")
        if new_password == old_password:
            raise invalid("new_password", "must differ from the old password")
        user.password_hash = await run_in_threadpool(hash_password, new_password)
        user.must_change_password = False
        await self.ctx.stores.users.update(user)
        return JSONResponse({"ok": True})

    async def me(self, request: Request) -> JSONResponse:
        user = await current_user(request, self.ctx, password_change_ok=True)
        return JSONResponse(user_json(user))
