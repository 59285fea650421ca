"""Admin session tokens: short-lived HS256 JWTs.

A token names its user and the user's token version at issue time (`ver`).
The admin API refuses a token whose version is no longer the user's, which is
how a password change, a reset, a disable, a role change or a logout ends the
sessions issued before it. Tokens without `ver` (from before versions existed)
are refused: an upgrade logs everyone out once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt


@dataclass(frozen=True)
class AdminClaims:
    user_id: int
    role: str
    version: int


class TokenError(Exception):
    pass


class TokenIssuer:
    def __init__(self, secret: str, ttl_seconds: int = 24 * 3600) -> None:
        self._secret = secret
        self._ttl = ttl_seconds

    def issue(self, user_id: int, role: str, version: int = 0) -> str:
        now = int(time.time())
        return jwt.encode(
            {"sub": str(user_id), "role": role, "ver": version, "iat": now, "exp": now + self._ttl},
            self._secret,
            algorithm="HS256",
        )

    def verify(self, token: str) -> AdminClaims:
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=["HS256"], options={"require": ["exp", "sub", "ver"]}
            )
            version = claims["ver"]
            # bool is an int to Python; a token never carries one.
            if not isinstance(version, int) or isinstance(version, bool):
                raise ValueError("ver must be an integer")
            return AdminClaims(user_id=int(claims["sub"]), role=str(claims.get("role", "user")), version=version)
        except (jwt.PyJWTError, ValueError) as exc:
            raise TokenError(str(exc)) from exc
