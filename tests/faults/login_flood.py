"""Fault: a flood of wrong admin passwords against a real server (issue 10, item 5).

    python tests/faults/login_flood.py

Runs server.py's build_app on SQLite in a temp dir under uvicorn, in a process
of its own (so /proc/<pid>/status is the server's alone), with bench/upstream.py
as the fake Anthropic upstream and one user, key and account seeded. Then:

1. proxied p50 over 200 requests, and the server's RSS (VmRSS, VmHWM);
2. "single": 200 wrong passwords for `admin` from one address (127.0.0.2),
   the first 10 one by one, then 40 at a time, from an attacker process, while proxied requests go on from
   this one: how many got 401 / 429 / 503, after how many sent the throttle
   began, RSS, proxied p50 during the flood;
3. "spread": 200 wrong passwords for 200 unknown usernames from 40 addresses
   (127.0.1.x, 5 each: none is throttled, so every one is hashed), 40 at a
   time: what the hashing semaphore holds (RSS, p50 during);
4. the admin (from 127.0.0.1) changes the password with a token from before:
   that token then answers 401, the one the change answered 200; logout ends it.

Prints a table and exits 1 when a figure misses "Done when": RSS growth
(VmRSS or VmHWM over the RSS before) >= 100 MiB, p50 during the single flood >
1.5 x before + 2 ms, no 429, the throttle beginning after more than 10, or a
token that should answer 401 not doing so.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aiproxy.security.api_keys import hash_api_key, shown_prefix  # noqa: E402
from aiproxy.security.cipher import CredentialCipher  # noqa: E402
from aiproxy.security.passwords import hash_password  # noqa: E402
from aiproxy.stores.entities import Account, ApiKey, User  # noqa: E402
from aiproxy.stores.sql import SQLStores  # noqa: E402

ATTEMPTS = 200
AT_ONCE = 40
SEQUENTIAL = 10  # of each flood's attempts, sent one after another before the rest go AT_ONCE at a time
BASELINE_REQUESTS = 200
ADMIN_PASSWORD = "flood-admin-password-1"
NEW_ADMIN_PASSWORD = "flood-admin-password-2"
MIB = 1024 * 1024
BODY = {"model": "claude-bench-1", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of `pid`, in bytes."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) * 1024
    return found


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux: "5" to clear_refs), so the peak
    read after a flood is the flood's own; False where that is not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def p50(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[len(ordered) // 2] * 1000 if ordered else float("nan")


async def wait_until_up(url: str, proc: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient() as c:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"{url}: the process exited with {proc.returncode}")
            try:
                await c.get(url, timeout=1)
                return
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not come up in {seconds} s")


async def seed(db_url: str, encryption_key: str, api_key: str, upstream: str) -> None:
    stores = SQLStores(db_url)
    await stores.open()
    try:
        # The admin exists already, so the server makes no default one.
        await stores.users.create(User("admin", hash_password(ADMIN_PASSWORD), role="admin"))
        alice = await stores.users.create(User("alice", "not-a-login", role="user"))
        assert alice.id is not None
        await stores.keys.create(
            ApiKey(user_id=alice.id, name="flood", key_hash=hash_api_key(api_key), key_prefix=shown_prefix(api_key))
        )
        await stores.accounts.create(
            Account(
                name="fake-anthropic",
                platform="claude",
                type="claude-console",
                credentials=CredentialCipher(encryption_key).encrypt({"api_key": "sk-ant-fake"}),
                base_url=upstream,
            )
        )
    finally:
        await stores.close()


@dataclass
class Proxied:
    """Proxied requests, one after another, until told to stop."""

    client: httpx.AsyncClient
    latencies: list[float] = field(default_factory=list)
    failures: int = 0

    async def run(self, stop: asyncio.Event | None = None, count: int | None = None) -> None:
        while (stop is None or not stop.is_set()) and (count is None or len(self.latencies) < count):
            started = time.perf_counter()
            r = await self.client.post("/claude/v1/messages", json=BODY)
            elapsed = time.perf_counter() - started
            if r.status_code != 200 or "usage" not in r.json():
                self.failures += 1
            self.latencies.append(elapsed)


@dataclass
class Flood:
    name: str
    statuses: list[int] = field(default_factory=list)  # in the order sent
    seconds: float = 0.0
    missing_retry_after: int = 0
    peak_reset: bool = False  # VmHWM was reset before the flood: its peak is the flood's own
    p50_ms: float = 0.0
    proxied: int = 0
    proxied_failures: int = 0
    rss_before: dict[str, int] = field(default_factory=dict)
    rss_after: dict[str, int] = field(default_factory=dict)

    def count(self, status: int) -> int:
        return self.statuses.count(status)

    @property
    def throttled_after(self) -> int | None:
        """How many were answered before the first 429, of those sent one by one."""
        first = self.statuses[:SEQUENTIAL]
        return first.index(429) if 429 in first else None

    @property
    def rss_growth(self) -> int:
        return self.rss_after["VmRSS"] - self.rss_before["VmRSS"]

    @property
    def hwm_growth(self) -> int:
        # The peak over the RSS before: what the flood needed at its worst (the
    # peak is the process's since it started, so it never reads lower).
        return max(0, self.rss_after["VmHWM"] - max(self.rss_before["VmRSS"], 0))


async def attack(base: str, attempts: list[tuple[str, str]]) -> dict[str, Any]:
    """Send `attempts` (address, username) with wrong passwords, AT_ONCE at a
    time, each from its address. Runs in a process of its own (`--attack`), so
    that its work does not slow the proxied requests measured in the main one."""
    clients: dict[str, httpx.AsyncClient] = {}
    for address, _ in attempts:
        if address not in clients:
            transport = httpx.AsyncHTTPTransport(local_address=address, limits=httpx.Limits(max_connections=AT_ONCE))
            clients[address] = httpx.AsyncClient(base_url=base, transport=transport, timeout=60)
    slots = asyncio.Semaphore(AT_ONCE)
    statuses = [0] * len(attempts)  # by the order sent
    missing_retry_after = 0

    async def one(i: int, address: str, username: str) -> None:
        nonlocal missing_retry_after
        async with slots:
            r = await clients[address].post(
                "/admin/api/login", json={"username": username, "password": secrets.token_urlsafe(12)}
            )
            statuses[i] = r.status_code
            if r.status_code in (429, 503) and not r.headers.get("retry-after"):
                missing_retry_after += 1

    started = time.perf_counter()
    # The first few one after another, so that where the throttle begins is
    # exact (at once, which of 40 arrives first is the network's choice).
    for i, (a, u) in enumerate(attempts[:SEQUENTIAL]):
        await one(i, a, u)
    await asyncio.gather(*(one(i, a, u) for i, (a, u) in enumerate(attempts) if i >= SEQUENTIAL))
    seconds = time.perf_counter() - started
    for c in clients.values():
        await c.aclose()
    return {"statuses": statuses, "seconds": seconds, "missing_retry_after": missing_retry_after}


def attempts_of(name: str) -> list[tuple[str, str]]:
    if name == "single":
        return [("127.0.0.2", "admin")] * ATTEMPTS
    # 5 per address and one per username: none is throttled, every one hashed.
    return [(f"127.0.1.{i % AT_ONCE + 1}", f"nobody-{i}") for i in range(ATTEMPTS)]


async def flood(name: str, base: str, pid: int, proxied_client: httpx.AsyncClient) -> Flood:
    """One flood from an attacker process, while proxied requests go on from this one."""
    result = Flood(name, peak_reset=reset_peak(pid), rss_before=memory(pid))
    proxied = Proxied(proxied_client)
    stop = asyncio.Event()
    attacker = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--attack", base, name, stdout=asyncio.subprocess.PIPE
    )
    background = asyncio.create_task(proxied.run(stop))
    out, _ = await attacker.communicate()
    stop.set()
    await background
    result.rss_after = memory(pid)
    report = json.loads(out)
    result.statuses = report["statuses"]
    result.seconds = report["seconds"]
    result.missing_retry_after = report["missing_retry_after"]
    result.p50_ms = p50(proxied.latencies)
    result.proxied = len(proxied.latencies)
    result.proxied_failures = proxied.failures
    return result


async def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="aiproxy-login-flood-"))
    upstream_port, server_port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{upstream_port}"
    base = f"http://127.0.0.1:{server_port}"
    encryption_key = CredentialCipher.generate_key()
    api_key = "ap-" + secrets.token_urlsafe(32)
    db_url = f"sqlite+aiosqlite:///{tmp / 'aiproxy.db'}"
    await seed(db_url, encryption_key, api_key, upstream)

    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen([sys.executable, str(ROOT / "bench" / "upstream.py"), "--port", str(upstream_port)]))
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "HOST": "127.0.0.1",
            "PORT": str(server_port),
            "AIPROXY_DATA_DIR": str(tmp),
            "AIPROXY_ENCRYPTION_KEY": encryption_key,
            "AIPROXY_JWT_SECRET": secrets.token_urlsafe(48),
            "LOG_LEVEL": "WARNING",
        }
        server = subprocess.Popen([sys.executable, str(ROOT / "server.py")], env=env, cwd=str(tmp))
        procs.append(server)
        await wait_until_up(upstream + "/", procs[0])
        await wait_until_up(base + "/health", server)
        return await run(base, server.pid, api_key)
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


async def run(base: str, pid: int, api_key: str) -> int:
    misses: list[str] = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as admin, httpx.AsyncClient(
        base_url=base, timeout=60, headers={"x-api-key": api_key, "anthropic-version": "2023-06-01"}
    ) as proxied_client:
        r = await admin.post("/admin/api/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        old_token = r.json()["token"]

        warm = Proxied(proxied_client)
        await warm.run(count=20)
        baseline = Proxied(proxied_client)
        await baseline.run(count=BASELINE_REQUESTS)
        before_p50 = p50(baseline.latencies)
        if baseline.failures:
            misses.append(f"{baseline.failures} proxied requests failed before the flood")

        single = await flood("single", base, pid, proxied_client)
        spread = await flood("spread", base, pid, proxied_client)

        # The real admin, from its own address, with a token from before.
        h_old = {"Authorization": f"Bearer {old_token}"}
        r = await admin.post(
            "/admin/api/password",
            json={"old_password": ADMIN_PASSWORD, "new_password": NEW_ADMIN_PASSWORD},
            headers=h_old,
        )
        change_status = r.status_code
        new_token = r.json().get("token") if r.status_code == 200 else None
        h_new = {"Authorization": f"Bearer {new_token}"}
        old_after = (await admin.get("/admin/api/me", headers=h_old)).status_code
        new_after = (await admin.get("/admin/api/me", headers=h_new)).status_code if new_token else 0
        logout = (await admin.post("/admin/api/logout", headers=h_new)).status_code if new_token else 0
        new_after_logout = (await admin.get("/admin/api/me", headers=h_new)).status_code if new_token else 0

    limit_ms = 1.5 * before_p50 + 2
    print(f"login flood: {ATTEMPTS} wrong admin passwords per flood ({SEQUENTIAL} one by one, then {AT_ONCE} at a time), server pid {pid}")
    print(f"proxied p50 before: {before_p50:.2f} ms over {len(baseline.latencies)} requests (limit during: {limit_ms:.2f} ms)")
    print("HWM: the peak during each flood" if single.peak_reset and spread.peak_reset
          else "HWM: the process's peak since it started (could not reset it): an upper bound")
    print()
    print(f"{'flood':8} {'401':>4} {'429':>4} {'503':>4} {'throttled after':>15} {'seconds':>8} "
          f"{'RSS before':>10} {'RSS after':>10} {'HWM after':>10} {'growth':>8} {'p50 during':>11} {'proxied':>8}")
    for f in (single, spread):
        after = f.throttled_after
        print(
            f"{f.name:8} {f.count(401):>4} {f.count(429):>4} {f.count(503):>4} "
            f"{('-' if after is None else str(after)):>15} {f.seconds:>8.1f} "
            f"{f.rss_before['VmRSS'] / MIB:>7.1f} MiB {f.rss_after['VmRSS'] / MIB:>6.1f} MiB "
            f"{f.rss_after['VmHWM'] / MIB:>6.1f} MiB {max(f.rss_growth, f.hwm_growth) / MIB:>4.1f} MiB "
            f"{f.p50_ms:>8.2f} ms {f.proxied:>8}"
        )
    print()
    print(f"password change with the token from before: {change_status}; "
          f"old token then: {old_after}; new token: {new_after}; logout: {logout}; new token after logout: {new_after_logout}")

    if single.count(429) == 0:
        misses.append("single: no 429")
    if single.missing_retry_after or spread.missing_retry_after:
        misses.append("a 429 or 503 without Retry-After")
    if single.throttled_after is None or single.throttled_after > 6:
        misses.append(f"single: the throttle did not begin within the first {SEQUENTIAL} attempts after 5 or 6")
    for f in (single, spread):
        if max(f.rss_growth, f.hwm_growth) >= 100 * MIB:
            misses.append(f"{f.name}: RSS grew by {max(f.rss_growth, f.hwm_growth) / MIB:.1f} MiB")
        if f.proxied_failures:
            misses.append(f"{f.name}: {f.proxied_failures} proxied requests failed")
        if set(f.statuses) - {401, 429, 503}:
            misses.append(f"{f.name}: unexpected statuses {sorted(set(f.statuses) - {401, 429, 503})}")
    if single.p50_ms > limit_ms:
        misses.append(f"single: proxied p50 {single.p50_ms:.2f} ms during the flood > {limit_ms:.2f} ms")
    if change_status != 200 or old_after != 401 or new_after != 200 or logout != 200 or new_after_logout != 401:
        misses.append("sessions: the token from before did not end, or the new one did not work until logout")
    if spread.p50_ms > limit_ms:
        print(f"note: spread: proxied p50 {spread.p50_ms:.2f} ms during the flood > {limit_ms:.2f} ms "
              "(every attempt hashed, Argon2 competing for the CPU; not a Done-when figure)")

    print(json.dumps({"misses": misses}))
    print("FAIL" if misses else "OK")
    return 1 if misses else 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--attack":
        print(json.dumps(asyncio.run(attack(sys.argv[2], attempts_of(sys.argv[3])))))
        sys.exit(0)
    sys.exit(asyncio.run(main()))
