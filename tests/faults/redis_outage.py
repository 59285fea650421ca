"""Fault script: the gateway through a Redis outage (issue 10). Run by hand:

    PYTHONPATH=. python tests/faults/redis_outage.py [--quick]

A real gateway (create_app on SQLite in a temporary directory, served by
uvicorn on 127.0.0.1, upstream a fake Anthropic API on 127.0.0.1 that answers
after 200 ms) on a PRIVATE redis-server of its own (never the shared one).
Under 20 req/s of a key without quotas plus 4 req/s of a key with quotas
(rpm 10,000 and 8 at once), on an account limited to 50 at once:

1. kill:   Redis killed (SIGKILL) for 15 s, then restarted (empty);
2. pause:  Redis frozen (SIGSTOP) for 10 s, then resumed (SIGCONT);
3. closed: a second gateway with AIPROXY_REDIS_FAILURE_MODE=closed, Redis
           killed, then frozen: the quota-limited key answers 503 in each
           caller's shape (Anthropic, OpenAI, Gemini), the other key 200.

Prints a table of figures against the issue's "Done when" and exits 1 on a
miss. --quick shortens the phases (for a smoke run; figures still checked).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from aiproxy import Settings, create_app  # noqa: E402
from aiproxy.security.api_keys import generate_api_key, hash_api_key, shown_prefix  # noqa: E402
from aiproxy.security.cipher import CredentialCipher  # noqa: E402
from aiproxy.settings import UpstreamURLs  # noqa: E402
from aiproxy.stores.entities import Account, ApiKey, User  # noqa: E402
from aiproxy.stores.protocols import UsageFilter  # noqa: E402
from aiproxy.stores.sql import SQLStores  # noqa: E402
from tests.servers import running  # noqa: E402
from tests.state.private_redis import REDIS_SERVER, SKIP_REASON, PrivateRedis  # noqa: E402

UPSTREAM_DELAY = 0.2
PLAIN_RATE = 20.0  # req/s, key without quotas
LIMITED_RATE = 4.0  # req/s, key with quotas
BODY = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
USAGE = {"input_tokens": 12, "output_tokens": 7}


# --- the fake upstream ----------------------------------------------------------


def fake_upstream() -> Starlette:
    async def messages(request: Request) -> Response:
        body = await request.json()
        await asyncio.sleep(UPSTREAM_DELAY)
        return JSONResponse({"id": "msg_fake", "type": "message", "role": "assistant", "model": body.get("model"),
                             "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
                             "stop_sequence": None, "usage": USAGE})

    return Starlette(routes=[Route("/v1/messages", messages, methods=["POST"])])


# --- the gateway ------------------------------------------------------------------


@dataclass
class Gateway:
    url: str
    app: Starlette
    plain: str  # a key without quotas
    limited: str  # a key with rpm and concurrency limits
    limited_id: int
    account_id: int
    db_url: str


async def seed(db_url: str, cipher_key: str) -> tuple[str, str, int, int]:
    stores = SQLStores(db_url)
    await stores.open()
    try:
        user = await stores.users.create(User(username="alice", password_hash="x", role="user"))
        account = await stores.accounts.create(Account(
            name="console-1", platform="claude", type="claude-console", max_concurrency=50,
            credentials=CredentialCipher(cipher_key).encrypt({"api_key": "sk-ant-upstream"})))
        plain, limited = generate_api_key(), generate_api_key()
        await stores.keys.create(ApiKey(user_id=user.id, name="plain", key_hash=hash_api_key(plain),
                                        key_prefix=shown_prefix(plain)))
        row = await stores.keys.create(ApiKey(user_id=user.id, name="limited", key_hash=hash_api_key(limited),
                                              key_prefix=shown_prefix(limited), rpm_limit=10_000,
                                              max_concurrency=8))
        assert row.id is not None and account.id is not None
        return plain, limited, row.id, account.id
    finally:
        await stores.close()


@contextlib.asynccontextmanager
async def gateway(tmp: str, name: str, redis_url: str, upstream: str, mode: str) -> AsyncIterator[Gateway]:
    db_url = f"sqlite+aiosqlite:///{tmp}/{name}.db"
    cipher_key = CredentialCipher.generate_key()
    plain, limited, limited_id, account_id = await seed(db_url, cipher_key)
    settings = Settings(jwt_secret="fault-script", encryption_key=cipher_key, redis_url=redis_url,
                        upstream=UpstreamURLs(anthropic=upstream), usage_flush_seconds=0.2)
    settings.redis_failure_mode = mode  # type: ignore[attr-defined]  # (set so older trees run it too)
    app = create_app(SQLStores(db_url), settings)
    with running(app) as url:
        yield Gateway(url, app, plain, limited, limited_id, account_id, db_url)


async def records_written(db_url: str) -> int:
    stores = SQLStores(db_url)
    await stores.open()
    try:
        _, total = await stores.usage.query(UsageFilter(), limit=1)
        return total
    finally:
        await stores.close()


async def slots_in_redis(redis_url: str) -> int:
    """Unexpired slots of every key and account, read from Redis itself."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    try:
        now_s, now_us = await client.time()
        now_ms = now_s * 1000 + now_us // 1000
        held = 0
        async for k in client.scan_iter(match="aiproxy:slots:*"):
            held += await client.zcount(k, f"({now_ms}", "+inf")
        return held
    finally:
        await client.aclose()


def local_slots(gw: Gateway) -> int:
    fallback = getattr(gw.app.state.gateway.state, "fallback", None)  # a ResilientState's MemoryState
    if fallback is None:
        return 0
    return sum(len(fallback._live_slots(k)) for k in list(fallback._slots))


# --- load -------------------------------------------------------------------------


@dataclass
class Shot:
    key: str
    sent: float  # seconds since the phase began
    status: int = 0  # 0: no answer (a client error)
    latency: float = 0.0
    body: str = ""


@dataclass
class Load:
    shots: list[Shot] = field(default_factory=list)

    def of(self, key: str, start: float = -1e9, end: float = 1e9) -> list[Shot]:
        return [s for s in self.shots if s.key == key and start <= s.sent < end]


async def drive(client: httpx.AsyncClient, gw: Gateway, seconds: float, events: dict[float, Any],
                rates: dict[str, float]) -> Load:
    """Send at the given rates for `seconds`; call each event's function when its time comes."""
    load = Load()
    t0 = time.monotonic()
    tasks: set[asyncio.Task[None]] = set()

    async def one(key_name: str, key: str, sent: float) -> None:
        shot = Shot(key_name, sent)
        load.shots.append(shot)
        began = time.monotonic()
        try:
            r = await client.post(f"{gw.url}/claude/v1/messages", json=BODY, headers={"x-api-key": key})
            shot.status, shot.body = r.status_code, r.text[:300]
        except httpx.HTTPError as exc:
            shot.body = repr(exc)
        shot.latency = time.monotonic() - began

    pending_events = sorted(events.items())
    keys = {"plain": gw.plain, "limited": gw.limited}
    next_at = {name: 0.0 for name in rates}
    while True:
        now = time.monotonic() - t0
        if now >= seconds:
            break
        while pending_events and pending_events[0][0] <= now:
            _, action = pending_events.pop(0)
            action()
        for name, rate in rates.items():
            while next_at[name] <= now:
                task = asyncio.create_task(one(name, keys[name], next_at[name]))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                next_at[name] += 1.0 / rate
        await asyncio.sleep(0.005)
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    return load


# --- the report ----------------------------------------------------------------------


@dataclass
class Figure:
    name: str
    value: str
    target: str
    ok: bool


def pct(shots: list[Shot], status: int = 200) -> float:
    return 100.0 * sum(s.status == status for s in shots) / len(shots) if shots else 100.0


def statuses(shots: list[Shot]) -> str:
    counts: dict[int, int] = {}
    for s in shots:
        counts[s.status] = counts.get(s.status, 0) + 1
    return ", ".join(f"{k}×{v}" for k, v in sorted(counts.items()))


class StateLog(logging.Handler):
    """Counts the gateway's log lines about the state (breaker changes)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def wait_for_slots(redis_url: str, gw: Gateway, seconds: float = 6.0) -> tuple[int, int]:
    deadline = time.monotonic() + seconds
    while True:
        in_redis, local = await slots_in_redis(redis_url), local_slots(gw)
        if (in_redis == 0 and local == 0) or time.monotonic() > deadline:
            return in_redis, local
        await asyncio.sleep(0.25)


async def health(client: httpx.AsyncClient, gw: Gateway) -> dict[str, Any]:
    r = await client.get(f"{gw.url}/health")
    return {"http": r.status_code, **r.json()}


async def open_mode(tmp: str, redis: PrivateRedis, upstream: str, quick: bool, figures: list[Figure],
                    log: StateLog) -> None:
    settings = Settings()
    timeout = getattr(settings, "redis_timeout_seconds", 0.5)
    cooldown = getattr(settings, "redis_cooldown_seconds", 5.0)
    kill_at, down_for, total = (4.0, 6.0, 16.0) if quick else (10.0, 15.0, 45.0)
    pause_at, paused_for, pause_total = (3.0, 4.0, 12.0) if quick else (5.0, 10.0, 25.0)
    async with gateway(tmp, "open", redis.url, upstream, "open") as gw:
        async with httpx.AsyncClient(timeout=15, limits=httpx.Limits(max_connections=200)) as client:
            rates = {"plain": PLAIN_RATE, "limited": LIMITED_RATE}
            seen_health: dict[str, Any] = {}

            def probe_health() -> None:
                async def go() -> None:
                    seen_health.update(await health(client, gw))
                asyncio.get_running_loop().create_task(go())

            # 1. killed
            log.lines.clear()
            load = await drive(client, gw, total, {
                kill_at: redis.kill,
                kill_at + down_for / 2: probe_health,
                kill_at + down_for: redis.start,
            }, rates)
            back = kill_at + down_for
            plain = load.of("plain")
            figures.append(Figure("kill: plain key answered 200", f"{pct(plain):.2f}% of {len(plain)} "
                                  f"({statuses(plain)})", ">= 99%", pct(plain) >= 99.0))
            limited = load.of("limited")
            figures.append(Figure("kill: quota key answered 200 (open mode)", f"{pct(limited):.2f}% of "
                                  f"{len(limited)} ({statuses(limited)})", ">= 99%", pct(limited) >= 99.0))
            after = load.of("plain", back) + load.of("limited", back)
            failed_after = [s for s in after if s.status != 200]
            figures.append(Figure("kill: failures after Redis returned", f"{len(failed_after)} of {len(after)}",
                                  "0", not failed_after))
            figures.append(Figure("kill: /health during the outage",
                                  f"{seen_health.get('http')} {seen_health.get('status')}/{seen_health.get('state')}",
                                  "200 degraded/degraded",
                                  seen_health.get("http") == 200 and seen_health.get("state") == "degraded"))
            in_redis, local = await wait_for_slots(redis.url, gw)
            figures.append(Figure("kill: slots held after recovery", f"{in_redis} in Redis, {local} local",
                                  "0", in_redis == 0 and local == 0))
            figures.append(Figure("kill: state log lines", str(len(log.lines)), "<= 4 (a change each)",
                                  len(log.lines) <= 4))
            sent_total = len(load.shots)
            worst = max((s.latency for s in load.shots), default=0.0)
            figures.append(Figure("kill: slowest answer", f"{worst:.2f} s", f"<= {timeout + 1 + UPSTREAM_DELAY:.1f} s",
                                  worst <= timeout + 1 + UPSTREAM_DELAY))

            # 2. paused
            log.lines.clear()
            await asyncio.sleep(cooldown)  # the breaker is closed again before the next fault
            load2 = await drive(client, gw, pause_total, {
                pause_at: redis.pause,
                pause_at + paused_for / 2: probe_health,
                pause_at + paused_for: redis.resume,
            }, rates)
            during = [s for s in load2.shots if pause_at - 1 <= s.sent < pause_at + paused_for]
            worst = max((s.latency for s in during), default=0.0)
            bound = timeout + 1.0 + UPSTREAM_DELAY
            figures.append(Figure("pause: slowest answer while frozen", f"{worst:.2f} s (timeout {timeout:g} s, "
                                  f"upstream {UPSTREAM_DELAY:g} s)", f"<= {bound:.1f} s", worst <= bound))
            plain2 = load2.of("plain")
            figures.append(Figure("pause: plain key answered 200", f"{pct(plain2):.2f}% of {len(plain2)} "
                                  f"({statuses(plain2)})", ">= 99%", pct(plain2) >= 99.0))
            after2 = [s for s in load2.shots if s.sent >= pause_at + paused_for]
            failed2 = [s for s in after2 if s.status != 200]
            figures.append(Figure("pause: failures after Redis resumed", f"{len(failed2)} of {len(after2)}", "0",
                                  not failed2))
            in_redis, local = await wait_for_slots(redis.url, gw)
            figures.append(Figure("pause: slots held after recovery", f"{in_redis} in Redis, {local} local", "0",
                                  in_redis == 0 and local == 0))
            sent_total += len(load2.shots)
            metrics = (await client.get(f"{gw.url}/metrics")).text
    # The gateway has stopped: its writer flushed what it held.
    written = await records_written(gw.db_url)
    figures.append(Figure("usage records written", f"{written} of {sent_total} sent", "== sent",
                          written == sent_total))
    counted = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                  if line.startswith("aiproxy_requests_total{"))
    figures.append(Figure("requests in /metrics", f"{counted:.0f} of {sent_total} sent", "== sent",
                          int(counted) == sent_total))


CALLERS = [
    ("anthropic", "/claude/v1/messages", BODY, "x-api-key", ""),
    ("openai", "/openai/v1/chat/completions", {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
     "authorization", "Bearer "),
    ("gemini", "/gemini/v1beta/models/gemini-2.5-flash:generateContent", {"contents": [{"parts": [{"text": "hi"}]}]},
     "x-goog-api-key", ""),
]


def in_shape(caller: str, r: httpx.Response) -> bool:
    try:
        body = r.json()
        if caller == "anthropic":
            ok = body["type"] == "error" and body["error"]["type"] == "overloaded_error"
        elif caller == "gemini":
            ok = body["error"]["status"] == "UNAVAILABLE" and body["error"]["code"] == 503
        else:
            ok = "type" not in body and isinstance(body["error"]["message"], str)
        return ok and r.status_code == 503 and "quotas cannot be checked" in r.text and "retry-after" in r.headers
    except (ValueError, KeyError, TypeError):
        return False


async def closed_mode(tmp: str, redis: PrivateRedis, upstream: str, figures: list[Figure]) -> None:
    settings = Settings()
    timeout = getattr(settings, "redis_timeout_seconds", 0.5)
    cooldown = getattr(settings, "redis_cooldown_seconds", 5.0)
    async with gateway(tmp, "closed", redis.url, upstream, "closed") as gw:
        async with httpx.AsyncClient(timeout=15) as client:
            async def ask(path: str, body: dict, header: str, scheme: str, key: str) -> tuple[httpx.Response, float]:
                began = time.monotonic()
                try:
                    r = await client.post(gw.url + path, json=body, headers={header: scheme + key})
                except httpx.HTTPError as exc:  # no answer at all: status 0
                    r = httpx.Response(0, text=repr(exc))
                return r, time.monotonic() - began

            r, _ = await ask(*CALLERS[0][1:], gw.limited)
            figures.append(Figure("closed: quota key with Redis up", str(r.status_code), "200", r.status_code == 200))
            for fault, start, stop in (("kill", redis.kill, redis.start), ("pause", redis.pause, redis.resume)):
                start()
                shapes, worst = [], 0.0
                for caller, path, body, header, scheme in CALLERS:
                    for _ in range(3):
                        r, took = await ask(path, body, header, scheme, gw.limited)
                        shapes.append(in_shape(caller, r))
                        worst = max(worst, took)
                figures.append(Figure(f"closed/{fault}: quota key 503 in the caller's shape",
                                      f"{sum(shapes)} of {len(shapes)} (anthropic, openai, gemini)", "all",
                                      all(shapes)))
                figures.append(Figure(f"closed/{fault}: slowest 503", f"{worst:.2f} s", f"<= {timeout + 1:.1f} s",
                                      worst <= timeout + 1))
                plain = [(await ask(*CALLERS[0][1:], gw.plain))[0].status_code for _ in range(5)]
                figures.append(Figure(f"closed/{fault}: plain key", ", ".join(map(str, plain)), "all 200",
                                      all(s == 200 for s in plain)))
                stop()
                await asyncio.sleep(cooldown + 0.2)
                after = [(await ask(*CALLERS[0][1:], gw.limited))[0].status_code for _ in range(5)]
                figures.append(Figure(f"closed/{fault}: quota key after Redis returned", ", ".join(map(str, after)),
                                      "all 200", all(s == 200 for s in after)))
            in_redis, local = await wait_for_slots(redis.url, gw)
            figures.append(Figure("closed: slots held after recovery", f"{in_redis} in Redis, {local} local", "0",
                                  in_redis == 0 and local == 0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter phases (a smoke run)")
    args = parser.parse_args()
    if REDIS_SERVER is None:
        print(SKIP_REASON, file=sys.stderr)
        return 2
    log = StateLog()
    logging.getLogger("aiproxy.state").addHandler(log)
    logging.getLogger("aiproxy.state").setLevel(logging.INFO)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="aiproxy-redis-outage-") as tmp, PrivateRedis() as redis:
        os.chmod(tmp, 0o700)
        with running(fake_upstream()) as upstream:
            try:
                asyncio.run(open_mode(tmp, redis, upstream, args.quick, figures, log))
                if redis.proc is None:
                    redis.start()
                if redis.paused:
                    redis.resume()
                asyncio.run(closed_mode(tmp, redis, upstream, figures))
            except Exception as exc:  # a phase that broke down is a miss; the figures so far still print
                figures.append(Figure("the run itself", f"broke off: {exc!r}"[:80], "completes", False))
    width = max(len(f.name) for f in figures)
    vwidth = max(len(f.value) for f in figures)
    print()
    print(f"{'figure':<{width}}  {'measured':<{vwidth}}  {'target':<22}  ok")
    print("-" * (width + vwidth + 30))
    for f in figures:
        print(f"{f.name:<{width}}  {f.value:<{vwidth}}  {f.target:<22}  {'yes' if f.ok else 'MISS'}")
    missed = [f for f in figures if not f.ok]
    print()
    print(f"{len(figures) - len(missed)} of {len(figures)} figures met" + (f"; missed: {', '.join(f.name for f in missed)}"
                                                                       if missed else ""))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
