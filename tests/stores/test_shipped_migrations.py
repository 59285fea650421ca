"""The shipped migrations are frozen: their DDL text on each dialect must never
change, because databases out there recorded them as applied. A failure here
means a shipped migration (or the schema_version table's DDL) was edited: undo
the edit and add a new migration at the end of migrations.MIGRATIONS instead."""

from __future__ import annotations

import hashlib

import pytest

from aiproxy.stores import migrations
from aiproxy.stores.migration_steps import AddColumn, Present, Statement, Step
from aiproxy.stores.shipped_migrations import SCHEMA_VERSION_DDL, SHIPPED

# sha256 of each shipped migration's statements, per dialect, taken from the
# text as it shipped (version 0: the schema_version table, made before any).
FROZEN = {
    ("sqlite", 0): "e749648705965bb2e4028a49a3bb7d8b16128c2d6aa215a7984665bb1710e6cc",
    ("sqlite", 1): "36f3edf07a63eee8c620830d21b604a16804cab96972ad7827c848707deee330",
    ("sqlite", 2): "5487fb04cc9657ca3bef2658a2ea60ea2363c645270b96ec375468ee3157c85b",
    ("sqlite", 3): "d34b3a370eb7c1fc8116a20307262c355f19f7bc7b73dbad84bc23b38e75005d",
    ("sqlite", 4): "a94ed39d7535926955e6ee5ff97c43efccec9d66f0a8dfe5604c7a52b7d66ef2",
    ("sqlite", 5): "5ce3c890518b77653ef877594e2d7d65b7a0871e6d16621d6aae3e105a184341",
    ("sqlite", 6): "fae3b019a3e5ec2dcc15ba37d648fc7c5cf9ba6aa71b1f00ffd09e390696d8d6",
    ("sqlite", 7): "71fe41a3607c392b49b89860025c67e92bf99dd76e3668be12eca47bbd40ef65",
    ("sqlite", 8): "121107d7172745d535f99f5319bd002e0b3690e63d18ad16f499dffff14e19da",
    ("sqlite", 9): "b05a2f7dc6f009e61563398215ecbdb58b75ea82099a0d5b02c73fc64907cb53",
    ("mysql", 0): "1b79cc1f7c77d82ba7e5f3f3a96fcbe311c58620ae16c906addc442b64cef630",
    ("mysql", 1): "e766ade8eb270b4938d8337f03b515a26e044ff70473c00a12cbc0b7ed64d84f",
    ("mysql", 2): "6354327f4266110a2d966ad3d7688cbeedf0e04b914c62c4f617a27f1be16c93",
    ("mysql", 3): "213215372d14e72997663da2f838d0854943dae722865cdfd951c5d2eed61dcf",
    ("mysql", 4): "74dd488f286f73aa20b1a79835a97134c12d68a09cceee86bf36ac8180c9dc1c",
    ("mysql", 5): "ea8dba1d63e0da5630bc713e047f774614db9f38fb02dfa70d6a1ed8b766e116",
    ("mysql", 6): "39b55be195fd540999a679005a9357607a66a9dd9c548837ac61d835d0f94bde",
    ("mysql", 7): "091a929bb8eafbb6f95f20c267cb4a311cbf0100fbb08867c34faa5884f63f01",
    ("mysql", 8): "5d4e2a5796e4613151428d6ff4c4c9b3d5d7d56423ce51f68c569990cc04383b",
    ("mysql", 9): "1eb4a7864e9dd816946228caade9b060c4f7dea67c2f328366b6b8e427877c3e",
}


def digest(steps: tuple[Step, ...] | list[Step]) -> str:
    # Whether a step is an AddColumn counts too: the runner skips those whose column exists.
    parts = [f"AddColumn {s.table}.{s.column}: {s.sql()}" if isinstance(s, AddColumn) else f"SQL: {s}" for s in steps]
    return hashlib.sha256("\n;\n".join(parts).encode()).hexdigest()


def shipped_text() -> dict[tuple[str, int], str]:
    got = {}
    for dialect in migrations.DIALECTS:
        got[(dialect, 0)] = digest([SCHEMA_VERSION_DDL[dialect]])
        for m in SHIPPED:
            got[(dialect, m.version)] = digest(m.statements(dialect))
    return got


@pytest.mark.parametrize("dialect, version", sorted(FROZEN))
def test_shipped_migration_text_is_unchanged(dialect: str, version: int) -> None:
    assert shipped_text()[(dialect, version)] == FROZEN[(dialect, version)], (
        f"shipped migration {version} changed on {dialect}: add a new migration instead"
    )


def test_every_shipped_migration_is_pinned() -> None:
    assert [m.version for m in SHIPPED] == list(range(1, 10))
    assert set(shipped_text()) == set(FROZEN)


def test_runner_executes_the_shipped_text_as_written() -> None:
    """What the runner runs for a shipped migration is its text, one statement
    per step, AddColumn skipped when the column exists and nothing else skipped."""
    for dialect in migrations.DIALECTS:
        for m in SHIPPED:
            expected = tuple(
                Statement(s.sql(), Present(s.table, column=s.column)) if isinstance(s, AddColumn) else Statement(s)
                for s in m.statements(dialect)
            )
            assert m.ddl(dialect) == expected


def test_migrations_after_the_shipped_ones_are_declared_once() -> None:
    """No new per-dialect text: every later migration is steps=(...), which
    renders for SQLite, MySQL and PostgreSQL alike."""
    assert migrations.MIGRATIONS[: len(SHIPPED)] == list(SHIPPED)
    for m in migrations.MIGRATIONS[len(SHIPPED):]:
        assert m.steps and not (m.sqlite or m.mysql), m.version
        for dialect in ("sqlite", "mysql", "postgresql"):
            assert m.ddl(dialect)
