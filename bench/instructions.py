"""Instructions per proxied request, counted by valgrind: `python bench/instructions.py`.

    .venv/bin/python bench/instructions.py [--requests 200,1000] [--concurrency 16]
        [--gateway LABEL=TREE ...] [--modes non-stream,stream] [--transport aiohttp]

A profiling aid next to bench.py whose numbers do not move with whatever else
runs on the machine. Each server (the bare forwarder, then each gateway) is
started by bench/serve.py as bench.py starts it, but under
`valgrind --tool=callgrind`, which counts the instructions the process (all
its threads) executes in user space. The fake upstream and the load generator
run natively. For each mode the server is warmed up, then its counters are
zeroed, N1 requests sent and the counts dumped, and the same for N2 requests
(`callgrind_control -z/-d`); (count(N2) - count(N1)) / (N2 - N1) is the count
per request, so the fixed costs of a run (the load generator's connections,
the zeroing and dumping) cancel.

Under valgrind a request takes ~30x longer, so work done per second rather
than per request would weigh ~30x more than natively, and would vary with the
machine's load. Two things keep it out:
- the gateway runs with its usage flush interval, key-cache TTL and account
  refresh set to an hour (patched into create_app's settings), so usage is
  written in full batches of usage_batch_size records, as a gateway under load
  writes it natively, and no re-read falls into a window. Keep N1 and N2
  multiples of the batch size (200): each window then writes the same batches.
- what the server executes per second with no load (uvicorn's 0.1 s tick,
  timers) is measured (`idle/s`) and subtracted for each window's duration.

`--gateway LABEL=TREE` adds a gateway from another checkout, e.g. an older
commit's (`git worktree add --detach ../before <commit>`): its own
bench/serve.py runs with its own aiproxy on PYTHONPATH, so each is measured
as that commit's bench measured it. The default is this checkout's.

Instructions are not time (no cache misses, no kernel work of syscalls), but
they repeat to within ~1% where CPU ms/request moves by ±5% between runs.
Compare the ratios to the first row, printed from the same run. A few minutes
per server.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import runpy
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench  # noqa: E402

bench.READY_TIMEOUT_S = 300.0  # start-up under valgrind: imports, seeding the database
bench.STOP_TIMEOUT_S = 120.0  # the gateway flushes its usage buffer on shutdown
HOUR = 3600.0


def serve_gateway(tree: Path, argv: list[str]) -> None:
    """Run TREE/bench/serve.py with the per-second work of the gateway moved out of reach (see above)."""
    import aiproxy

    build = aiproxy.create_app

    def create_app(stores: Any, settings: Any = None, **kwargs: Any) -> Any:
        settings = dataclasses.replace(
            settings, usage_flush_seconds=HOUR, key_cache_ttl=HOUR, account_refresh_seconds=HOUR
        )
        return build(stores, settings, **kwargs)

    aiproxy.create_app = create_app  # type: ignore[assignment]  # serve.py imports it when it builds
    # The tree's own bench modules, not this checkout's (imported with bench above).
    for name in ("bench", "serve", "forwarder", "loadgen"):
        sys.modules.pop(name, None)
    sys.path.remove(str(HERE))
    sys.argv = [str(tree / "bench" / "serve.py"), *argv]
    runpy.run_path(sys.argv[0], run_name="__main__")


def control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def dump_total(pid: int, out_file: Path, seen: set[Path]) -> int:
    """Dump the process's counters (callgrind_control -d) and return the instructions since the zeroing."""
    control(pid, "-d")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for path in set(out_file.parent.glob(out_file.name + ".*")) - seen:
            # `summary` is what was collected since the last zeroing; `totals` may
            # also hold costs of frames that were active at the zeroing.
            match = re.search(r"^summary: (\d+)", path.read_text(errors="replace"), re.MULTILINE)
            if match:
                seen.add(path)
                return int(match.group(1))
        time.sleep(0.1)
    raise RuntimeError(f"no callgrind dump from {pid}")


def measure(children: bench.Children, args: argparse.Namespace, label: str, argv: list[str],
            env: dict[str, str], path: str, headers: list[str], work: Path) -> dict[str, tuple[float, float]]:
    """Instructions per request (idle-corrected) and the idle rate of one server, per mode."""
    out_file = work / f"{label}.cg"
    port = bench.free_port()
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out_file}"]
    proc = children.start(label, [*valgrind, *argv, "--port", str(port)], env={"PYTHONHASHSEED": "0", **env})
    bench.wait_ready(children, proc, port, label)
    url = f"http://127.0.0.1:{port}{path}"
    seen: set[Path] = set()
    results: dict[str, tuple[float, float]] = {}
    try:
        control(proc.pid, "-i", "on")
        for mode in args.mode_list:
            stream = mode == "stream"

            def load(requests: int) -> None:
                load_args = argparse.Namespace(concurrency=args.concurrency, warmup=0, seconds=HOUR,
                                               requests=requests)
                r = bench.run_load(children, load_args, url, stream, headers, f"load-{label}-{mode}")
                if r.errors or r.requests != requests:
                    raise RuntimeError(f"{label} {mode}: {r.errors} of {r.requests} failed: {r.error_samples}")

            print(f"  {label} {mode} ...", file=sys.stderr, flush=True)
            load(args.warmup)
            time.sleep(1.0)  # what the warm-up left (closing connections) is done
            control(proc.pid, "-z")
            time.sleep(args.idle)
            idle = dump_total(proc.pid, out_file, seen) / args.idle
            counts = []
            for n in args.counts:
                control(proc.pid, "-z")
                start = time.monotonic()
                load(n)
                total = dump_total(proc.pid, out_file, seen)
                counts.append(total - idle * (time.monotonic() - start))
            (n1, n2), (c1, c2) = args.counts, counts
            results[mode] = ((c2 - c1) / (n2 - n1), idle)
    finally:
        children.stop(proc)
    return results


def main() -> int:
    if sys.argv[1:2] == ["--serve-gateway"]:  # internal: one gateway server, run under valgrind
        serve_gateway(Path(sys.argv[2]), sys.argv[3:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", default="200,1000", help="N1,N2: the two request counts (default 200,1000)")
    parser.add_argument("--warmup", type=int, default=200, help="uncounted requests first, per mode")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--transport", choices=("httpx", "aiohttp"), default="aiohttp")
    parser.add_argument("--modes", default="non-stream,stream")
    parser.add_argument("--gateway", action="append", metavar="LABEL=TREE",
                        help="a gateway to measure, from the checkout TREE (repeatable; default: this one)")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare forwarder")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds of no load measured per mode")
    parser.add_argument("--keep", type=Path, help="copy the callgrind dumps here (for callgrind_annotate)")
    args = parser.parse_args()
    args.counts = [int(n) for n in args.requests.split(",")]
    if len(args.counts) != 2 or not 0 <= args.counts[0] < args.counts[1]:
        parser.error("--requests takes N1,N2 with N1 < N2")
    args.mode_list = [m for m in bench.MODES if m in args.modes.split(",")]
    if shutil.which("callgrind_control") is None:
        parser.error("valgrind is not installed (apt-get install valgrind)")
    gateways = [g.split("=", 1) for g in (args.gateway or [f"gateway={HERE.parent}"])]

    rows: list[tuple[str, dict[str, tuple[float, float]]]] = []
    with tempfile.TemporaryDirectory(prefix="aiproxy-instr-") as tmp, bench.signals_as_exceptions():
        work = Path(tmp)
        children = bench.Children(work)
        try:
            up_port = bench.free_port()
            upstream = children.start("upstream", [bench.PYTHON, str(HERE / "upstream.py"), "--port", str(up_port)])
            bench.wait_ready(children, upstream, up_port, "upstream")
            up_url = f"http://127.0.0.1:{up_port}"
            if not args.no_bare:
                argv = [bench.PYTHON, str(HERE / "serve.py"), "bare", "--transport", args.transport,
                        "--upstream", up_url]
                rows.append(("bare forwarder", measure(children, args, "bare", argv, {}, "/v1/messages", [], work)))
            for label, tree in gateways:
                key = "ap-" + secrets.token_urlsafe(32)
                root = Path(tree).resolve()
                argv = [bench.PYTHON, __file__, "--serve-gateway", str(root), "gateway", "--transport",
                        args.transport, "--upstream", up_url, "--db", str(work / f"{label}.db")]
                env = {"BENCH_API_KEY": key, "PYTHONPATH": str(root)}
                rows.append((label, measure(children, args, label, argv, env, "/claude/v1/messages",
                                            [f"x-api-key: {key}"], work)))
        except (KeyboardInterrupt, bench.Interrupted):
            print("\ninterrupted", file=sys.stderr)
            return 130
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            print(f"\ninstruction count failed: {exc}", file=sys.stderr)
            return 2
        finally:
            children.stop_all()
            if args.keep is not None:
                args.keep.mkdir(parents=True, exist_ok=True)
                for dump in work.glob("*.cg.*"):
                    shutil.copy(dump, args.keep)

    n1, n2 = args.counts
    print(f"\ninstructions per request (callgrind, user space, all threads): transport {args.transport}, "
          f"{args.concurrency} connections, ({n2} - {n1} requests) after {args.warmup} warm-up\n")
    first_label, first = rows[0]
    print(f"{'server':<24} {'mode':<11} {'M instr/req':>11} {'vs ' + first_label:>20} {'idle M/s':>9}")
    for mode in args.mode_list:
        for label, result in rows:
            per, idle = result[mode]
            print(f"{label:<24} {mode:<11} {per / 1e6:>11.3f} {per / first[mode][0]:>19.3f}x {idle / 1e6:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
