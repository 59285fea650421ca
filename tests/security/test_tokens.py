"""TokenIssuer: the token version claim."""

from __future__ import annotations

import time

import jwt
import pytest

from aiproxy.security.tokens import TokenError, TokenIssuer

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def test_version_round_trips() -> None:
    issuer = TokenIssuer(SECRET)
    claims = issuer.verify(issuer.issue(7, "admin", 3))
    assert (claims.user_id, claims.role, claims.version) == (7, "admin", 3)
    assert issuer.verify(issuer.issue(7, "user")).version == 0


@pytest.mark.parametrize("ver", [None, "1", 1.0, True])
def test_a_token_without_an_integer_version_is_refused(ver: object) -> None:
    now = int(time.time())
    claims: dict[str, object] = {"sub": "7", "role": "admin", "iat": now, "exp": now + 60}
    if ver is not None:
        claims["ver"] = ver
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(TokenError):
        TokenIssuer(SECRET).verify(token)
