"""Per-request overhead of the gateway, against a bare forwarder and the upstream itself.

    .venv/bin/python bench/bench.py [--requests N] [--concurrency 16] [--seconds S]

One run measures, at the same concurrency and with the same load generator:
the fake upstream hit directly; a bare Starlette forwarder (bench/forwarder.py)
on httpx's own transport and on httpx-aiohttp (and, for reference, on aiohttp
directly); and the gateway (aiproxy.create_app, every middleware on, SQLite
stores) on the same two transports. The bridged rows put the gateway's one
account in another wire format than the client's (an Anthropic client on an
OpenAI chat account; an OpenAI chat client, `--format chat` in the load
generator, on a Claude account, next to the native chat row), each printed as a
multiple of its native row's CPU per request. Each server is its own process, one
uvicorn worker, started only for its measurements so that it competes for the
CPU with nothing but the upstream and the load generator. See bench/README.md.

Exits non-zero if any request failed, so a broken gateway is not benchmarked.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import platform
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # run as a script: find the bench modules

from loadgen import Result  # noqa: E402
from serve import server_impl  # noqa: E402

PYTHON = sys.executable
READY_TIMEOUT_S = 30.0
REQUESTS_CAP_S = 15.0  # per row, when --requests is given: keeps a whole run within minutes
STOP_TIMEOUT_S = 10.0  # a gateway flushes its usage buffer on shutdown
MODES = ("non-stream", "stream")


@dataclass(frozen=True)
class Target:
    id: str
    label: str
    transport: str
    server: str | None  # serve.py target; None: the load generator hits the upstream itself
    path: str = "/v1/messages"
    gateway: bool = False
    client: str = "messages"  # the load generator's request format (loadgen.FORMATS)


TARGETS = (
    Target("upstream", "upstream (direct)", "-", None),
    Target("bare-httpx", "bare forwarder", "httpx", "bare"),
    Target("bare-aiohttp", "bare forwarder", "aiohttp", "bare"),
    Target("bare-aiohttp-direct", "bare forwarder", "aiohttp direct", "bare-aiohttp"),
    Target("gateway-httpx", "gateway", "httpx", "gateway", "/claude/v1/messages", True),
    Target("gateway-aiohttp", "gateway", "aiohttp", "gateway", "/claude/v1/messages", True),
    # An Anthropic client served by an OpenAI account: request, answer and stream translated.
    Target("gateway-bridged-aiohttp", "gateway, bridged to chat", "aiohttp", "gateway-bridged",
           "/claude/v1/messages", True),
    # An OpenAI chat client: forwarded to an OpenAI account as it is (the native
    # row), and served by a Claude account, translated to Messages and back.
    Target("gateway-chat-aiohttp", "gateway, chat client", "aiohttp", "gateway-chat",
           "/openai/v1/chat/completions", True, "chat"),
    Target("gateway-chat-bridged-aiohttp", "gateway, chat to messages", "aiohttp", "gateway-chat-bridged",
           "/openai/v1/chat/completions", True, "chat"),
)
# Each bridged row, the native row of its client format, and what the ratio's heading says.
BRIDGED = (
    ("gateway-bridged-aiohttp", "gateway-aiohttp", "bridged (Anthropic client, OpenAI chat account) / native gateway"),
    ("gateway-chat-bridged-aiohttp", "gateway-chat-aiohttp",
     "bridged (OpenAI chat client, Anthropic account) / native chat gateway"),
)


@dataclass
class Measurement:
    target: Target
    mode: str
    result: Result
    cpu_ms_per_req: float  # the server process's CPU time (all threads) per request sent

    @property
    def failures(self) -> int:
        return self.result.errors + self.result.warmup_errors


@dataclass
class ServerReport:
    label: str
    peak_rss_kb: int | None
    notes: list[str] = field(default_factory=list)


class Interrupted(Exception):
    """SIGTERM, turned into an exception so the cleanup below still runs."""


def _die_with_parent() -> None:
    # Runs in the child before exec: ask Linux to SIGTERM it if the bench dies
    # without cleaning up (SIGKILL, a crash), so no server outlives a run.
    with contextlib.suppress(Exception):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Children:
    """Every process the bench starts, so that all of them are stopped whatever happens."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self._procs: dict[int, tuple[str, subprocess.Popen[bytes], IO[bytes]]] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None,
              stdout: int | IO[bytes] | None = None) -> subprocess.Popen[bytes]:
        log = open(self._log_dir / f"{name}.log", "wb")
        proc = subprocess.Popen(
            argv,
            stdout=stdout if stdout is not None else log,
            stderr=log,
            env={**os.environ, **(env or {})},
            # Its own session: Ctrl-C reaches only the bench, which then stops
            # the children in order (a gateway must get to flush its usage).
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self._procs[proc.pid] = (name, proc, log)
        return proc

    def log_tail(self, proc: subprocess.Popen[bytes], lines: int = 20) -> str:
        name = self._procs[proc.pid][0] if proc.pid in self._procs else "?"
        path = self._log_dir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        entry = self._procs.pop(proc.pid, None)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # uvicorn and aiohttp shut down cleanly on it
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if entry is not None:
            entry[2].close()

    def stop_all(self) -> None:
        for _, proc, _ in list(self._procs.values()):
            self.stop(proc)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(children: Children, proc: subprocess.Popen[bytes], port: int, name: str) -> None:
    """Wait until the port accepts connections (uvicorn binds only after its lifespan started)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} at startup:\n{children.log_tail(proc)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not listen on {port} within {READY_TIMEOUT_S}s:\n{children.log_tail(proc)}")


def peak_rss_kb(pid: int) -> int | None:
    """VmHWM: the process's peak resident memory so far (readable only while it runs)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (/proc/<pid>/stat fields 14 and 15)."""
    # The command name (field 2) may hold spaces; the fields after its ')' are fixed.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_load(children: Children, args: argparse.Namespace, url: str, stream: bool,
             headers: list[str], name: str, client: str = "messages") -> Result:
    argv = [PYTHON, str(HERE / "loadgen.py"), "--url", url, "--concurrency", str(args.concurrency),
            "--warmup", str(args.warmup), "--seconds", str(args.seconds), "--format", client]
    if args.requests is not None:
        argv += ["--requests", str(args.requests)]
    if stream:
        argv.append("--stream")
    for header in headers:
        argv += ["--header", header]
    with tempfile.TemporaryFile() as out:
        proc = children.start(name, argv, stdout=out)
        try:
            # Requests time out after 30 s in the load generator; past this, something hangs.
            proc.wait(args.warmup + args.seconds + 45)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"load generator for {name} did not finish in time") from None
        finally:
            children.stop(proc)
        if proc.returncode != 0:
            raise RuntimeError(f"load generator for {name} failed ({proc.returncode}):\n{children.log_tail(proc)}")
        out.seek(0)
        return Result(**json.loads(out.read()))


def usage_rows(db_path: Path) -> int:
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        return int(db.execute("SELECT COUNT(*) FROM usage_records").fetchone()[0])


def measure_target(children: Children, args: argparse.Namespace, target: Target,
                   upstream: subprocess.Popen[bytes], upstream_url: str,
                   work_dir: Path) -> tuple[list[Measurement], ServerReport | None]:
    headers: list[str] = []
    proc = None
    db_path = work_dir / f"{target.id}.db"
    if target.server is None:
        base = upstream_url
    else:
        port = free_port()
        argv = [PYTHON, str(HERE / "serve.py"), target.server, "--port", str(port), "--upstream", upstream_url]
        env: dict[str, str] = {}
        if target.server == "bare":
            argv += ["--transport", target.transport]
        if target.gateway:
            api_key = "ap-" + secrets.token_urlsafe(32)  # the shape aiproxy.security.api_keys generates
            argv += ["--transport", target.transport, "--db", str(db_path)]
            env["BENCH_API_KEY"] = api_key
            headers.append(f"x-api-key: {api_key}")
        proc = children.start(target.id, argv, env=env)
        wait_ready(children, proc, port, target.id)
        base = f"http://127.0.0.1:{port}"
    measurements = []
    server_pid = proc.pid if proc is not None else upstream.pid
    for mode in MODES:
        print(f"  {target.label} [{target.transport}] {mode} ...", file=sys.stderr, flush=True)
        cpu_before = cpu_seconds(server_pid)
        result = run_load(children, args, base + target.path, mode == "stream", headers, f"load-{target.id}-{mode}",
                          target.client)
        # CPU per request barely depends on what else runs on the machine,
        # unlike req/s: the steadier measure of per-request overhead.
        sent = result.requests + result.warmup_requests
        cpu_ms = (cpu_seconds(server_pid) - cpu_before) * 1000 / max(sent, 1)
        measurements.append(Measurement(target, mode, result, cpu_ms))
    if proc is None:
        return measurements, None
    report = ServerReport(f"{target.label} [{target.transport}]", peak_rss_kb(proc.pid))
    children.stop(proc)
    if target.gateway:
        # Every request that reached the routes must have left a record.
        sent = sum(m.result.requests + m.result.warmup_requests for m in measurements)
        rows = usage_rows(db_path)
        report.notes.append(f"usage rows written {rows} of {sent} requests")
    return measurements, report


def fmt_row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))


def print_table(measurements: list[Measurement]) -> None:
    head = ["target", "transport", "mode", "req/s", "p50 ms", "p99 ms", "server CPU ms/req", "errors"]
    rows = []
    for m in measurements:
        r = m.result
        rows.append([m.target.label, m.target.transport, m.mode, f"{r.rps:.0f}", f"{r.p50_ms:.2f}",
                     f"{r.p99_ms:.2f}", f"{m.cpu_ms_per_req:.3f}", str(m.failures)])
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    print(fmt_row(head, widths))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(fmt_row(row, widths))


def print_ratios(measurements: list[Measurement]) -> None:
    by_key = {(m.target.id, m.mode): m for m in measurements}
    lines = []
    for transport in ("httpx", "aiohttp"):
        for mode in MODES:
            gw, bare = by_key.get((f"gateway-{transport}", mode)), by_key.get((f"bare-{transport}", mode))
            if gw is None or bare is None or not (bare.result.rps and bare.result.p50_ms and bare.cpu_ms_per_req):
                continue
            rps = gw.result.rps / bare.result.rps
            p50 = gw.result.p50_ms / bare.result.p50_ms
            cpu = gw.cpu_ms_per_req / bare.cpu_ms_per_req
            lines.append(f"  {transport:<8} {mode:<11} req/s x{rps:.2f}   p50 x{p50:.2f}   server CPU/req x{cpu:.2f}")
    if lines:
        print("\ngateway / bare forwarder, same transport (req/s: higher is better; p50, CPU: lower is better)")
        print("\n".join(lines))
    for bridged_id, native_id, heading in BRIDGED:
        bridged_lines = []
        for mode in MODES:
            bridged, native = by_key.get((bridged_id, mode)), by_key.get((native_id, mode))
            if bridged is not None and native is not None and native.cpu_ms_per_req:
                ratio = bridged.cpu_ms_per_req / native.cpu_ms_per_req
                bridged_lines.append(f"  aiohttp  {mode:<11} server CPU/req x{ratio:.2f}")
        if bridged_lines:
            print(f"\n{heading}, same run")
            print("\n".join(bridged_lines))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent client connections (default 16)")
    parser.add_argument("--seconds", type=float, help="measured seconds per target and mode (default 8; "
                        f"with --requests, a time cap, default {REQUESTS_CAP_S:g})")
    parser.add_argument("--requests", type=int, help="measured requests per target and mode, instead of a duration")
    parser.add_argument("--warmup", type=float, default=1.0, help="uncounted seconds before each measurement")
    parser.add_argument("--targets", default=",".join(t.id for t in TARGETS),
                        help=f"comma-separated subset of: {', '.join(t.id for t in TARGETS)}")
    args = parser.parse_args()
    if args.seconds is None:
        args.seconds = REQUESTS_CAP_S if args.requests is not None else 8.0
    wanted = set(args.targets.split(","))
    unknown = wanted - {t.id for t in TARGETS}
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    args.target_list = [t for t in TARGETS if t.id in wanted]
    return args


@contextlib.contextmanager
def signals_as_exceptions() -> Iterator[None]:
    """Ctrl-C and SIGTERM raise, so the `finally` that stops the children runs.

    SIGINT is set explicitly: a shell starting the bench in the background
    hands it over ignored, and Python then never raises KeyboardInterrupt.
    """

    def on_term(signum: int, frame: object) -> None:
        raise Interrupted()

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main() -> int:
    args = parse_args()
    loop, http = server_impl()
    started = time.monotonic()
    measurements: list[Measurement] = []
    reports: list[ServerReport] = []
    with tempfile.TemporaryDirectory(prefix="aiproxy-bench-") as tmp, signals_as_exceptions():
        work_dir = Path(tmp)
        children = Children(work_dir)
        try:
            upstream_port = free_port()
            upstream = children.start("upstream", [PYTHON, str(HERE / "upstream.py"), "--port", str(upstream_port)])
            wait_ready(children, upstream, upstream_port, "upstream")
            upstream_url = f"http://127.0.0.1:{upstream_port}"
            for target in args.target_list:
                found, report = measure_target(children, args, target, upstream, upstream_url, work_dir)
                measurements += found
                if report is not None:
                    reports.append(report)
            reports.append(ServerReport("fake upstream (aiohttp.web)", peak_rss_kb(upstream.pid)))
        except (KeyboardInterrupt, Interrupted):
            print("\ninterrupted; stopping every child process", file=sys.stderr)
            return 130
        except RuntimeError as exc:
            print(f"\nbench failed: {exc}", file=sys.stderr)
            return 2
        finally:
            children.stop_all()

    print(f"\naiproxy bench: Python {platform.python_version()}, {os.cpu_count()} cores; uvicorn 1 worker, "
          f"loop={loop}{'' if loop == 'uvloop' else ' (uvloop not installed)'}, "
          f"http={http}{'' if http == 'httptools' else ' (httptools not installed)'}; "
          "fake upstream on aiohttp.web")
    print(f"load: Python aiohttp client, {args.concurrency} concurrent keep-alive connections, "
          f"{args.warmup:g} s warm-up, then "
          + (f"{args.requests} requests (cap {args.seconds:g} s)" if args.requests else f"{args.seconds:g} s")
          + " per row; server, upstream and load generator share the cores\n")
    print_table(measurements)
    print_ratios(measurements)
    print("\npeak RSS (VmHWM) per server process")
    for report in reports:
        rss = f"{report.peak_rss_kb / 1024:.1f} MiB" if report.peak_rss_kb is not None else "n/a"
        notes = f"   ({'; '.join(report.notes)})" if report.notes else ""
        print(f"  {report.label:<40} {rss:>10}{notes}")
    capped = [m for m in measurements if m.result.time_capped]
    if capped:
        print(f"\nnote: {len(capped)} row(s) hit the {args.seconds:g} s cap before --requests {args.requests}")
    failed = sum(m.failures for m in measurements)
    print(f"\ntotal time {time.monotonic() - started:.0f} s")
    if failed:
        print(f"\nFAILED: {failed} request(s) failed; first errors:", file=sys.stderr)
        for m in measurements:
            for sample in m.result.error_samples:
                print(f"  {m.target.id} {m.mode}: {sample}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
