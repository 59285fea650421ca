"""Upstream credentials encrypted at rest (Fernet: AES-128-CBC with HMAC-SHA256)."""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken


class CredentialsError(Exception):
    """Stored credentials could not be decrypted (wrong or changed encryption key)."""


class CredentialCipher:
    def __init__(self, key: str | bytes) -> None:
        self._fernet = Fernet(key)

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def encrypt(self, credentials: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(credentials).encode()).decode()

    def decrypt(self, token: str) -> dict[str, Any]:
        if not token:
            return {}
        try:
            credentials: dict[str, Any] = json.loads(self._fernet.decrypt(token.encode()))
            return credentials
        except (InvalidToken, ValueError) as exc:
            raise CredentialsError("credentials cannot be decrypted with this encryption key") from exc
