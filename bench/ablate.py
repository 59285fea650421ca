"""Where the gateway's per-request cost goes, by taking one part away at a time.

    .venv/bin/python bench/ablate.py [--seconds 6] [--transport aiohttp] [--rounds 2]

A profiling aid, not part of the benchmark: it runs the gateway of bench.py
with one part disabled by monkeypatching (in the server process only) and
reports the server's CPU time per request next to the full gateway's and the
bare forwarder's. The difference is what that part costs. CPU per request is
used because on a shared 2-core machine it is far steadier than req/s.

Variants:
  full            the gateway as bench.py runs it
  no-usage-write  usage records are made but not buffered or written to SQLite
  no-watcher      no disconnect-watcher task (and no task group) around the upstream exchange
  no-middleware   the five middleware replaced by pass-throughs (relay and routing only)
  no-mount        the gateway's routes without the Starlette app + Mount layer in front
  usage-encode    usage batches are encoded into rows but not sent to SQLite
  usage-one-conn  usage batches go through one long-lived aiosqlite connection (executemany),
                  instead of `databases` opening a connection (and its thread) per batch
  usage-multirow  as usage-one-conn, but each batch is one multi-row INSERT statement
  usage-inline    usage batches written on the event loop thread through one plain sqlite3
                  connection (synchronous=NORMAL, so a commit does not wait for fsync): no
                  second thread competing for the GIL, at the price of ~ms loop stalls
  usage-executor  each batch written by one call in a worker thread (one thread hop per batch,
                  one multi-row INSERT, one persistent sqlite3 connection, synchronous=NORMAL)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

VARIANTS = ("full", "no-usage-write", "no-watcher", "no-middleware", "no-mount",
            "usage-encode", "usage-one-conn", "usage-multirow", "usage-inline", "usage-executor")


# --- server side: patches applied before the gateway is built ------------------------------


def _passthrough(app: Any, **kwargs: Any) -> Any:
    return app


def _patch_add_many(variant: str) -> None:
    import asyncio
    import itertools
    import sqlite3
    from concurrent.futures import ThreadPoolExecutor

    import aiosqlite

    from aiproxy.stores.sql import SQLUsageStore

    connections: dict[int, aiosqlite.Connection] = {}

    async def connection(store: Any) -> aiosqlite.Connection:
        conn = connections.get(id(store))
        if conn is None:
            conn = await aiosqlite.connect(store._db.url.database, isolation_level=None)
            connections[id(store)] = conn
        return conn

    inline: dict[int, sqlite3.Connection] = {}
    executor = ThreadPoolExecutor(max_workers=1)  # one writer: SQLite serializes writes anyway

    def write_sync(store: Any, rows: list[tuple[Any, ...]], multirow: bool) -> None:
        db = inline.get(id(store))
        if db is None:
            # check_same_thread off: the executor may use any of its threads (one at a time).
            db = inline[id(store)] = sqlite3.connect(store._db.url.database, isolation_level=None,
                                                     check_same_thread=False)
            db.execute("PRAGMA synchronous=NORMAL")
        db.execute("BEGIN")
        if multirow:
            head, _, values = store._insert_sql.partition(" VALUES ")
            db.execute(head + " VALUES " + ",".join([values] * len(rows)), list(itertools.chain.from_iterable(rows)))
        else:
            db.executemany(store._insert_sql, rows)
        db.execute("COMMIT")

    async def add_many(self: Any, records: Any) -> None:
        rows = [self._encode(r) for r in records]
        if variant == "usage-encode" or not rows:
            return
        if variant == "usage-inline":
            write_sync(self, rows, multirow=False)
            return
        if variant == "usage-executor":
            await asyncio.get_running_loop().run_in_executor(executor, write_sync, self, rows, True)
            return
        conn = await connection(self)
        await conn.execute("BEGIN")
        if variant == "usage-one-conn":
            await conn.executemany(self._insert_sql, rows)
        else:
            head, _, values = self._insert_sql.partition(" VALUES ")
            await conn.execute(head + " VALUES " + ",".join([values] * len(rows)),
                               list(itertools.chain.from_iterable(rows)))
        await conn.execute("COMMIT")

    SQLUsageStore.add_many = add_many  # type: ignore[method-assign]


def patch(variant: str) -> Callable[[Any], Any]:
    """Apply `variant`'s patch; return a wrapper for the built app (identity unless no-mount)."""
    import aiproxy.relay
    import aiproxy.stack
    from aiproxy.usage.writer import UsageWriter

    if variant == "no-usage-write":
        UsageWriter.submit = lambda self, record: None  # type: ignore[method-assign]
    elif variant == "no-watcher":

        async def run(self: Any, adapter: Any, account: Any, credentials: Any, call: Any) -> Any:
            return await self._forward(adapter, account, credentials, call)  # the attempt's Outcome

        aiproxy.relay._Exchange.run = run  # type: ignore[method-assign]
    elif variant == "no-middleware":
        for name in ("ErrorShieldMiddleware", "KeyAuthMiddleware", "PermissionMiddleware",
                     "QuotaMiddleware", "UsageMiddleware"):
            setattr(aiproxy.stack, name, _passthrough)  # the layers look them up there
    elif variant.startswith("usage-"):
        _patch_add_many(variant)
    elif variant == "no-mount":

        def unmount(app: Any) -> Any:
            # The /claude Mount's inner app, served at the root; the lifespan
            # still comes from the full app (uvicorn runs it on this wrapper).
            from starlette.routing import Mount

            inner = next(r.app for r in app.routes if isinstance(r, Mount) and r.path == "/claude")

            async def asgi(scope: Any, receive: Any, send: Any) -> None:
                if scope["type"] == "lifespan":
                    await app(scope, receive, send)
                else:
                    await inner(scope, receive, send)

            return asgi

        return unmount
    elif variant != "full":
        raise SystemExit(f"unknown variant {variant!r}")
    return lambda app: app


def serve(variant: str, port: int, upstream: str, transport: str, db: str) -> None:
    import serve as bench_serve
    import uvicorn

    wrap = patch(variant)
    app = wrap(bench_serve.build_gateway(db, upstream, transport))
    loop, http = bench_serve.server_impl()
    uvicorn.run(app, host="127.0.0.1", port=port, loop=loop, http=http,
                access_log=False, log_level="warning", lifespan="on")


# --- orchestration -------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # internal: run one variant's server
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--transport", choices=("httpx", "aiohttp"), default="aiohttp")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="repeat every variant, report the median")
    parser.add_argument("--variants", default=",".join(("bare", *VARIANTS)), help="comma-separated subset")
    parser.add_argument("--modes", default=",".join(("non-stream", "stream")), help="comma-separated subset")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.upstream, args.transport, args.db)
        return 0

    import bench

    args.requests = None
    variants = [v for v in ("bare", *VARIANTS) if v in args.variants.split(",")]
    modes = [m for m in bench.MODES if m in args.modes.split(",")]
    if "full" not in variants:
        variants.insert(0, "full")  # the reference every row is compared with
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="aiproxy-ablate-") as tmp, bench.signals_as_exceptions():
        children = bench.Children(Path(tmp))
        try:
            up_port = bench.free_port()
            upstream = children.start("upstream", [bench.PYTHON, str(HERE / "upstream.py"), "--port", str(up_port)])
            bench.wait_ready(children, upstream, up_port, "upstream")
            up_url = f"http://127.0.0.1:{up_port}"
            for round_no in range(args.rounds):
                for variant in variants:
                    port = bench.free_port()
                    if variant == "bare":
                        argv = [bench.PYTHON, str(HERE / "serve.py"), "bare", "--transport", args.transport]
                        path, headers, env = "/v1/messages", [], {}
                    else:
                        argv = [bench.PYTHON, str(HERE / "ablate.py"), "--serve", variant, "--transport",
                                args.transport, "--db", str(Path(tmp) / f"{variant}-{round_no}.db")]
                        path = "/v1/messages" if variant == "no-mount" else "/claude/v1/messages"
                        key = "ap-" + os.urandom(24).hex()
                        headers, env = [f"x-api-key: {key}"], {"BENCH_API_KEY": key}
                    argv += ["--port", str(port), "--upstream", up_url]
                    proc = children.start(f"{variant}-{round_no}", argv, env=env)
                    bench.wait_ready(children, proc, port, variant)
                    for mode in modes:
                        print(f"  round {round_no + 1}: {variant} {mode} ...", file=sys.stderr, flush=True)
                        before = bench.cpu_seconds(proc.pid)
                        r = bench.run_load(children, args, f"http://127.0.0.1:{port}{path}", mode == "stream",
                                           headers, f"load-{variant}-{mode}-{round_no}")
                        if r.errors or r.warmup_errors:
                            raise RuntimeError(f"{variant} {mode}: requests failed: {r.error_samples}")
                        cpu = (bench.cpu_seconds(proc.pid) - before) * 1000 / (r.requests + r.warmup_requests)
                        results.setdefault((variant, mode), []).append((cpu, r.rps))
                    children.stop(proc)
        except (KeyboardInterrupt, bench.Interrupted):
            print("\ninterrupted", file=sys.stderr)
            return 130
        except RuntimeError as exc:
            print(f"\nablation failed: {exc}", file=sys.stderr)
            return 2
        finally:
            children.stop_all()

    print(f"\ntransport {args.transport}, {args.concurrency} connections, {args.seconds:g} s per row, "
          f"median of {args.rounds} round(s)\n")
    print(f"{'variant':<16} {'mode':<11} {'CPU ms/req':>10} {'vs full':>8} {'req/s':>7}")
    for mode in modes:
        full = statistics.median(c for c, _ in results[("full", mode)])
        for variant in variants:
            runs = results[(variant, mode)]
            cpu = statistics.median(c for c, _ in runs)
            rps = statistics.median(r for _, r in runs)
            print(f"{variant:<16} {mode:<11} {cpu:>10.3f} {cpu - full:>+8.3f} {rps:>7.0f}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
