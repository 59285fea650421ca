"""The load generator: N concurrent workers POSTing Messages requests over keep-alive connections.

`python bench/loadgen.py --url URL [--stream] [--format messages|chat] [--concurrency 16] [--seconds S | --requests N]`
prints one JSON object with the counts and latencies of the measured window.
It runs in its own process so that its CPU use is the same, and separate from
the server's, for every target. `--format chat` sends the same small
conversation as an OpenAI Chat Completions request instead (a stream asking
for the usage chunk, as clients that count tokens do).

A request counts as failed unless it answers 200 with a complete body (a
Messages or chat JSON with usage, or an SSE stream through message_stop or
`data: [DONE]`), so a gateway answering errors quickly cannot pass for a fast one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import asdict, dataclass, field

import aiohttp

MAX_ERROR_SAMPLES = 5


@dataclass
class Result:
    requests: int = 0  # measured (started after the warm-up)
    errors: int = 0  # measured requests that failed
    warmup_requests: int = 0
    warmup_errors: int = 0
    elapsed_s: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    mean_ms: float = 0.0
    time_capped: bool = False  # --requests was given but the time cap ended the run first
    error_samples: list[str] = field(default_factory=list)


FORMATS = ("messages", "chat")
# What only a complete answer holds, per format and stream or not.
COMPLETE_MARKERS = {
    ("messages", False): b'"usage"',
    ("messages", True): b"event: message_stop",
    ("chat", False): b'"usage"',
    ("chat", True): b"data: [DONE]",
}


def request_body(stream: bool, client_format: str = "messages") -> bytes:
    if client_format == "chat":
        body: dict[str, object] = {
            "model": "gpt-bench-1",
            "max_tokens": 64,
            "messages": [{"role": "user", "content": "Say hello in five words."}],
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        return json.dumps(body).encode()
    return json.dumps({
        "model": "claude-bench-1",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Say hello in five words."}],
        "stream": stream,
    }).encode()


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(url: str, headers: dict[str, str], stream: bool, concurrency: int, warmup: float,
              seconds: float, max_requests: int | None, client_format: str = "messages") -> Result:
    body = request_body(stream, client_format)
    marker = COMPLETE_MARKERS[client_format, stream]
    result = Result()
    latencies: list[float] = []
    started = 0  # measured requests started, for --requests
    last_done = 0.0

    def failed(why: str, measured: bool) -> None:
        if measured:
            result.errors += 1
        else:
            result.warmup_errors += 1
        if len(result.error_samples) < MAX_ERROR_SAMPLES and why not in result.error_samples:
            result.error_samples.append(why)

    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as session:
        begin = time.perf_counter()
        measure_from = begin + warmup
        deadline = measure_from + seconds

        async def worker() -> None:
            nonlocal started, last_done
            while True:
                t0 = time.perf_counter()
                if t0 >= deadline or (max_requests is not None and started >= max_requests):
                    return
                measured = t0 >= measure_from
                if measured:
                    started += 1
                    result.requests += 1
                else:
                    result.warmup_requests += 1
                try:
                    async with session.post(url, data=body) as response:
                        data = await response.read()
                        status = response.status
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    failed(f"{type(exc).__name__}: {exc}", measured)
                    continue
                t1 = time.perf_counter()
                if status != 200 or marker not in data:
                    failed(f"HTTP {status}: {data[:200]!r}", measured)
                elif measured:
                    # Latencies and throughput are of successful requests only.
                    latencies.append(t1 - t0)
                    last_done = max(last_done, t1)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.time_capped = max_requests is not None and started < max_requests
    # Up to the last success; with none at all, up to now (the rate is 0 anyway).
    result.elapsed_s = max((last_done or time.perf_counter()) - measure_from, 1e-9)
    ok = result.requests - result.errors
    result.rps = ok / result.elapsed_s
    latencies.sort()
    result.p50_ms = percentile(latencies, 0.50) * 1000
    result.p99_ms = percentile(latencies, 0.99) * 1000
    result.mean_ms = sum(latencies) / len(latencies) * 1000 if latencies else 0.0
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--header", action="append", default=[], help="'name: value', repeatable")
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--format", choices=FORMATS, default="messages", help="the request's wire format")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of uncounted load first")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds (a cap when --requests is given)")
    parser.add_argument("--requests", type=int, help="stop after this many measured requests")
    args = parser.parse_args()
    headers = {"content-type": "application/json"}
    for item in args.header:
        name, _, value = item.partition(":")
        headers[name.strip()] = value.strip()
    result = asyncio.run(run(args.url, headers, args.stream, args.concurrency, args.warmup, args.seconds, args.requests,
                             args.format))
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
