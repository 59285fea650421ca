"""User API keys: how they look, and the hash that is all the gateway keeps of them."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "ap-"
# How much of the key the console shows so people can tell their keys apart.
SHOWN_PREFIX_LENGTH = 10


def generate_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    # A fast hash is right here: keys carry 256 bits of randomness, so there is
    # nothing to brute-force, and the lookup sits on every request's path.
    return hashlib.sha256(key.encode()).hexdigest()


def shown_prefix(key: str) -> str:
    return key[:SHOWN_PREFIX_LENGTH]
