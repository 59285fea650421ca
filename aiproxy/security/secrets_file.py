"""Secrets generated once and kept beside the data, so restarts keep sessions and credentials."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from .cipher import CredentialCipher

SECRETS_FILENAME = "aiproxy-secrets.json"


def load_or_create_secrets(directory: str | os.PathLike[str]) -> dict[str, str]:
    """Return {"jwt_secret", "encryption_key"}, creating the file on first call.

    The file is written with mode 0600 and created exclusively, so two
    processes starting together agree on one set of secrets.
    """
    path = Path(directory) / SECRETS_FILENAME
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = {
            "jwt_secret": secrets.token_urlsafe(48),
            "encryption_key": CredentialCipher.generate_key(),
        }
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process won the race; read what it wrote
        else:
            with os.fdopen(fd, "w") as f:
                json.dump(fresh, f)
            return fresh
    return json.loads(path.read_text())
