"""Prometheus metrics, served at `GET /metrics`, one answer for every worker of a server.

Fed from two places: every usage record (`observe`, composed into the usage
middleware's sink) and every classified upstream fault (`observe_fault`, the
relay's `on_fault`). The values and the text exposition (format 0.0.4) are
`prometheus_client`'s, in one of its two modes, chosen by the process's
environment when `prometheus_client` was first imported:

- in memory (the default, an embedding host's single process): this `Metrics`
  object's own registry;
- multiprocess (`PROMETHEUS_MULTIPROC_DIR` set before the import, as
  `server.py` does for `WORKERS` above 1): each process writes its values to
  its own files in that directory, and a scrape, whichever worker takes it,
  merges every process's files. Counters and histograms are summed, which is
  what a counter of several processes means; the files of a worker that exited
  stay counted, so totals never go down when uvicorn replaces a worker. There
  are no gauges: a gauge added here must name its `multiprocess_mode` (in-flight
  requests would be `livesum`, a worker's own figure `liveall`, a shared
  setting `max`), and `close()` already drops a process's live gauges on exit.

Labels never carry secrets: `account` is the account's numeric id, never its
name; no user ids, key ids or key material appear. Cardinality is bounded:
model names are cut to `MAX_LABEL_CHARS`, and once a metric holds
`max_series` series, new ones fold into `model="other"` (metrics without a
model label fold `account` into "other" instead); the folded series are
bounded by the remaining labels (platforms, statuses, fault kinds, and the
admin-created accounts). The cap holds per process: N workers show at most N
times as many series, and a model one worker folded may have its own series
from another.
"""

from __future__ import annotations

import os
import threading
from typing import Generic, Iterable, TypeVar

from prometheus_client import CollectorRegistry, generate_latest, values
from prometheus_client import Counter as _PromCounter
from prometheus_client import Histogram as _PromHistogram
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

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

# What generate_latest writes: the text format 0.0.4 (prometheus_client's
# CONTENT_TYPE_LATEST names 1.0.0 in its newer releases, which it does not write).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The directory this process's values are written to, or None when they are kept in memory.

    prometheus_client picks its value class once, at import, from the
    environment: a directory named later (or unset later) would leave a scrape
    reading files nobody writes, so a mismatch stops the gateway's start.
    """
    directory = os.environ.get(MULTIPROC_ENV) or None
    in_files = bool(getattr(values.ValueClass, "_multiprocess", False))
    if in_files != (directory is not None):
        raise RuntimeError(
            f"{MULTIPROC_ENV} must be set (or unset) before prometheus_client is first imported: "
            f"it is {'unset' if directory is None else 'set'} now, and was not then"
        )
    return directory


def _cut(value: str) -> str:
    return value[:MAX_LABEL_CHARS]


def _account(account_id: int | None) -> str:
    return "" if account_id is None else str(int(account_id))


P = TypeVar("P", _PromCounter, _PromHistogram)


class _Family(Generic[P]):
    """One prometheus_client metric, its children by label values, and the cap on their number."""

    def __init__(self, metric: P, labels: tuple[str, ...], max_series: int) -> None:
        self.metric: P = metric
        self.max_series = max_series
        # The label to fold into "other" when the cap is reached.
        self._fold = labels.index("model") if "model" in labels else labels.index("account") if "account" in labels else None
        # Our own map of the children: one dict lookup per observation, where
        # prometheus_client's labels() validates and converts under a lock.
        self._children: dict[tuple[str, ...], P] = {}
        self._lock = threading.Lock()

    def child(self, values: tuple[str, ...]) -> P:
        found = self._children.get(values)
        if found is not None:
            return found
        with self._lock:
            key = values
            if values not in self._children and len(self._children) >= self.max_series and self._fold is not None:
                folded = list(values)
                folded[self._fold] = OTHER
                key = tuple(folded)
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = self.metric.labels(*key)
            return child


class _WithoutCreated:
    """The families' samples as a registry collects them, without the `_created` ones.

    prometheus_client adds a `_created` gauge (the series' start time) to each
    counter and histogram in memory, never in multiprocess mode: dropped so
    both modes answer the same families, and each family stays one series per
    label set.
    """

    def __init__(self, metrics: Iterable[_PromCounter | _PromHistogram]) -> None:
        self.metrics = tuple(metrics)

    def collect(self) -> Iterable[Metric]:
        for metric in self.metrics:
            for family in metric.collect():
                family.samples = [s for s in family.samples if not s.name.endswith("_created")]
                yield family


class Metrics:
    """The gateway's counters and histograms: this process's, or every worker's in multiprocess mode."""

    def __init__(self, *, max_series: int = DEFAULT_MAX_SERIES) -> None:
        self._directory = multiprocess_dir()

        def counter(name: str, help: str, labels: tuple[str, ...]) -> _Family[_PromCounter]:
            # registry=None: the metrics are read through our own registry below, never the global one.
            return _Family(_PromCounter(name, help, labels, registry=None), labels, max_series)

        def histogram(
            name: str, help: str, labels: tuple[str, ...], buckets: tuple[float, ...]
        ) -> _Family[_PromHistogram]:
            return _Family(_PromHistogram(name, help, labels, registry=None, buckets=buckets), labels, max_series)

        self.requests = counter(
            "aiproxy_requests_total",
            "Proxied requests, by the status sent to the client (0: no answer was sent).",
            ("platform", "model", "account", "status"),
        )
        self.tokens = counter(
            "aiproxy_tokens_total",
            "Tokens the upstreams reported, by kind (input, output, cache_creation, cache_read).",
            ("platform", "model", "account", "kind"),
        )
        self.upstream_errors = counter(
            "aiproxy_upstream_errors_total",
            "Failed upstream answers, by fault kind (each account tried counts, failed-over ones too).",
            ("platform", "account", "kind"),
        )
        self.cost = counter(
            "aiproxy_cost_usd_total",
            "List-price cost in USD of the proxied requests (models without a price count 0).",
            ("platform", "model", "account"),
        )
        self.duration = histogram(
            "aiproxy_request_duration_seconds",
            "Time from the request reaching the routes to its last byte sent.",
            ("platform",),
            DURATION_BUCKETS,
        )
        self.ttfb = histogram(
            "aiproxy_time_to_first_byte_seconds",
            "Time from the request reaching the routes to the first body byte sent.",
            ("platform",),
            TTFB_BUCKETS,
        )
        self._registry = CollectorRegistry()
        if self._directory is None:
            families = (self.requests, self.tokens, self.cost, self.upstream_errors, self.duration, self.ttfb)
            self._registry.register(_WithoutCreated(f.metric for f in families))
        else:
            # Read at each scrape: every process's files, this one's among them.
            # (prometheus_client.multiprocess is not annotated.)
            MultiProcessCollector(self._registry, path=self._directory)  # type: ignore[no-untyped-call]

    def observe(self, record: UsageRecord) -> None:
        """Count one finished request (a usage record)."""
        platform = _cut(record.platform)
        model = _cut(record.model or "")
        account = _account(record.account_id)
        self.requests.child((platform, model, account, str(record.status))).inc()
        for kind, field in TOKEN_KINDS:
            n = getattr(record, field, 0) or 0
            if n > 0:
                self.tokens.child((platform, model, account, kind)).inc(n)
        cost = record.cost_usd or 0.0
        if cost > 0:
            self.cost.child((platform, model, account)).inc(cost)
        self.duration.child((platform,)).observe(max(record.duration_ms, 0) / 1000)
        if record.ttfb_ms is not None:
            self.ttfb.child((platform,)).observe(max(record.ttfb_ms, 0) / 1000)

    def observe_fault(self, platform: str, account_id: int | None, kind: str) -> None:
        """Count one classified upstream answer; only error kinds are counted."""
        if kind not in ERROR_KINDS:
            return
        self.upstream_errors.child((_cut(platform), _account(account_id), kind)).inc()

    def render(self) -> str:
        """The text exposition of every family (every worker's, in multiprocess mode)."""
        return generate_latest(self._registry).decode()

    def close(self) -> None:
        """At the process's exit: in multiprocess mode, its live gauges leave the merged answer.

        Its counter and histogram files stay: what it counted was counted.
        """
        if self._directory is not None:
            mark_process_dead(os.getpid(), self._directory)  # type: ignore[no-untyped-call]  # (not annotated)
