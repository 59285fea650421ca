"""Secrets generated once and kept beside the data, so restarts keep sessions and credentials."""

from __future__ import annotations

import json
import logging
import os
import secrets
import stat
from pathlib import Path

from .cipher import CredentialCipher

SECRETS_FILENAME = "aiproxy-secrets.json"
# Owner read/write only: the file holds the JWT secret and the key that
# decrypts every stored upstream credential.
PRIVATE_MODE = 0o600

log = logging.getLogger("aiproxy.security")


def load_or_create_secrets(directory: str | os.PathLike[str]) -> dict[str, str]:
    """Return {"jwt_secret", "encryption_key"}, creating the file on first call.

    The file is created with mode 0600 (a umask can only narrow it), and appears whole:
    it is written under a temporary name and then hard-linked into place, which
    fails if the name exists, so two processes starting together agree on one
    set of secrets and neither ever reads a half-written file. A file found
    readable by others (made by an older version, or by hand) is narrowed to
    0600, with a warning.
    """
    path = Path(directory) / SECRETS_FILENAME
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = {
            "jwt_secret": secrets.token_urlsafe(48),
            "encryption_key": CredentialCipher.generate_key(),
        }
        if _publish(path, json.dumps(fresh).encode()):
            return fresh
        # Another process won the race; read what it wrote.
    _narrow_mode(path)
    written: dict[str, str] = json.loads(path.read_text())
    return written


def _publish(path: Path, content: bytes) -> bool:
    """Write `content` to `path` if nothing is there yet; False if something was."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    # O_EXCL: never write through a file (or symlink) someone put there first.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        # os.open's mode is reduced by the umask, never widened: 0600 holds.
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        except OSError:
            # A file system without hard links: create the name exclusively
            # and write into it (a racing reader may then see it half written).
            return _write_exclusive(path, content)
        return True
    finally:
        temporary.unlink(missing_ok=True)


def _write_exclusive(path: Path, content: bytes) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(content)
    return True


def _narrow_mode(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s was readable by others (mode %04o); narrowing it to %04o", path, mode, PRIVATE_MODE)
        os.chmod(path, PRIVATE_MODE)
