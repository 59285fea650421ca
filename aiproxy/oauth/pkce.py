"""PKCE (RFC 7636) verifier/challenge pairs and the state parameter."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass


def _b64url(raw: bytes) -> str:
    # RFC 7636 §3: base64url without padding.
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def challenge_for(verifier: str) -> str:
    """The S256 challenge: base64url(sha256(verifier))."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str
    method: str = "S256"


def new_pkce() -> Pkce:
    # 32 random bytes give a 43-character verifier, the minimum length the RFC allows.
    verifier = _b64url(secrets.token_bytes(32))
    return Pkce(verifier=verifier, challenge=challenge_for(verifier))


def new_state() -> str:
    return _b64url(secrets.token_bytes(24))
