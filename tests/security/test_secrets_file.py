"""The secrets file: made once, 0600 whatever the umask, never seen half written."""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from pathlib import Path
from typing import Iterator

import pytest

from aiproxy.security.cipher import CredentialCipher
from aiproxy.security.secrets_file import SECRETS_FILENAME, load_or_create_secrets


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_created_once_with_mode_0600(tmp_path: Path, open_umask: None) -> None:
    first = load_or_create_secrets(tmp_path / "data")
    path = tmp_path / "data" / SECRETS_FILENAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(first) == {"jwt_secret", "encryption_key"}
    CredentialCipher(first["encryption_key"])  # a usable key
    assert load_or_create_secrets(tmp_path / "data") == first
    assert json.loads(path.read_text()) == first
    # No temporary file is left beside it.
    assert [p.name for p in path.parent.iterdir()] == [SECRETS_FILENAME]


def test_racing_processes_agree_on_one_set(tmp_path: Path, open_umask: None) -> None:
    results: list[dict[str, str]] = []
    start = threading.Barrier(8)

    def load() -> None:
        start.wait()
        results.append(load_or_create_secrets(tmp_path))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    assert all(r == results[0] for r in results)
    assert [p.name for p in tmp_path.iterdir()] == [SECRETS_FILENAME]


def test_a_world_readable_file_is_narrowed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = load_or_create_secrets(tmp_path)
    path = tmp_path / SECRETS_FILENAME
    os.chmod(path, 0o644)
    caplog.set_level(logging.WARNING, logger="aiproxy.security")
    assert load_or_create_secrets(tmp_path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "narrowing" in caplog.text


def test_without_hard_links_the_file_is_still_made_0600(
    tmp_path: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: object, dst: object) -> None:
        raise PermissionError("hard links not supported here")

    monkeypatch.setattr(os, "link", no_links)
    first = load_or_create_secrets(tmp_path)
    path = tmp_path / SECRETS_FILENAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == first
    assert [p.name for p in tmp_path.iterdir()] == [SECRETS_FILENAME]
