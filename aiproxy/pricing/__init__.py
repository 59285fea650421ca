"""List prices per model and the cost of a request at those prices."""

from __future__ import annotations

from .cost import Cost, cost_usd
from .model import ModelPrice, PriceFileError
from .table import PriceTable

__all__ = ["Cost", "ModelPrice", "PriceFileError", "PriceTable", "cost_usd"]
