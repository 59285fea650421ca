"""The gateway's own Python cost per request, without sockets: `python bench/inproc.py [--profile]`.

A profiling aid next to bench.py. The gateway and the bare forwarder are
called directly as ASGI apps in one process, with an httpx.MockTransport as
the upstream answering the same canned Messages JSON and SSE stream as
bench/upstream.py. No server, no network, no other process: what is left is
each app's own code, measured as CPU time per request and, with --profile,
broken down by function with cProfile.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import httpx
import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import ablate  # noqa: E402
import serve  # noqa: E402
from loadgen import request_body  # noqa: E402
from upstream import EVENTS, HEADERS, MESSAGE  # noqa: E402

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
API_KEY = "ap-inprocbenchkeyinprocbenchkeyinprocbenchkey"


class _Events(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        for event in EVENTS:
            yield event


def upstream(request: httpx.Request) -> httpx.Response:
    if orjson.loads(request.content).get("stream"):
        return httpx.Response(200, headers={**HEADERS, "content-type": "text/event-stream"}, stream=_Events())
    return httpx.Response(200, headers={**HEADERS, "content-type": "application/json"}, content=MESSAGE)


async def call(app: ASGIApp, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """One request through the app as uvicorn would make it; returns the status."""
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "headers": headers, "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
    }
    sent_request = False
    done = asyncio.Event()
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()  # like uvicorn: a disconnect only once the response is complete
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif not message.get("more_body", False):
            done.set()

    await app(scope, receive, send)
    return status


async def drive(app: ASGIApp, path: str, headers: list[tuple[bytes, bytes]], stream: bool,
                requests: int, concurrency: int) -> float:
    """CPU seconds per request over `requests` calls, `concurrency` at a time."""
    body = request_body(stream)
    all_headers = [(b"host", b"bench"), (b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode()), *headers]
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            status = await call(app, path, body, all_headers)
            if status != 200:
                raise RuntimeError(f"{path} answered {status}")

    start = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.process_time() - start) / requests


async def main_async(args: argparse.Namespace) -> None:
    from forwarder import create_forwarder

    with tempfile.TemporaryDirectory(prefix="aiproxy-inproc-") as tmp:
        os.environ["BENCH_API_KEY"] = API_KEY  # what build_gateway seeds
        # build_gateway seeds with asyncio.run, which cannot nest: seed in a thread.
        wrap = ablate.patch(args.variant)
        gateway = await asyncio.to_thread(
            serve.build_gateway, str(Path(tmp) / "gw.db"), "http://upstream.bench", httpx.MockTransport(upstream)
        )
        gateway_path = "/v1/messages" if args.variant == "no-mount" else "/claude/v1/messages"
        bare = create_forwarder(httpx.AsyncClient(transport=httpx.MockTransport(upstream)), "http://upstream.bench")
        targets: list[tuple[str, Any, str, list[tuple[bytes, bytes]]]] = [
            ("bare forwarder", bare, "/v1/messages", []),
            (f"gateway {args.variant}", wrap(gateway), gateway_path, [(b"x-api-key", API_KEY.encode())]),
        ]
        async with bare.router.lifespan_context(bare), gateway.router.lifespan_context(gateway):
            for stream in (False, True):
                mode = "stream" if stream else "non-stream"
                for name, app, path, headers in targets:
                    await drive(app, path, headers, stream, 300, args.concurrency)  # warm-up
                    cpu = await drive(app, path, headers, stream, args.requests, args.concurrency)
                    print(f"{name:<24} {mode:<11} {cpu * 1e6:8.1f} us CPU/request")
            if args.profile:
                _, app, path, headers = targets[1] if args.profile == "gateway" else targets[0]
                profiler = cProfile.Profile()
                profiler.enable()
                await drive(app, path, headers, args.profile_stream, args.requests, args.concurrency)
                profiler.disable()
                if args.dump:
                    profiler.dump_stats(args.dump)  # for snakeviz, or pstats by hand
                out = io.StringIO()
                stats = pstats.Stats(profiler, stream=out).strip_dirs()
                stats.sort_stats(args.sort).print_stats(args.top)
                print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--variant", default="full", choices=ablate.VARIANTS,
                        help="the gateway with one part taken away (see bench/ablate.py)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--profile", nargs="?", const="gateway", choices=("gateway", "bare"),
                        help="cProfile one app (default: the gateway) after the timings")
    parser.add_argument("--profile-stream", action="store_true", help="profile streaming requests")
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumulative)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--dump", help="also write the raw cProfile stats to this file")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
