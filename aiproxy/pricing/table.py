"""The price table: packaged list prices, optionally overridden by an operator file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .. import model_files
from .cost import Cost, TokenCounts, cost_usd
from .model import ModelPrice, PriceFileError, parse_price_file
from .names import longest_prefix, normalise, strip_date

PACKAGED = "prices.json"
_CACHE_LIMIT = 4096  # distinct model names remembered; clients send few


class PriceTable:
    def __init__(self, models: Mapping[str, ModelPrice]) -> None:
        self._models: dict[str, ModelPrice] = {k.lower(): v for k, v in models.items()}
        self._resolved: dict[str, ModelPrice | None] = {}

    @classmethod
    def load(cls, override: str | Path | None = None) -> PriceTable:
        """The packaged prices; with `override`, a price file whose entries
        replace (whole) or add models. Raises PriceFileError naming the file."""
        models = model_files.load(__package__, PACKAGED, override, parse_price_file, PriceFileError)
        return cls(models)

    @property
    def models(self) -> Mapping[str, ModelPrice]:
        return self._models

    def price_for(self, model: str) -> ModelPrice | None:
        """The price of `model`, however spelled; None if the table does not know it."""
        try:
            return self._resolved[model]
        except KeyError:
            pass
        price = self._resolve(model)
        if len(self._resolved) >= _CACHE_LIMIT:
            self._resolved.pop(next(iter(self._resolved)))  # forget the oldest
        self._resolved[model] = price
        return price

    def cost(self, model: str, usage: TokenCounts) -> Cost:
        """What `usage` cost on `model` at list price; unpriced if the table
        does not know the model. A `cache_creation_1h_tokens` attribute on
        `usage` (formats.usage.Usage has one) gives the 1h cache writes."""
        return cost_usd(
            self.price_for(model), usage, cache_write_1h_tokens=getattr(usage, "cache_creation_1h_tokens", 0)
        )

    def _resolve(self, model: str) -> ModelPrice | None:
        lowered = model.strip().lower()
        for name in (lowered, strip_date(lowered), normalise(lowered)):
            if name in self._models:
                return self._models[name]
        prefix = longest_prefix(normalise(lowered), self._models)
        return self._models[prefix] if prefix else None
