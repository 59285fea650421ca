"""A model's list prices, and the parsing of a price file into them.

A price file is a JSON object: each key is a model name, each value an object
of USD per 1M tokens with exactly the fields in `FIELDS`, plus an optional
`above_200k` object with the same fields for requests whose total input
exceeds 200,000 tokens. Keys starting with `_` (such as `_source`) are notes
and are skipped. Numbers are kept as `Decimal`, parsed from the JSON text, so
0.075 stays 0.075.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from .. import model_files

FIELDS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
TIER_KEY = "above_200k"


class PriceFileError(ValueError):
    """A price file that cannot be used; the message names the file and the problem."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"price file {source}: {problem}")
        self.source = source
        self.problem = problem


@dataclass(frozen=True)
class ModelPrice:
    """USD per 1M tokens. `above_200k` is the tier for a request whose total
    input (uncached + cache writes + cache reads) exceeds 200,000 tokens."""

    input: Decimal
    output: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal
    above_200k: ModelPrice | None = None


def parse_price_file(text: str | bytes, source: str) -> dict[str, ModelPrice]:
    """The models of one price file, names lower-cased. Raises PriceFileError."""
    entries = model_files.read_entries(text, source, error=PriceFileError, what="prices", decimals=True)
    return {key: _model(entry, source, key) for key, entry in entries.items()}


def _model(entry: Any, source: str, name: str) -> ModelPrice:
    where = f"model {name!r}"
    base = _tier(entry, source, where, allow_tier=True)
    tier_entry = entry.get(TIER_KEY)
    if tier_entry is None:
        return base
    return replace(base, above_200k=_tier(tier_entry, source, f"{where} {TIER_KEY}"))


def _tier(entry: Any, source: str, where: str, allow_tier: bool = False) -> ModelPrice:
    if not isinstance(entry, dict):
        raise PriceFileError(source, f"{where}: must be an object of prices, got {_kind(entry)}")
    allowed = set(FIELDS) | ({TIER_KEY} if allow_tier else set())
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise PriceFileError(
            source, f"{where}: unknown field(s) {', '.join(unknown)}; expected {', '.join(sorted(allowed))}"
        )
    missing = [f for f in FIELDS if f not in entry]
    if missing:
        raise PriceFileError(source, f"{where}: missing field(s) {', '.join(missing)}")
    for f in FIELDS:
        value = entry[f]
        # bool is not a price (json gives true/false as bool, numbers as Decimal here).
        if not isinstance(value, Decimal) or not value.is_finite():
            raise PriceFileError(source, f"{where}: {f} must be a number, got {_kind(value)}")
        if value < 0:
            raise PriceFileError(source, f"{where}: {f} must not be negative, got {value}")
    return ModelPrice(*(entry[f] for f in FIELDS))


def _kind(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else type(value).__name__
    )
