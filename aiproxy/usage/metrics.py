"""Prometheus metrics, kept in this process's memory and served as text at `GET /metrics`.

Fed from two places: every usage record (`observe`, composed into the usage
middleware's sink) and every classified upstream fault (`observe_fault`, the
relay's `on_fault`). `render()` writes the text exposition format 0.0.4 by
hand: no dependency, and the format is small (HELP/TYPE lines, escaped label
values, cumulative histogram buckets with `+Inf`, `_sum` and `_count`).

Labels never carry secrets: `account` is the account's numeric id, never its
name; no user ids, key ids or key material appear. Cardinality is bounded:
model names are cut to `MAX_LABEL_CHARS`, and once a metric holds
`max_series` series, new ones fold into `model="other"` (metrics without a
model label fold `account` into "other" instead); the folded series are
bounded by the remaining labels (platforms, statuses, fault kinds, and the
admin-created accounts).

Each worker process keeps its own counters: Prometheus scrapes each worker (or
sums across targets); one scrape of a multi-worker server sees one worker.
"""

from __future__ import annotations

import math
import threading
from typing import Iterable, Mapping

from ..stores.entities import UsageRecord

MAX_LABEL_CHARS = 100
DEFAULT_MAX_SERIES = 1000
OTHER = "other"

# Upstream requests take from milliseconds (count_tokens) to minutes (long streams).
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
TTFB_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# Fault kinds that count as upstream errors ("ok" and the request's own "client" do not).
ERROR_KINDS = frozenset({"rate_limited", "overloaded", "server_error", "timeout", "connection", "auth"})

TOKEN_KINDS = (
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cache_creation", "cache_creation_tokens"),
    ("cache_read", "cache_read_tokens"),
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _cut(value: str) -> str:
    return value[:MAX_LABEL_CHARS]


def _account(account_id: int | None) -> str:
    return "" if account_id is None else str(int(account_id))


class _Metric:
    """A family of series sharing one name and label names, with a cap on its series."""

    def __init__(self, name: str, help: str, labels: tuple[str, ...], max_series: int) -> None:
        self.name = name
        self.help = help
        self.labels = labels
        self.max_series = max_series
        # The label to fold into "other" when the cap is reached.
        self._fold = labels.index("model") if "model" in labels else labels.index("account") if "account" in labels else None

    def _key(self, values: tuple[str, ...], series: Mapping[tuple[str, ...], object]) -> tuple[str, ...]:
        if values in series or len(series) < self.max_series or self._fold is None:
            return values
        folded = list(values)
        folded[self._fold] = OTHER
        return tuple(folded)

    def _labels(self, values: tuple[str, ...], extra: str = "") -> str:
        parts = [f'{n}="{escape_label(v)}"' for n, v in zip(self.labels, values)]
        if extra:
            parts.append(extra)
        return "{" + ",".join(parts) + "}" if parts else ""

    def _head(self, kind: str) -> list[str]:
        return [f"# HELP {self.name} {escape_help(self.help)}", f"# TYPE {self.name} {kind}"]


class Counter(_Metric):
    def __init__(self, name: str, help: str, labels: tuple[str, ...], max_series: int) -> None:
        super().__init__(name, help, labels, max_series)
        self.series: dict[tuple[str, ...], float] = {}

    def inc(self, values: tuple[str, ...], amount: float = 1) -> None:
        key = self._key(values, self.series)
        self.series[key] = self.series.get(key, 0) + amount

    def render(self) -> list[str]:
        lines = self._head("counter")
        for values, total in sorted(self.series.items()):
            lines.append(f"{self.name}{self._labels(values)} {format_value(total)}")
        return lines


class Histogram(_Metric):
    def __init__(
        self, name: str, help: str, labels: tuple[str, ...], max_series: int, buckets: Iterable[float]
    ) -> None:
        super().__init__(name, help, labels, max_series)
        self.buckets = tuple(sorted(buckets))
        # values -> [count per bucket (not cumulative; the last is +Inf), sum]
        self.series: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}

    def observe(self, values: tuple[str, ...], amount: float) -> None:
        key = self._key(values, self.series)
        entry = self.series.get(key)
        if entry is None:
            entry = self.series[key] = ([0] * (len(self.buckets) + 1), [0.0])
        counts, total = entry
        i = 0
        while i < len(self.buckets) and amount > self.buckets[i]:
            i += 1
        counts[i] += 1
        total[0] += amount

    def render(self) -> list[str]:
        lines = self._head("histogram")
        for values, (counts, total) in sorted(self.series.items()):
            running = 0
            for bound, n in zip((*self.buckets, math.inf), counts):
                running += n
                le = 'le="' + ("+Inf" if math.isinf(bound) else repr(float(bound))) + '"'
                lines.append(f"{self.name}_bucket{self._labels(values, le)} {running}")
            lines.append(f"{self.name}_sum{self._labels(values)} {format_value(total[0])}")
            lines.append(f"{self.name}_count{self._labels(values)} {running}")
        return lines


class Metrics:
    """The gateway's counters and histograms for one process."""

    def __init__(self, *, max_series: int = DEFAULT_MAX_SERIES) -> None:
        self._lock = threading.Lock()
        self.requests = Counter(
            "aiproxy_requests_total",
            "Proxied requests, by the status sent to the client (0: no answer was sent).",
            ("platform", "model", "account", "status"),
            max_series,
        )
        self.tokens = Counter(
            "aiproxy_tokens_total",
            "Tokens the upstreams reported, by kind (input, output, cache_creation, cache_read).",
            ("platform", "model", "account", "kind"),
            max_series,
        )
        self.upstream_errors = Counter(
            "aiproxy_upstream_errors_total",
            "Failed upstream answers, by fault kind (each account tried counts, failed-over ones too).",
            ("platform", "account", "kind"),
            max_series,
        )
        self.cost = Counter(
            "aiproxy_cost_usd_total",
            "List-price cost in USD of the proxied requests (models without a price count 0).",
            ("platform", "model", "account"),
            max_series,
        )
        self.duration = Histogram(
            "aiproxy_request_duration_seconds",
            "Time from the request reaching the routes to its last byte sent.",
            ("platform",),
            max_series,
            DURATION_BUCKETS,
        )
        self.ttfb = Histogram(
            "aiproxy_time_to_first_byte_seconds",
            "Time from the request reaching the routes to the first body byte sent.",
            ("platform",),
            max_series,
            TTFB_BUCKETS,
        )
        self._families: list[Counter | Histogram] = [
            self.requests, self.tokens, self.cost, self.upstream_errors, self.duration, self.ttfb,
        ]

    def observe(self, record: UsageRecord) -> None:
        """Count one finished request (a usage record)."""
        platform = _cut(record.platform)
        model = _cut(record.model or "")
        account = _account(record.account_id)
        with self._lock:
            self.requests.inc((platform, model, account, str(record.status)))
            for kind, field in TOKEN_KINDS:
                n = getattr(record, field, 0) or 0
                if n > 0:
                    self.tokens.inc((platform, model, account, kind), n)
            cost = record.cost_usd or 0.0
            if cost > 0:
                self.cost.inc((platform, model, account), cost)
            self.duration.observe((platform,), max(record.duration_ms, 0) / 1000)
            if record.ttfb_ms is not None:
                self.ttfb.observe((platform,), max(record.ttfb_ms, 0) / 1000)

    def observe_fault(self, platform: str, account_id: int | None, kind: str) -> None:
        """Count one classified upstream answer; only error kinds are counted."""
        if kind not in ERROR_KINDS:
            return
        with self._lock:
            self.upstream_errors.inc((_cut(platform), _account(account_id), kind))

    def render(self) -> str:
        with self._lock:
            lines: list[str] = []
            for family in self._families:
                lines.extend(family.render())
        return "\n".join(lines) + "\n"
