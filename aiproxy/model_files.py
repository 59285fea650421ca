"""Reading a data file keyed by model name: the packaged one, and an operator's on top.

The price table (`pricing/`) and the output caps (`model_limits/`) are both
such files: a JSON object of model name -> entry, keys starting with `_`
kept for notes, names matched without regard to case. Both are read strictly
(a typo'd file stops the start with its name and the problem, rather than
pricing or clamping on a guess), so the reading rules live here once; what
an entry may be is each table's own business.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

# The table's own error type, made from (file, problem).
FileError = Callable[[str, str], Exception]
Entry = TypeVar("Entry")


def read_entries(text: str | bytes, source: str, *, error: FileError, what: str,
                 decimals: bool = False) -> dict[str, Any]:
    """Model name (lower-cased, trimmed) -> its entry as written, from one file's text.

    `what` says what a name maps to, for the message on a wrong top level;
    `decimals` reads numbers as `Decimal` (prices: no binary rounding).
    """
    numbers: dict[str, Any] = {"parse_float": Decimal, "parse_int": Decimal} if decimals else {}
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, **numbers)
    except _DuplicateKey as exc:
        raise error(source, f"duplicate key {exc.key!r}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(source, f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise error(source, f"the top level must be a JSON object of model name -> {what}")
    entries: dict[str, Any] = {}
    for name, entry in data.items():
        if name.startswith("_"):
            continue
        key = name.strip().lower()
        if not key:
            raise error(source, "a model name is empty")
        if key in entries:
            raise error(source, f"model {name!r} is listed twice (names ignore case)")
        entries[key] = entry
    return entries


def load(package: str, packaged: str, override: str | Path | None,
         parse: Callable[[bytes, str], dict[str, Entry]], error: FileError) -> dict[str, Entry]:
    """The package's own file, then the operator's `override` (its entries replace
    or add models), each through the table's `parse(text, source)`."""
    table = parse(resources.files(package).joinpath(packaged).read_bytes(), f"{package}/{packaged} (packaged)")
    if override is not None:
        path = Path(override)
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise error(str(path), f"cannot read it: {exc.strerror or exc}") from None
        table.update(parse(text, str(path)))
    return table


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of two equal keys without a word: a typo'd file would pass.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out
