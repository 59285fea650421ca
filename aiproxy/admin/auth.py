"""Who is calling: bearer JWT -> the user as the store knows them now.

The token only proves who logged in, and at which of the user's token
versions. Whether that user still exists, is enabled, is an admin, still has
to change the password, and whether the token's version is still theirs is
read from the store on every call, so deleting, disabling, demoting someone,
changing or resetting their password or logging out takes effect at once
rather than when the token expires.
"""

from __future__ import annotations

from starlette.requests import Request

from ..security.passwords import HashingBusy
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
    if claims.version != user.token_version:
        raise unauthorized("this session has ended (logout, or a password, role or status change): log in again")
    if user.must_change_password and not password_change_ok:
        raise ApiError(
            403,
            "password_change_required",
            "the password must be changed first via POST /admin/api/password",
        )
    return user


def client_address(request: Request) -> str:
    """The client as the ASGI server reports it.

    No forwarding header is read here: any client can send one. uvicorn
    applies X-Forwarded-For itself, for connections from its
    FORWARDED_ALLOW_IPS only (the trusted proxies; default loopback), and
    gives the connection's peer otherwise.
    """
    client = request.scope.get("client")
    return str(client[0]) if client else "unknown"


def too_many_attempts(retry_after: int) -> ApiError:
    return ApiError(
        429,
        "too_many_attempts",
        f"too many failed logins for this username or from this address: try again in {retry_after} s",
        headers={"Retry-After": str(retry_after)},
    )


def hashing_busy(exc: HashingBusy) -> ApiError:
    return ApiError(
        503,
        "busy",
        "too many password checks at once: try again shortly",
        headers={"Retry-After": str(exc.retry_after)},
    )


def is_admin(user: User) -> bool:
    return user.role == "admin"


def require_admin(user: User) -> None:
    if not is_admin(user):
        raise ApiError(403, "forbidden", "this requires the admin role")


async def current_admin(request: Request, ctx: AdminContext) -> User:
    user = await current_user(request, ctx)
    require_admin(user)
    return user
