"""One request's usage, filled in as the request travels and turned into a record at the end."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from ..formats.usage import Usage
from ..pricing.cost import Cost
from ..stores.entities import ApiKey, UsageRecord

# What a request's usage cost on a model: create_app hands PriceTable.cost.
Pricer = Callable[[str, Usage], Cost]


@dataclass
class UsageMeter:
    platform: str
    endpoint: str = ""
    model: str = ""
    # The model the request was priced on, where it differs in kind from the
    # one recorded: a Claude name served, translated, by gpt-5-codex costs
    # what gpt-5-codex costs. None: priced on `model`.
    priced_model: str | None = None
    # The client's wire format (the route's) and the one the last attempt sent
    # upstream (formats/wire.py names); "" until known.
    client_format: str = ""
    upstream_format: str = ""
    stream: bool = False
    account_id: int | None = None
    status: int = 0
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    started: float = field(default_factory=time.perf_counter)
    first_byte: float | None = None

    def cost(self, price: Pricer | None) -> Cost:
        """The cost of this request on the upstream model it named. No tokens
        (count_tokens, models, errors) cost nothing, priced or not."""
        u = self.usage
        if price is None or not (u.input_tokens or u.output_tokens or u.cache_creation_tokens or u.cache_read_tokens):
            return Cost(usd=0.0, priced=True)
        return price(self.priced_model or self.model, u)

    def to_record(self, key: ApiKey | None, price: Pricer | None = None) -> UsageRecord:
        done = time.perf_counter()
        cost = self.cost(price)
        return UsageRecord(
            platform=self.platform,
            endpoint=self.endpoint,
            model=self.model,
            user_id=key.user_id if key else None,
            key_id=key.id if key else None,
            account_id=self.account_id,
            stream=self.stream,
            status=self.status,
            input_tokens=self.usage.input_tokens,
            output_tokens=self.usage.output_tokens,
            cache_creation_tokens=self.usage.cache_creation_tokens,
            cache_read_tokens=self.usage.cache_read_tokens,
            cache_creation_1h_tokens=self.usage.cache_creation_1h_tokens,
            cost_usd=cost.usd,
            priced=cost.priced,
            duration_ms=int((done - self.started) * 1000),
            ttfb_ms=int((self.first_byte - self.started) * 1000) if self.first_byte is not None else None,
            error=self.error[:500] if self.error else None,
            client_format=self.client_format,
            upstream_format=self.upstream_format,
        )
