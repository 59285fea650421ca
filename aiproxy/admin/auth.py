"""Who is calling: bearer JWT -> the user as the store knows them now.

The token only proves who logged in. Whether that user still exists, is
enabled, is an admin or still has to change the password is read from the
store on every call, so deleting, disabling or demoting someone takes effect
at once rather than when their token expires.
"""

from __future__ import annotations

from starlette.requests import Request

from ..security.tokens import TokenError
from ..stores.entities import User
from .context import AdminContext
from .errors import ApiError

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers=_CHALLENGE)


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("missing bearer token (Authorization: Bearer <token>)")
    return token.strip()


async def current_user(request: Request, ctx: AdminContext, *, password_change_ok: bool = False) -> User:
    """The calling user, or 401. Unless `password_change_ok`, a user who must
    change their password is refused with 403 password_change_required: only
    /password, /me (and /login) stay open to them."""
    try:
        claims = ctx.tokens.verify(bearer_token(request))
    except TokenError:
        raise unauthorized("invalid or expired token") from None
    user = await ctx.stores.users.get(claims.user_id)
    if user is None or not user.enabled:
        raise unauthorized("user no longer exists or is disabled")
    if user.must_change_password and not password_change_ok:
        raise ApiError(
            403,
            "password_change_required",
            "the password must be changed first via POST /admin/api/password",
        )
    return user


def is_admin(user: User) -> bool:
    return user.role == "admin"


def require_admin(user: User) -> None:
    if not is_admin(user):
        raise ApiError(403, "forbidden", "this requires the admin role")


async def current_admin(request: Request, ctx: AdminContext) -> User:
    user = await current_user(request, ctx)
    require_admin(user)
    return user
