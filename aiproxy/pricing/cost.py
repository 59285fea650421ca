"""What a request cost at list price, from the gateway's normalised token counts."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Protocol

from .model import ModelPrice

TIER_THRESHOLD = 200_000  # total input tokens above which `above_200k` prices apply
_PER = Decimal(1_000_000)
_NANO = Decimal("1e-9")
_CONTEXT = Context(prec=40)


class TokenCounts(Protocol):
    """formats.usage.Usage, or a stores UsageRecord: input excludes cached tokens."""

    input_tokens: int
    output_tokens: int
    cache_creation_tokens: int
    cache_read_tokens: int


@dataclass(frozen=True)
class Cost:
    usd: float
    priced: bool  # False: the model has no price; usd is 0


UNPRICED = Cost(usd=0.0, priced=False)


def cost_usd(price: ModelPrice | None, usage: TokenCounts, *, cache_write_1h_tokens: int = 0) -> Cost:
    """List-price cost of one request.

    Above 200,000 total input tokens (uncached + cache writes + cache reads) the
    model's `above_200k` prices, if it has them, apply to all of the request's
    tokens, output included. `cache_write_1h_tokens` of the cache writes are
    priced at the 1h rate (capped at the cache writes), the rest at the 5m rate.
    """
    if price is None:
        return UNPRICED
    uncached = max(usage.input_tokens, 0)
    writes = max(usage.cache_creation_tokens, 0)
    reads = max(usage.cache_read_tokens, 0)
    output = max(usage.output_tokens, 0)
    if price.above_200k is not None and uncached + writes + reads > TIER_THRESHOLD:
        price = price.above_200k
    writes_1h = min(max(cache_write_1h_tokens, 0), writes)
    ctx = _CONTEXT
    total = sum(
        (
            ctx.multiply(Decimal(uncached), price.input),
            ctx.multiply(Decimal(writes - writes_1h), price.cache_write_5m),
            ctx.multiply(Decimal(writes_1h), price.cache_write_1h),
            ctx.multiply(Decimal(reads), price.cache_read),
            ctx.multiply(Decimal(output), price.output),
        ),
        Decimal(0),
    )
    usd = ctx.divide(total, _PER).quantize(_NANO, rounding=ROUND_HALF_EVEN, context=ctx)
    return Cost(usd=float(usd), priced=True)
