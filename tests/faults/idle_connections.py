"""Idle and slow connections against `python server.py`: `python tests/faults/idle_connections.py`.

Starts the fake upstream (bench/upstream.py) and server.py itself on SQLite in a
temp dir, seeded with a key and a claude-console account on that upstream, with
the default server limits. Then, per scenario: opens 1,100 connections that send
nothing, then one slowloris (a header one byte per 0.5 s, never finished), and
while they are held sends a new client's proxied request (and /health) every
0.25 s. Checks that every idle connection is closed by the server within the head
timeout (plus slack), the slowloris is cut at the same timeout with a 408, and
every new client is answered 200 meanwhile. Then streams a 200 MiB header that
never ends and checks it is refused with 431 and the gateway's RSS stays put.
Prints the figures; exits 1 on a miss.

Scenarios: the gateway under a 1,024-descriptor limit (soft and hard, as in issue
10, where 1,100 idle connections locked every new client out), and under this
machine's own limit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from serve import seed_gateway  # noqa: E402  (bench/serve.py: a user, a key, a claude-console account)

from aiproxy.security.cipher import CredentialCipher  # noqa: E402
from aiproxy.settings import ServerLimits  # noqa: E402

PYTHON = sys.executable
IDLE = 1100
SLACK_S = 1.0  # a close may come this much after the head timeout
PROBE_EVERY_S = 0.25
PROBE_SLOW_S = 1.0  # a new client answered slower than this is a miss
HUGE_HEADER = 200 * 1024 * 1024
RSS_GROWTH_MAX = 20 * 1024 * 1024
BODY = b'{"model":"claude-bench-1","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


@dataclass
class Figures:
    idle_open_s: float = 0.0
    idle_closed: list[float] = field(default_factory=list)  # seconds from connect to close
    idle_refused: int = 0  # answered 503 at once
    idle_open_left: int = 0
    slowloris_cut_s: float | None = None
    slowloris_answer: bytes = b""
    slowloris_bytes: int = 0
    probes: list[tuple[str, int, float]] = field(default_factory=list)  # (what, status, seconds)


async def hold_idle(port: int, figures: Figures, deadline: float) -> None:
    async def one() -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            figures.idle_refused += 1
            return
        started = time.monotonic()
        try:
            data = await asyncio.wait_for(reader.read(100), deadline - time.monotonic())
        except (asyncio.TimeoutError, TimeoutError):
            figures.idle_open_left += 1
            writer.close()
            return
        except ConnectionError:
            data = b""
        if data.startswith(b"HTTP/1.1 503"):
            figures.idle_refused += 1
        else:
            figures.idle_closed.append(time.monotonic() - started)
        writer.close()

    t0 = time.monotonic()
    tasks = [asyncio.ensure_future(one()) for _ in range(IDLE)]
    await asyncio.sleep(0)
    figures.idle_open_s = time.monotonic() - t0
    await asyncio.gather(*tasks)


async def slowloris(port: int, figures: Figures, deadline: float) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(b"GET /health HTTP/1.1\r\nhost: x\r\n")
    figures.slowloris_bytes = 31
    read = asyncio.ensure_future(reader.read(200))
    try:
        while not read.done() and time.monotonic() < deadline:
            writer.write(b"a")
            figures.slowloris_bytes += 1
            await asyncio.wait([read], timeout=0.5)
        if read.done():
            figures.slowloris_cut_s = time.monotonic() - started
            figures.slowloris_answer = read.result()
    except ConnectionError:
        figures.slowloris_cut_s = time.monotonic() - started
    finally:
        read.cancel()
        writer.close()


async def request(port: int, raw: bytes) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        answer = await asyncio.wait_for(reader.read(), 10)
        return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    finally:
        writer.close()


async def probe(port: int, key: str, figures: Figures, until: float) -> None:
    proxied = (
        b"POST /claude/v1/messages HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\n"
        b"x-api-key: " + key.encode() + b"\r\nanthropic-version: 2023-06-01\r\ncontent-length: "
        + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
    )
    health = b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    while time.monotonic() < until:
        for what, raw in (("proxied", proxied), ("health", health)):
            started = time.monotonic()
            try:
                status = await request(port, raw)
            except (OSError, asyncio.TimeoutError, TimeoutError, IndexError, ValueError):
                status = 0
            figures.probes.append((what, status, time.monotonic() - started))
        await asyncio.sleep(PROBE_EVERY_S)


async def scenario(port: int, key: str, head_timeout: float) -> Figures:
    figures = Figures()
    deadline = time.monotonic() + head_timeout + 5
    idle = asyncio.ensure_future(hold_idle(port, figures, deadline))
    await asyncio.sleep(0.5)  # the idle ones are all connected (or refused) before the rest begins
    loris = asyncio.ensure_future(slowloris(port, figures, deadline))
    probes = asyncio.ensure_future(probe(port, key, figures, time.monotonic() + head_timeout + 1))
    await asyncio.gather(idle, loris, probes)
    return figures


def report(name: str, figures: Figures, head_timeout: float) -> list[str]:
    misses: list[str] = []
    closed = sorted(figures.idle_closed)
    at_timeout = [c for c in closed if c >= head_timeout - 0.5]
    print(f"\n== {name}")
    print(f"idle connections: {IDLE} opened; {len(closed)} closed by the server, {figures.idle_refused} answered 503,"
          f" {figures.idle_open_left} still open at the end")
    if closed:
        print(f"  closed after (s): min {closed[0]:.2f}  p50 {statistics.median(closed):.2f}  max {closed[-1]:.2f};"
              f" {len(closed) - len(at_timeout)} earlier to make room at the connection cap,"
              f" {len(at_timeout)} at the head timeout ({head_timeout:g} s)")
    if figures.idle_open_left or len(closed) + figures.idle_refused != IDLE:
        misses.append(f"{figures.idle_open_left} idle connections not closed")
    if closed and closed[-1] > head_timeout + SLACK_S:
        misses.append(f"an idle connection held {closed[-1]:.2f} s, past {head_timeout:g} + {SLACK_S:g} s")
    cut = figures.slowloris_cut_s
    print(f"slowloris: {figures.slowloris_bytes} bytes sent, cut after "
          f"{'never' if cut is None else f'{cut:.2f} s'}, answer {figures.slowloris_answer[:32]!r}")
    if cut is None or cut > head_timeout + SLACK_S or cut < head_timeout - 0.5:
        misses.append("slowloris not cut at the head timeout")
    if not figures.slowloris_answer.startswith(b"HTTP/1.1 408"):
        misses.append("slowloris not answered 408")
    for what in ("proxied", "health"):
        rows = [p for p in figures.probes if p[0] == what]
        ok = [p for p in rows if p[1] == 200]
        times = sorted(p[2] * 1000 for p in rows)
        if not rows:
            misses.append(f"no {what} probe ran")
            continue
        print(f"new clients ({what}): {len(ok)}/{len(rows)} answered 200; latency ms p50 {statistics.median(times):.1f}"
              f"  max {times[-1]:.1f}")
        if len(ok) != len(rows):
            misses.append(f"{len(rows) - len(ok)} {what} probes not answered 200: {sorted({p[1] for p in rows})}")
        if times[-1] > PROBE_SLOW_S * 1000:
            misses.append(f"a {what} probe took {times[-1]:.0f} ms")
    return misses


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def huge_header(port: int, pid: int) -> list[str]:
    """An unfinished header of up to 200 MiB: refused early, and the gateway's memory stays put."""
    before = rss(pid)
    sent, answer = 0, b""
    chunk = b"a" * 65536
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\nx-huge: ")
        try:
            while sent < HUGE_HEADER:
                s.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        try:
            answer = s.recv(100)
        except OSError:
            pass
    time.sleep(0.2)
    grown = rss(pid) - before
    print(f"unfinished header: {sent / 2**20:.1f} MiB of {HUGE_HEADER // 2**20} MiB sent before the server"
          f" stopped it, answer {answer[:36]!r}; gateway RSS {before / 2**20:.1f} -> {(before + grown) / 2**20:.1f} MiB")
    misses = []
    if sent >= HUGE_HEADER:
        misses.append("the whole 200 MiB header was taken")
    if grown > RSS_GROWTH_MAX:
        misses.append(f"gateway RSS grew by {grown / 2**20:.1f} MiB on an unfinished header")
    return misses


def run_gateway(nofile: int | None, upstream_port: int, head_timeout: float) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite+aiosqlite:///{tmp}/aiproxy.db"
        encryption_key = CredentialCipher.generate_key()
        key = "ap-" + secrets.token_urlsafe(24)
        asyncio.run(seed_gateway(db_url, encryption_key, key, f"http://127.0.0.1:{upstream_port}"))
        port = free_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "AIPROXY_DATA_DIR": tmp,
            "DATABASE_URL": db_url,
            "AIPROXY_ENCRYPTION_KEY": encryption_key,
            "AIPROXY_JWT_SECRET": secrets.token_urlsafe(32),
            "AIPROXY_ANTHROPIC_BASE_URL": f"http://127.0.0.1:{upstream_port}",
            "LOG_LEVEL": "WARNING",
        }

        def limit() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        log = open(Path(tmp) / "gateway.log", "wb")
        gateway = subprocess.Popen([PYTHON, str(ROOT / "server.py")], env=env, stdout=log, stderr=subprocess.STDOUT,
                                   preexec_fn=limit)
        try:
            wait_port(port, gateway)
            name = f"gateway with a {nofile}-descriptor limit" if nofile else \
                f"gateway with this machine's descriptor limit ({resource.getrlimit(resource.RLIMIT_NOFILE)[1]})"
            figures = asyncio.run(scenario(port, key, head_timeout))
            misses = report(name, figures, head_timeout)
            misses += huge_header(port, gateway.pid)
        finally:
            gateway.send_signal(signal.SIGTERM)
            try:
                gateway.wait(15)
            except subprocess.TimeoutExpired:
                gateway.kill()
            log.close()
        lines = (Path(tmp) / "gateway.log").read_text(errors="replace").splitlines()
        warnings = [line for line in lines if "server_limits" in line]
        print(f"gateway log: {len(lines)} lines, of them from server_limits:")
        for line in warnings:
            print("  " + line[:160])
        if any("Traceback" in line for line in lines):
            misses.append("a traceback in the gateway log")
        return misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nofile", type=int, default=1024, help="descriptor limit of the first scenario")
    args = parser.parse_args()
    head_timeout = ServerLimits().head_timeout
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < IDLE + 200:  # this script's own side of the 1,100 connections
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, IDLE + 1000), hard))
    print(f"defaults: {ServerLimits()}")
    upstream_port = free_port()
    upstream = subprocess.Popen([PYTHON, str(ROOT / "bench" / "upstream.py"), "--port", str(upstream_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    misses: list[str] = []
    try:
        wait_port(upstream_port, upstream)
        for nofile in (args.nofile, None):
            misses += run_gateway(nofile, upstream_port, head_timeout)
    finally:
        upstream.terminate()
        upstream.wait(10)
    print()
    if misses:
        for miss in misses:
            print("MISS: " + miss)
        raise SystemExit(1)
    print("OK: every idle connection closed within the head timeout, the slowloris cut at it, every new client served")


if __name__ == "__main__":
    main()
