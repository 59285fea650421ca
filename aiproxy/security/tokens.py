"""Admin session tokens: short-lived HS256 JWTs."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt


@dataclass(frozen=True)
class AdminClaims:
    user_id: int
    role: str


class TokenError(Exception):
    pass


class TokenIssuer:
    def __init__(self, secret: str, ttl_seconds: int = 24 * 3600) -> None:
        self._secret = secret
        self._ttl = ttl_seconds

    def issue(self, user_id: int, role: str) -> str:
        now = int(time.time())
        return jwt.encode(
            {"sub": str(user_id), "role": role, "iat": now, "exp": now + self._ttl},
            self._secret,
            algorithm="HS256",
        )

    def verify(self, token: str) -> AdminClaims:
        try:
            claims = jwt.decode(token, self._secret, algorithms=["HS256"], options={"require": ["exp", "sub"]})
            return AdminClaims(user_id=int(claims["sub"]), role=str(claims.get("role", "user")))
        except (jwt.PyJWTError, ValueError) as exc:
            raise TokenError(str(exc)) from exc
