"""The Prometheus exposition: parsed line by line, escaping, counters, histograms, the series cap,
multiprocess mode (two processes' counts in one answer, the same families as in memory), and
GET /metrics through the gateway (requests, tokens, a 429 counted; no secret shown)."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from aiproxy.stores.entities import UsageRecord
from aiproxy.usage.metrics import DURATION_BUCKETS, MAX_LABEL_CHARS, Metrics
from tests.fakes.anthropic_upstream import USAGE
from tests.harness import UPSTREAM_KEY, start_harness

# name{labels} value, labels being name="value" with \\, \" and \n escaped inside the quotes.
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)')


def unescape(value: str) -> str:
    return re.sub(r'\\(\\|"|n)', lambda m: {"\\": "\\", '"': '"', "n": "\n"}[m.group(1)], value)


def parse_labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        assert m is not None, f"bad labels at {text[pos:]!r}"
        labels[m.group(1)] = unescape(m.group(2))
        pos = m.end()
    return labels


def parse(text: str) -> tuple[dict[str, tuple[str, str]], list[tuple[str, dict[str, str], float]]]:
    """Every line is a HELP, a TYPE or a sample; returns {family: (type, help)} and the samples."""
    assert text.endswith("\n")
    families: dict[str, tuple[str, str]] = {}
    helps: dict[str, str] = {}
    samples: list[tuple[str, dict[str, str], float]] = []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, doc = line[7:].partition(" ")
            helps[name] = doc
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert kind in ("counter", "histogram"), line
            assert name in helps, "HELP comes before TYPE"
            families[name] = (kind, helps[name])
        else:
            m = SAMPLE.match(line)
            assert m is not None, f"not a sample line: {line!r}"
            name, labels, value = m.group(1), parse_labels(m.group(2) or ""), float(m.group(3))
            family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in families else name
            assert family in families, f"sample {name} before its TYPE"
            samples.append((name, labels, value))
    return families, samples


def value(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    found = [v for n, ls, v in samples if n == name and all(ls.get(k) == x for k, x in labels.items())]
    return sum(found)


def record(**fields: Any) -> UsageRecord:
    fields.setdefault("platform", "claude")
    fields.setdefault("endpoint", "/v1/messages")
    return UsageRecord(**fields)


def test_format_counters_and_help_types() -> None:
    m = Metrics()
    m.observe(record(model="claude-sonnet-4-5", account_id=3, status=200, input_tokens=10, output_tokens=5,
                     cache_creation_tokens=2, cache_read_tokens=7, duration_ms=1200, ttfb_ms=300, cost_usd=0.25))
    m.observe(record(model="claude-sonnet-4-5", account_id=3, status=200, input_tokens=1, output_tokens=1,
                     duration_ms=40, ttfb_ms=None, cost_usd=0.5))
    m.observe(record(model="claude-sonnet-4-5", account_id=4, status=429, duration_ms=5))
    m.observe_fault("claude", 4, "rate_limited")
    m.observe_fault("claude", 4, "rate_limited")
    m.observe_fault("claude", 3, "ok")  # not an error
    m.observe_fault("claude", 3, "client")  # the request's own fault
    families, samples = parse(m.render())
    assert families["aiproxy_requests_total"][0] == "counter"
    assert families["aiproxy_tokens_total"][0] == "counter"
    assert families["aiproxy_upstream_errors_total"][0] == "counter"
    assert families["aiproxy_cost_usd_total"][0] == "counter"
    assert families["aiproxy_request_duration_seconds"][0] == "histogram"
    assert families["aiproxy_time_to_first_byte_seconds"][0] == "histogram"
    assert value(samples, "aiproxy_requests_total", account="3", status="200") == 2
    assert value(samples, "aiproxy_requests_total", account="4", status="429") == 1
    assert value(samples, "aiproxy_requests_total") == 3
    assert value(samples, "aiproxy_tokens_total", account="3", kind="input") == 11
    assert value(samples, "aiproxy_tokens_total", kind="output") == 6
    assert value(samples, "aiproxy_tokens_total", kind="cache_creation") == 2
    assert value(samples, "aiproxy_tokens_total", kind="cache_read") == 7
    assert not [ls for n, ls, _ in samples if n == "aiproxy_tokens_total" and ls["account"] == "4"]  # no zero series
    assert value(samples, "aiproxy_cost_usd_total", platform="claude", model="claude-sonnet-4-5", account="3") == 0.75
    assert value(samples, "aiproxy_upstream_errors_total", platform="claude", account="4", kind="rate_limited") == 2
    assert value(samples, "aiproxy_upstream_errors_total") == 2
    for name, labels, _ in samples:
        assert not {"user", "user_id", "key", "key_id"} & set(labels)
        if name.startswith(("aiproxy_requests", "aiproxy_tokens")):
            assert set(labels) >= {"platform", "model", "account"}


def test_histogram_buckets_cumulative_with_inf_sum_count() -> None:
    m = Metrics()
    for ms in (30, 70, 70, 2000, 900_000):  # the last beyond every bucket
        m.observe(record(duration_ms=ms, ttfb_ms=ms // 10))
    _, samples = parse(m.render())
    buckets = [(ls["le"], v) for n, ls, v in samples if n == "aiproxy_request_duration_seconds_bucket"]
    assert [le for le, _ in buckets] == [repr(b) for b in DURATION_BUCKETS] + ["+Inf"]
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), "cumulative"
    assert dict(buckets)["0.05"] == 1 and dict(buckets)["0.1"] == 3 and dict(buckets)["2.5"] == 4
    assert dict(buckets)["600.0"] == 4 and dict(buckets)["+Inf"] == 5
    assert value(samples, "aiproxy_request_duration_seconds_count") == 5
    assert math.isclose(value(samples, "aiproxy_request_duration_seconds_sum"), 0.03 + 0.07 + 0.07 + 2 + 900)
    assert value(samples, "aiproxy_time_to_first_byte_seconds_count") == 5
    # A value on a bound falls into that bucket (le is "less or equal").
    m2 = Metrics()
    m2.observe(record(duration_ms=1000))
    _, s2 = parse(m2.render())
    assert value(s2, "aiproxy_request_duration_seconds_bucket", le="0.5") == 0
    assert value(s2, "aiproxy_request_duration_seconds_bucket", le="1.0") == 1
    # No ttfb (nothing was sent): no ttfb observation.
    assert value(s2, "aiproxy_time_to_first_byte_seconds_count") == 0


def test_label_escaping() -> None:
    m = Metrics()
    nasty = 'we"ird\\model\nname'
    m.observe(record(model=nasty, account_id=1, status=200, input_tokens=3))
    text = m.render()
    assert 'model="we\\"ird\\\\model\\nname"' in text  # backslash, quote and newline escaped
    assert "\nname" not in text.replace("\\nname", "")  # no raw newline inside a value
    _, samples = parse(text)
    assert value(samples, "aiproxy_requests_total", model=nasty) == 1
    assert value(samples, "aiproxy_tokens_total", model=nasty, kind="input") == 3


def test_cardinality_cap() -> None:
    m = Metrics(max_series=5)
    for i in range(50):
        m.observe(record(model=f"model-{i}", account_id=1, status=200, input_tokens=1))
    m.observe(record(model="x" * 5000, account_id=1, status=200))
    _, samples = parse(m.render())
    requests = [ls for n, ls, _ in samples if n == "aiproxy_requests_total"]
    assert len(requests) == 6  # the five first, then "other"
    assert value(samples, "aiproxy_requests_total", model="other") == 46
    assert value(samples, "aiproxy_requests_total") == 51  # nothing lost
    assert value(samples, "aiproxy_tokens_total", model="other") == 45
    # Model names are cut.
    m2 = Metrics()
    m2.observe(record(model="y" * 5000, status=200))
    _, s2 = parse(m2.render())
    assert [ls["model"] for n, ls, _ in s2 if n == "aiproxy_requests_total"] == ["y" * MAX_LABEL_CHARS]
    # A metric without a model label folds the account instead.
    m3 = Metrics(max_series=2)
    for account in range(10):
        m3.observe_fault("openai", account, "server_error")
    _, s3 = parse(m3.render())
    errors = [ls for n, ls, _ in s3 if n == "aiproxy_upstream_errors_total"]
    assert len(errors) == 3 and value(s3, "aiproxy_upstream_errors_total", account="other") == 8


# --- multiprocess mode ----------------------------------------------------------

# A worker in a process of its own: observes the records given as JSON, and with
# "render" prints the scrape it would answer. (prometheus_client reads
# PROMETHEUS_MULTIPROC_DIR when first imported: a fresh process is the only way.)
WORKER = """
import json, sys
from aiproxy.stores.entities import UsageRecord
from aiproxy.usage.metrics import Metrics
m = Metrics()
job = json.loads(sys.argv[1])
for fields in job["records"]:
    m.observe(UsageRecord(**fields))
for fault in job["faults"]:
    m.observe_fault(*fault)
if job["render"]:
    sys.stdout.write(m.render())
m.close()
"""


def run_worker(directory: Path, records: list[dict[str, Any]], faults: list[list[Any]],
               render: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    job = json.dumps({"records": records, "faults": faults, "render": render})
    return subprocess.run([sys.executable, "-c", WORKER, job], env=env, capture_output=True, text=True, timeout=60)


FIRST = [
    dict(platform="claude", endpoint="/v1/messages", model="claude-sonnet-4-5", account_id=3, status=200,
         input_tokens=10, output_tokens=5, cache_read_tokens=7, duration_ms=1200, ttfb_ms=300, cost_usd=0.25),
    dict(platform="openai", endpoint="/v1/chat/completions", model="gpt-5", account_id=4, status=429,
         duration_ms=30),
]
SECOND = [
    dict(platform="claude", endpoint="/v1/messages", model="claude-sonnet-4-5", account_id=3, status=200,
         input_tokens=1, output_tokens=2, cache_creation_tokens=4, duration_ms=70_000, ttfb_ms=None, cost_usd=0.5),
    dict(platform="claude", endpoint="/v1/messages", model='we"ird\\name', account_id=None, status=0,
         duration_ms=5),
]


def by_series(samples: list[tuple[str, dict[str, str], float]]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(n, tuple(sorted(ls.items()))): v for n, ls, v in samples}


def test_multiprocess_one_answer_for_every_process(tmp_path: Path) -> None:
    first = run_worker(tmp_path, FIRST, faults=[["openai", 4, "rate_limited"]])
    assert first.returncode == 0, first.stderr
    assert sorted(p.name.split("_")[0] for p in tmp_path.iterdir()) == ["counter", "histogram"]
    second = run_worker(tmp_path, SECOND, faults=[["claude", 3, "server_error"], ["claude", 3, "ok"]], render=True)
    assert second.returncode == 0, second.stderr
    assert len({p.name.split("_", 1)[1] for p in tmp_path.iterdir()}) == 2, "one file per process and type"
    families, merged = parse(second.stdout)

    # The same records in one process's memory answer the same families, series and values.
    alone = Metrics()
    for fields in FIRST + SECOND:
        alone.observe(record(**fields))
    alone.observe_fault("openai", 4, "rate_limited")
    alone.observe_fault("claude", 3, "server_error")
    memory_families, in_memory = parse(alone.render())
    assert families == memory_families
    got, want = by_series(merged), by_series(in_memory)
    assert got.keys() == want.keys()
    for series, v in want.items():
        assert math.isclose(got[series], v), series
    # The first process had exited: what it counted is in the second's answer.
    assert value(merged, "aiproxy_requests_total") == 4
    assert value(merged, "aiproxy_requests_total", account="3", status="200") == 2
    assert value(merged, "aiproxy_tokens_total", kind="input") == 11
    assert value(merged, "aiproxy_upstream_errors_total", platform="openai", kind="rate_limited") == 1
    assert value(merged, "aiproxy_request_duration_seconds_bucket", platform="claude", le="120.0") == 3
    assert value(merged, "aiproxy_request_duration_seconds_bucket", platform="claude", le="60.0") == 2


def test_multiprocess_directory_must_be_set_before_the_import(tmp_path: Path) -> None:
    late = "import os, sys, prometheus_client\nos.environ['PROMETHEUS_MULTIPROC_DIR'] = sys.argv[2]\n" + WORKER
    job = json.dumps({"records": [], "faults": [], "render": True})
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    done = subprocess.run([sys.executable, "-c", late, job, str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0
    assert "PROMETHEUS_MULTIPROC_DIR must be set (or unset) before prometheus_client is first imported" in done.stderr


# --- through the gateway ------------------------------------------------------


def ok_or_429(request: httpx.Request) -> httpx.Response:
    if request.url.host == "acct-1.test":
        return httpx.Response(429, json={"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}},
                              headers={"retry-after": "30"})
    body = json.loads(request.content)
    return httpx.Response(200, json={"type": "message", "model": body["model"], "usage": USAGE,
                                     "content": [{"type": "text", "text": "hi"}]})


@pytest.mark.anyio
async def test_metrics_route(anyio_backend: str) -> None:
    async with start_harness(httpx.MockTransport(ok_or_429), seed_account=False) as h:
        limited = await h.add_account(name="acct-1-secret-name", base_url="http://acct-1.test", priority=1)
        ok = await h.add_account(name="acct-2", base_url="http://acct-2.test", priority=50)
        body = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(3):
            r = await h.http.post("/claude/v1/messages", json=body, headers={"x-api-key": h.key})
            assert r.status_code == 200
        r = await h.http.get("/metrics")  # no key needed
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = r.text
        _, samples = parse(text)
        assert value(samples, "aiproxy_requests_total", platform="claude", model="claude-sonnet-4-5",
                     account=str(ok.id), status="200") == 3
        assert value(samples, "aiproxy_tokens_total", account=str(ok.id), kind="input") == 3 * USAGE["input_tokens"]
        assert value(samples, "aiproxy_tokens_total", account=str(ok.id), kind="output") == 3 * USAGE["output_tokens"]
        # The first request met the 429 and failed over; the account then rested.
        assert value(samples, "aiproxy_upstream_errors_total", platform="claude", account=str(limited.id),
                     kind="rate_limited") >= 1
        assert value(samples, "aiproxy_request_duration_seconds_count", platform="claude") == 3
        for secret in (h.key, UPSTREAM_KEY, "acct-1-secret-name", "test-jwt-secret"):
            assert secret not in text
        assert (await h.http.post("/metrics")).status_code == 405
