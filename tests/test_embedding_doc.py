"""docs/embedding.md's Python blocks run, in order, in one namespace: the page shows code that works."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "embedding.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def blocks() -> list[str]:
    return BLOCK.findall(DOC.read_text())


def test_the_page_has_its_examples() -> None:
    assert len(blocks()) >= 5


def test_the_blocks_run_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the blocks' secrets file and SQLite database land here
    namespace: dict[str, object] = {"__name__": "embedding_doc"}
    for number, source in enumerate(blocks(), 1):
        exec(compile(source, f"{DOC.name}, block {number}", "exec"), namespace)
    assert (tmp_path / "aiproxy-secrets.json").exists()
