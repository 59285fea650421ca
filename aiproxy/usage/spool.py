"""Usage records kept on local disk while the store cannot take them.

The usage writer spills records here when its in-memory buffer is full, and
at shutdown when the store is still down. Each spill is one new file of JSON
lines (`usage-<ns>-<pid>-<random>.jsonl`, mode 0600, in a 0700 directory), so a
file is written once and never appended to again. A file is replayed whole, in
one `add_many` (one transaction), and removed once the store took it.

Several processes may share the directory (workers of one server, or a
restarted process finding its predecessor's files): a file is held under an
exclusive `flock` while it is written and while it is replayed, so each file
is claimed by one process at a time. Locks die with their process, so the
files of a process that crashed are free for the next one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
import time
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Sequence

from ..stores.entities import UsageRecord

try:
    import fcntl
except ImportError:  # not POSIX: one process per spool directory, unlocked
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("aiproxy.usage")

SUFFIX = ".jsonl"
# An empty file nobody holds is a spill that died between creating the file and
# locking it; younger than this it may be one being created right now.
_EMPTY_FILE_GRACE_S = 60.0
_FIELDS = {f.name for f in dataclasses.fields(UsageRecord)} - {"id"}


def encode_record(r: UsageRecord) -> dict[str, Any]:
    row = {name: getattr(r, name) for name in _FIELDS}
    row["created_at"] = r.created_at.isoformat()
    return row


def decode_record(row: dict[str, Any]) -> UsageRecord:
    # Fields this version does not know (a newer writer's) are left out; a
    # missing one takes its default.
    values = {k: v for k, v in row.items() if k in _FIELDS}
    values["created_at"] = datetime.fromisoformat(values["created_at"])
    return UsageRecord(**values)


def _lock(f: IO[bytes], *, block: bool) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


@dataclasses.dataclass
class SpoolClaim:
    """One spool file, locked by this process, and the records it holds."""

    path: Path
    records: list[UsageRecord]
    _file: IO[bytes]

    def remove(self) -> None:
        """The store has the records: delete the file, then let go of it."""
        try:
            self.path.unlink()
        finally:
            self._file.close()

    def release(self) -> None:
        """The store did not take them: keep the file for a later try."""
        self._file.close()


class UsageSpool:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def _ensure_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def write(self, records: Sequence[UsageRecord]) -> Path:
        """Write `records` to a new spool file, durably (fsync). Blocking: call it in a thread."""
        self._ensure_directory()
        data = b"".join(
            json.dumps(encode_record(r), separators=(",", ":")).encode() + b"\n" for r in records
        )
        path = self.directory / f"usage-{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            # Held until closed, so no replayer reads the file half written.
            _lock(f, block=True)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return path

    def has_files(self) -> bool:
        return bool(self._paths())

    def _paths(self) -> list[Path]:
        try:
            return sorted(self.directory.glob(f"usage-*{SUFFIX}"))
        except OSError:
            return []

    def claim_next(self) -> SpoolClaim | None:
        """The oldest spool file no other process holds, locked and read; None
        when there is none. Blocking: call it in a thread."""
        for path in self._paths():
            claim = self._claim(path)
            if claim is not None:
                return claim
        return None

    def _claim(self, path: Path) -> SpoolClaim | None:
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            return None  # replayed and removed by another process meanwhile
        try:
            if not _lock(f, block=False):
                f.close()
                return None
            # Locked, but maybe only after its replayer removed it.
            st = os.fstat(f.fileno())
            try:
                if os.stat(path).st_ino != st.st_ino:
                    f.close()
                    return None
            except FileNotFoundError:
                f.close()
                return None
            if st.st_size == 0:
                if time.time() - st.st_mtime > _EMPTY_FILE_GRACE_S:
                    path.unlink(missing_ok=True)
                f.close()
                return None
            records = self._read(path, f.read())
        except BaseException:
            f.close()
            raise
        return SpoolClaim(path, records, f)

    @staticmethod
    def _read(path: Path, data: bytes) -> list[UsageRecord]:
        records = []
        for number, line in enumerate(data.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(decode_record(json.loads(line)))
            except (ValueError, TypeError, KeyError) as exc:
                # Only a process dying mid-write leaves a broken line (its last).
                log.error("usage spool %s line %d is unreadable, skipped: %s", path.name, number, exc)
        return records
