"""Fault script: the database goes away for 60 s under load; no usage record is lost.

    python tests/faults/db_outage.py [--outage 60] [--rate 20] [--mysql mysql+asyncmy://root:@127.0.0.1:3306]

A real gateway (create_app on MariaDB, served by uvicorn on 127.0.0.1, its
upstream the fake Anthropic API in process) talks to the database through a
small TCP proxy that this script cuts and restores; the system MariaDB is never
touched beyond a database of this script's own, dropped at the end. Requests
go at a steady rate throughout. The outage has two halves: first the database
refuses (connections reset, new ones closed at once), then it hangs (new
connections accepted and never answered, like a paused server). The usage
buffer is set low so that records are spilled to the spool too.

Phase 2 stops the gateway while the database is down (what is left is
spilled at shutdown) and starts a new one once it is back, which writes the
spool back at its start.

Checked, printed as a table, exit status 1 on a miss:
- every request answered 200 (known keys keep working while the database is down);
- usage records in the database == requests sent (none lost, none twice), spool empty after;
- the usage writer's log lines during the outage: at most one per state change
  (unavailable, spilling, back), no tracebacks from any logger;
- the admin API answers 503 database_unavailable within its timeout (+1 s) during the outage.

Also `--sqlite`: the same on a SQLite file that another connection holds
locked (BEGIN EXCLUSIVE) for the outage.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import sqlite3
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from databases import Database  # noqa: E402

from aiproxy import Settings, create_app  # noqa: E402
from aiproxy.security.api_keys import generate_api_key, hash_api_key, shown_prefix  # noqa: E402
from aiproxy.security.cipher import CredentialCipher  # noqa: E402
from aiproxy.security.passwords import hash_password  # noqa: E402
from aiproxy.settings import UpstreamURLs  # noqa: E402
from aiproxy.stores.entities import Account, ApiKey, User  # noqa: E402
from aiproxy.stores.sql import SQLStores, normalize_url  # noqa: E402
from tests.fakes.anthropic_upstream import FakeAnthropic  # noqa: E402
from tests.servers import free_port  # noqa: E402

ADMIN_PASSWORD = "fault-admin-password-1"
ADMIN_DB_TIMEOUT = 3.0
BUFFER_RECORDS = 200  # low, so that a 60 s outage at 20 req/s spills
BACKOFF_MAX = 10.0
USAGE_LOGGER = "aiproxy.usage"


# -- a TCP proxy in front of the database, which the script cuts ----------------


class CuttableProxy:
    """127.0.0.1:<port> -> the database. "up" forwards; "refuse" resets every
    connection and closes new ones at once; "hang" accepts new connections and
    never answers them (a paused server). Back "up", hung ones are reset."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode = "up"
        self.port = 0
        self._open: set[asyncio.StreamWriter] = set()
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self._reset_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _reset_all(self) -> None:
        for w in list(self._open):
            w.transport.abort()
        self._open.clear()

    def refuse(self) -> None:
        self.mode = "refuse"
        self._reset_all()

    def hang(self) -> None:
        self.mode = "hang"
        self._reset_all()

    def restore(self) -> None:
        self._reset_all()
        self.mode = "up"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "refuse":
            writer.transport.abort()
            return
        self._open.add(writer)
        if self.mode == "hang":
            return  # held open, never answered, until restore() resets it
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            self._open.discard(writer)
            return
        self._open.add(up_writer)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.transport.abort()
                self._open.discard(dst)

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))


# -- what the gateway logs ------------------------------------------------------


@dataclass
class Logged:
    at: float
    logger: str
    level: str
    message: str
    traceback: bool


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[Logged] = []
        self.tracebacks: list[str] = []
        self.bytes = 0
        self._lock2 = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
            self.tracebacks.append(text)
        with self._lock2:
            self.bytes += len(text) + 1
            self.records.append(
                Logged(time.monotonic(), record.name, record.levelname, record.getMessage(), record.exc_info is not None)
            )

    def between(self, start: float, end: float, prefix: str = "") -> list[Logged]:
        with self._lock2:
            return [r for r in self.records if start <= r.at <= end and r.logger.startswith(prefix)]


# -- load and probes ------------------------------------------------------------


@dataclass
class Load:
    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    slowest: float = 0.0
    by_phase: dict[str, dict[int, int]] = field(default_factory=dict)


async def send_load(url: str, key: str, rate: float, stop: asyncio.Event, load: Load, phase: list[str]) -> None:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    tasks: set[asyncio.Task[None]] = set()
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:

        async def one() -> None:
            load.sent += 1
            where = phase[0]
            started = time.monotonic()
            try:
                r = await http.post("/claude/v1/messages", json=body, headers=headers)
                status = r.status_code
            except httpx.HTTPError:
                load.errors += 1
                status = -1
            load.slowest = max(load.slowest, time.monotonic() - started)
            load.statuses[status] = load.statuses.get(status, 0) + 1
            counts = load.by_phase.setdefault(where, {})
            counts[status] = counts.get(status, 0) + 1

        interval = 1.0 / rate
        next_at = time.monotonic()
        while not stop.is_set():
            task = asyncio.create_task(one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        if tasks:
            await asyncio.gather(*tasks)


@dataclass
class Probe:
    mode: str
    what: str
    status: int
    seconds: float
    error_type: str | None


async def probe_admin(url: str, token: str, mode: str) -> list[Probe]:
    found = []
    async with httpx.AsyncClient(base_url=url, timeout=ADMIN_DB_TIMEOUT * 4) as http:
        for what, call in (
            ("login", lambda: http.post("/admin/api/login", json={"username": "admin", "password": ADMIN_PASSWORD})),
            ("usage", lambda: http.get("/admin/api/usage", headers={"Authorization": f"Bearer {token}"})),
            (
                "write",
                lambda: http.post(
                    "/admin/api/users",
                    json={"username": f"probe-{secrets.token_hex(4)}", "password": "probe-password-1"},
                    headers={"Authorization": f"Bearer {token}"},
                ),
            ),
        ):
            started = time.monotonic()
            try:
                r = await call()
                status = r.status_code
                error_type = (r.json().get("error") or {}).get("type") if status >= 400 else None
            except (httpx.HTTPError, ValueError):
                status, error_type = -1, None
            found.append(Probe(mode, what, status, time.monotonic() - started, error_type))
    return found


# -- the gateway ------------------------------------------------------------------


def gateway_settings(spool: Path, upstream: str, **overrides: Any) -> Settings:
    settings = Settings(
        jwt_secret=secrets.token_urlsafe(32),
        encryption_key=ENCRYPTION_KEY,
        upstream=UpstreamURLs(anthropic=upstream),
        key_cache_ttl=10.0,  # expires mid-outage: the cached key must keep working
        account_refresh_seconds=5.0,
        usage_buffer_records=BUFFER_RECORDS,
        usage_batch_size=50,
        usage_spool_dir=str(spool),
        usage_backoff_max_seconds=BACKOFF_MAX,
        admin_db_timeout_seconds=ADMIN_DB_TIMEOUT,
    )
    for name, value in overrides.items():
        setattr(settings, name, value)
    return settings


ENCRYPTION_KEY = CredentialCipher.generate_key()


async def seed(url: str) -> tuple[str, str]:
    """Admin, a user with a key, and an account; returns (key, admin token placeholder)."""
    stores = SQLStores(url)
    await stores.open()
    try:
        await stores.users.create(User(username="admin", password_hash=hash_password(ADMIN_PASSWORD), role="admin"))
        alice = await stores.users.create(User(username="alice", password_hash="x", role="user"))
        plain = generate_api_key()
        assert alice.id is not None
        await stores.keys.create(
            ApiKey(user_id=alice.id, name="load", key_hash=hash_api_key(plain), key_prefix=shown_prefix(plain))
        )
        cipher = CredentialCipher(ENCRYPTION_KEY)
        await stores.accounts.create(
            Account(name="fake", platform="claude", type="claude-console", credentials=cipher.encrypt({"api_key": "sk-x"}))
        )
    finally:
        await stores.close()
    return plain, ""


async def count_usage(url: str) -> int:
    if url.startswith("sqlite"):
        path = normalize_url(url).database
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM usage_records").fetchone()[0])
    db = Database(url)
    await db.connect()
    try:
        return int(await db.fetch_val("SELECT COUNT(*) FROM usage_records"))
    finally:
        await db.disconnect()


class Gateway:
    """create_app on `url`, served by uvicorn on a thread of its own (its own
    event loop: the database proxy runs on this one and must serve the startup)."""

    def __init__(self, url: str, settings: Settings, upstream: FakeAnthropic) -> None:
        self.app = create_app(SQLStores(url), settings, transport=httpx.ASGITransport(app=upstream.app()))
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=port, lifespan="on", log_level="warning")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.shutdown_seconds = 0.0

    async def __aenter__(self) -> Gateway:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start")
            await asyncio.sleep(0.05)
        return self

    async def __aexit__(self, *exc: object) -> None:
        started = time.monotonic()
        self._server.should_exit = True
        await asyncio.to_thread(self._thread.join, 120)
        self.shutdown_seconds = time.monotonic() - started
        if self._thread.is_alive():
            raise RuntimeError("the gateway did not stop within 120 s")


# -- the run ----------------------------------------------------------------------


@dataclass
class Check:
    name: str
    value: str
    ok: bool


class SQLiteLock:
    """Another connection holding the SQLite file under an exclusive lock."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None

    def refuse(self) -> None:
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.execute("BEGIN EXCLUSIVE")

    def hang(self) -> None:
        pass  # a lock is a lock: writers wait for the busy timeout, then fail

    def restore(self) -> None:
        if self.conn is not None:
            self.conn.execute("ROLLBACK")
            self.conn.close()
            self.conn = None


async def run(args: argparse.Namespace) -> int:
    capture = Capture()
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(capture)
    # One line per proxied request from httpx, and the drivers' connect notes: not the gateway's.
    for noisy in ("httpx", "databases"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    checks: list[Check] = []
    workdir = Path(tempfile.mkdtemp(prefix="aiproxy-db-outage-"))
    spool = workdir / "usage-spool"
    upstream = FakeAnthropic()

    proxy: CuttableProxy | None = None
    cutter: Any
    admin_db: Database | None = None
    name = f"aiproxy_fault_{secrets.token_hex(4)}"
    if args.sqlite:
        url = f"sqlite+aiosqlite:///{workdir / 'aiproxy.db'}"
        direct_url = url
        cutter = SQLiteLock(str(workdir / "aiproxy.db"))
    else:
        server = normalize_url(args.mysql).replace(database="")
        admin_db = Database(server)
        await admin_db.connect()
        await admin_db.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        proxy = CuttableProxy(server.hostname or "127.0.0.1", server.port or 3306)
        await proxy.start()
        cutter = proxy
        direct_url = str(server.replace(database=name))
        url = str(server.replace(database=name, port=proxy.port))
    try:
        key, _ = await seed(direct_url)
        load = Load()
        phase = ["before"]
        probes: list[Probe] = []
        settings = gateway_settings(spool, "http://upstream.fake")
        if args.sqlite:
            # The lock outlasts several write attempts at the 10 s busy timeout.
            settings.usage_backoff_max_seconds = 4.0
        async with Gateway(url, settings, upstream) as gw:
            async with httpx.AsyncClient(base_url=gw.url) as http:
                r = await http.post("/admin/api/login", json={"username": "admin", "password": ADMIN_PASSWORD})
                r.raise_for_status()
                token = r.json()["token"]
            stop = asyncio.Event()
            loader = asyncio.create_task(send_load(gw.url, key, args.rate, stop, load, phase))
            await asyncio.sleep(args.warmup)

            half = args.outage / 2
            outage_start = time.monotonic()
            phase[0] = "refused"
            cutter.refuse()
            t_end_refuse = outage_start + (args.outage if args.sqlite else half)
            while time.monotonic() < t_end_refuse - 1:
                await asyncio.sleep(min(5.0, t_end_refuse - time.monotonic() - 1))
                probes += await probe_admin(gw.url, token, "locked" if args.sqlite else "refused")
            if not args.sqlite:
                phase[0] = "hung"
                cutter.hang()
                t_end = outage_start + args.outage
                while time.monotonic() < t_end - ADMIN_DB_TIMEOUT - 1:
                    await asyncio.sleep(min(5.0, max(0.0, t_end - time.monotonic() - ADMIN_DB_TIMEOUT - 1)))
                    probes += await probe_admin(gw.url, token, "hung")
                await asyncio.sleep(max(0.0, t_end - time.monotonic()))
            spilled_files = len(list(spool.glob("usage-*.jsonl")))
            cutter.restore()
            restored_at = time.monotonic()
            phase[0] = "after"
            await asyncio.sleep(args.after)
            stop.set()
            await loader

            # Every record in the database, once.
            deadline = time.monotonic() + BACKOFF_MAX + 60
            stored = await count_usage(direct_url)
            while stored < load.sent and time.monotonic() < deadline:
                await asyncio.sleep(1)
                stored = await count_usage(direct_url)
            # Let the writer log its "back" line for a last batch.
            await asyncio.sleep(1.5)
            outage_logs = capture.between(outage_start, time.monotonic())

        # -- phase 2: shut down during an outage, start again after it --------
        sent_before = load.sent
        load2 = Load()
        phase2 = ["phase2"]
        gw2 = Gateway(url, gateway_settings(spool, "http://upstream.fake"), upstream)
        async with gw2:
            stop = asyncio.Event()
            loader = asyncio.create_task(send_load(gw2.url, key, args.rate, stop, load2, phase2))
            await asyncio.sleep(2)
            cutter.refuse()
            await asyncio.sleep(5)
            stop.set()
            await loader
        shutdown_seconds = gw2.shutdown_seconds
        spooled_at_stop = sum(
            len(p.read_bytes().splitlines()) for p in spool.glob("usage-*.jsonl")
        )
        cutter.restore()
        stored_before_restart = await count_usage(direct_url)
        async with Gateway(url, gateway_settings(spool, "http://upstream.fake"), upstream):
            total = sent_before + load2.sent
            deadline = time.monotonic() + 30
            stored2 = await count_usage(direct_url)
            while stored2 < total and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                stored2 = await count_usage(direct_url)
            await asyncio.sleep(1)
            stored2 = await count_usage(direct_url)
        spool_left = len(list(spool.glob("usage-*.jsonl")))
    finally:
        if isinstance(cutter, SQLiteLock):
            cutter.restore()
        if proxy is not None:
            await proxy.close()
        if admin_db is not None:
            await admin_db.execute(f"DROP DATABASE IF EXISTS `{name}`")
            await admin_db.disconnect()
        root.removeHandler(capture)

    # -- figures ------------------------------------------------------------------
    kind = "SQLite (file locked)" if args.sqlite else "MariaDB via a cut TCP proxy"
    print(f"\ndatabase outage: {kind}, {args.outage:g} s at {args.rate:g} req/s")
    print(f"  requests by phase: {load.by_phase}  (slowest {load.slowest:.2f} s)")
    usage_lines = [r for r in outage_logs if r.logger == USAGE_LOGGER]
    print("  log lines from the outage's start to the usage writer's recovery:")
    by_logger: dict[str, int] = {}
    for r in outage_logs:
        by_logger[r.logger] = by_logger.get(r.logger, 0) + 1
        print(f"    +{r.at - outage_start:6.1f}s {r.level:7} {r.logger}: {r.message[:150]}{' [traceback]' if r.traceback else ''}")
    for text in capture.tracebacks[:3]:
        print("  traceback logged:\n    " + text.replace("\n", "\n    "))
    print("  admin probes during the outage:")
    for p in probes:
        print(f"    {p.mode:8} {p.what:6} {p.status} {p.error_type} in {p.seconds:.2f} s")

    ok_200 = load.statuses.get(200, 0)
    checks.append(Check("requests answered 200", f"{ok_200}/{load.sent}", ok_200 == load.sent))
    checks.append(Check("usage records stored (== sent)", f"{stored}/{load.sent}", stored == load.sent))
    back = next((r for r in usage_lines if r.message.startswith("usage store back")), None)
    back_after = f"{back.at - restored_at:.1f} s after the restore" if back else "never"
    checks.append(Check("backlog written (the writer's 'back' line)", back_after, back is not None))
    checks.append(Check("spool files at the end of the outage", str(spilled_files), spilled_files > 0))
    states = ["usage store unavailable", "usage buffer full", "usage store back"]
    unexpected = [r for r in usage_lines if not any(r.message.startswith(s) for s in states)]
    per_state = {s: sum(r.message.startswith(s) for r in usage_lines) for s in states}
    checks.append(
        Check(
            "usage writer log lines (per state change)",
            ", ".join(f"{s.split()[-1]}={n}" for s, n in per_state.items()),
            all(n <= 1 for n in per_state.values()) and not unexpected and per_state["usage store back"] == 1,
        )
    )
    tracebacks = sum(r.traceback for r in outage_logs)
    checks.append(Check("tracebacks logged during the outage", str(tracebacks), tracebacks == 0))
    checks.append(Check("log lines during the outage, all loggers", f"{len(outage_logs)} ({by_logger})", len(outage_logs) <= 12))
    bound = ADMIN_DB_TIMEOUT + 1.0
    slowest_probe = max((p.seconds for p in probes), default=0.0)
    if args.sqlite:
        # A write lock leaves WAL readers alone: reads answer, writes would 503.
        admin_ok = bool(probes) and all(
            (p.status == 503 and p.error_type == "database_unavailable" or p.status == 200 and p.what != "write")
            and p.seconds <= bound
            for p in probes
        )
        label = f"admin writes 503, reads 200, within {bound:g} s"
    else:
        admin_ok = bool(probes) and all(
            p.status == 503 and p.error_type == "database_unavailable" and p.seconds <= bound for p in probes
        )
        label = f"admin 503 database_unavailable within {bound:g} s"
    checks.append(Check(label, f"{len(probes)} probes, slowest {slowest_probe:.2f} s", admin_ok))
    checks.append(Check("phase 2: records spilled at shutdown", f"{spooled_at_stop} (shutdown took {shutdown_seconds:.1f} s)", spooled_at_stop > 0))
    checks.append(
        Check(
            "phase 2: stored after restart (== all sent)",
            f"{stored2}/{sent_before + load2.sent} (before restart {stored_before_restart})",
            stored2 == sent_before + load2.sent,
        )
    )
    checks.append(Check("phase 2: spool files left", str(spool_left), spool_left == 0))

    width = max(len(c.name) for c in checks)
    print()
    print(f"  {'check'.ljust(width)}  {'figure':50}  result")
    for c in checks:
        print(f"  {c.name.ljust(width)}  {c.value[:50]:50}  {'ok' if c.ok else 'MISS'}")
    failed = [c for c in checks if not c.ok]
    print(f"\n{'PASS' if not failed else 'FAIL'}: {len(checks) - len(failed)}/{len(checks)} checks")
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outage", type=float, default=60.0, help="seconds the database is away")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--after", type=float, default=10.0, help="seconds of load after the restore")
    parser.add_argument(
        "--mysql",
        default=os.environ.get("AIPROXY_TEST_MYSQL_URL", "mysql+asyncmy://root:@127.0.0.1:3306"),
        help="the MariaDB/MySQL server (a database of the script's own is created on it and dropped)",
    )
    parser.add_argument("--sqlite", action="store_true", help="a locked SQLite file instead of MariaDB")
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
