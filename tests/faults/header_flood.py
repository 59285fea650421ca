"""Header flood: a key holder's request with 10,000 and with 20,000 headers, while /health is polled.

Run by hand, not by pytest:

    python tests/faults/header_flood.py [--counts 10000,20000] [--rounds 3] [--checkout DIR]

Starts a fake Anthropic upstream (tests/fakes) on 127.0.0.1, seeds an SQLite
database with a user, a gateway key and a claude-console account pointed at
the fake, and runs the gateway as `python server.py` (of this checkout, or of
--checkout DIR) in a process of its own. Then sends, on raw sockets, one normal
request (it must answer 200) and, per round, one `POST /claude/v1/messages`
with each number of headers (`x-N: vv`, plus the key and the usual
ones), timing each from its first byte sent to the whole answer read, while a
thread polls `GET /health` every 5 ms on a keep-alive connection.

Prints every figure, and exits 1 unless every flood is answered 431 in under
100 ms and no /health poll during the floods took 50 ms or more (the "Done
when" of issue 10). Everything stays on 127.0.0.1; it ends by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aiproxy.security.api_keys import generate_api_key, hash_api_key, shown_prefix  # noqa: E402
from aiproxy.security.cipher import CredentialCipher  # noqa: E402
from aiproxy.stores.entities import Account, ApiKey, User  # noqa: E402
from aiproxy.stores.sql import SQLStores  # noqa: E402
from tests.fakes.anthropic_upstream import FakeAnthropic  # noqa: E402
from tests.servers import free_port, running  # noqa: E402

FLOOD_LIMIT_MS = 100.0
HEALTH_LIMIT_MS = 50.0
BODY = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 8,
                   "messages": [{"role": "user", "content": "hi"}]}).encode()


async def seed(database_url: str, encryption_key: str) -> str:
    """A user, a gateway key (returned) and one account on the fake upstream."""
    stores = SQLStores(database_url)
    await stores.open()
    try:
        user = await stores.users.create(User(username="flood", password_hash="x", role="user"))
        key = generate_api_key()
        await stores.keys.create(ApiKey(user_id=user.id, name="flood", key_hash=hash_api_key(key),
                                        key_prefix=shown_prefix(key)))
        cipher = CredentialCipher(encryption_key)
        await stores.accounts.create(Account(name="console", platform="claude", type="claude-console",
                                             credentials=cipher.encrypt({"api_key": "sk-ant-fake-upstream"})))
    finally:
        await stores.close()
    return key


def request_bytes(port: int, key: str, extra_headers: int) -> bytes:
    head = [
        "POST /claude/v1/messages HTTP/1.1",
        f"host: 127.0.0.1:{port}",
        f"x-api-key: {key}",
        "anthropic-version: 2023-06-01",
        "content-type: application/json",
        f"content-length: {len(BODY)}",
    ]
    head += [f"x-{i}: vv" for i in range(extra_headers)]  # ~12 bytes a line, as in the issue
    return ("\r\n".join(head) + "\r\n\r\n").encode() + BODY


def exchange(port: int, raw: bytes, timeout: float = 60.0) -> tuple[float, int, bytes]:
    """Send `raw` on a new connection; (ms to the whole answer, status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        started = time.perf_counter()
        try:
            sock.sendall(raw)
        except OSError:
            pass  # a server that answers and closes before the head is all sent: read its answer
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass  # closed on us mid-head: what was read counts (status 0 if nothing)
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
        length = next((int(v) for k, _, v in (line.partition(b":") for line in lines[1:])
                       if k.strip().lower() == b"content-length"), None)
        try:
            while length is not None and len(body) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                body += chunk
        except ConnectionResetError:
            pass
        elapsed = (time.perf_counter() - started) * 1000
    return elapsed, status, body


class HealthPoller(threading.Thread):
    """GET /health every 5 ms on one keep-alive connection, each poll's latency kept."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.polls: list[tuple[float, float]] = []  # (start, ms)
        self.failures = 0
        self._done = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self._done.is_set():
            started = time.perf_counter()
            try:
                conn.request("GET", "/health")
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            elapsed = (time.perf_counter() - started) * 1000
            if ok:
                self.polls.append((started, elapsed))
            else:
                self.failures += 1
            self._done.wait(0.005)
        conn.close()

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=60)

    def between(self, start: float, end: float) -> list[float]:
        return [ms for t, ms in self.polls if start <= t <= end]


def wait_healthy(port: int, process: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the gateway exited with {process.returncode} before it served /health")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("the gateway did not answer /health within 30 s")


def shape(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return f"not JSON: {body[:80]!r}"
    if isinstance(data, dict) and data.get("type") == "error" and isinstance(data.get("error"), dict):
        return f"Anthropic error {data['error'].get('type')}: {data['error'].get('message')}"
    return f"other JSON: {str(data)[:80]}"


def summary(values: list[float]) -> str:
    if not values:
        return "none"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"n={len(values)} p50={statistics.median(values):.1f} ms p99={p99:.1f} ms "
            f"max={max(values):.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="10000,20000", help="header counts to send (comma-separated)")
    parser.add_argument("--rounds", type=int, default=3, help="requests per count")
    parser.add_argument("--checkout", default=str(ROOT), help="the checkout whose server.py runs the gateway")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",") if c]
    checkout = Path(args.checkout).resolve()

    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="header-flood-") as data_dir, running(FakeAnthropic().app()) as upstream:
        encryption_key = CredentialCipher.generate_key()
        key = asyncio.run(seed(f"sqlite+aiosqlite:///{data_dir}/aiproxy.db", encryption_key))
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(checkout), "HOST": "127.0.0.1", "PORT": str(port),
               "AIPROXY_DATA_DIR": data_dir, "AIPROXY_ENCRYPTION_KEY": encryption_key,
               "AIPROXY_JWT_SECRET": "header-flood", "AIPROXY_ANTHROPIC_BASE_URL": upstream,
               "LOG_LEVEL": "WARNING"}
        log = open(Path(data_dir) / "gateway.log", "wb")
        process = subprocess.Popen([sys.executable, str(checkout / "server.py")], cwd=data_dir, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_healthy(port, process, time.monotonic() + 30)
            print(f"gateway {checkout / 'server.py'} on 127.0.0.1:{port}, fake upstream {upstream}")

            ms, status, body = exchange(port, request_bytes(port, key, 0))
            print(f"normal request: {status} in {ms:.1f} ms")
            if status != 200:
                failures.append(f"the normal request answered {status}: {body[:200]!r}")

            requests = {count: request_bytes(port, key, count) for count in counts}
            poller = HealthPoller(port)
            poller.start()
            time.sleep(0.3)  # a baseline before the first flood
            window_start = time.perf_counter()
            results: dict[int, list[tuple[float, int, bytes]]] = {count: [] for count in counts}
            for _ in range(args.rounds):
                for count in counts:
                    results[count].append(exchange(port, requests[count]))
                    time.sleep(0.05)
            window_end = time.perf_counter()
            time.sleep(0.2)
            poller.stop()

            before = poller.between(0, window_start)
            during = poller.between(window_start, window_end)
            for count in counts:
                size = len(requests[count]) - len(BODY)
                times = [ms for ms, _, _ in results[count]]
                statuses = sorted({status for _, status, _ in results[count]})
                print(f"{count} headers ({size / 1024:.0f} KiB head): status {statuses}, "
                      f"times {', '.join(f'{ms:.1f}' for ms in times)} ms (max {max(times):.1f} ms)")
                print(f"  answer: {shape(results[count][-1][2])}")
                if statuses != [431]:
                    failures.append(f"{count} headers answered {statuses}, not 431")
                if max(times) >= FLOOD_LIMIT_MS:
                    failures.append(f"{count} headers took {max(times):.1f} ms (limit {FLOOD_LIMIT_MS:.0f} ms)")
            print(f"/health before the floods: {summary(before)}")
            print(f"/health during the floods: {summary(during)}; failed polls: {poller.failures}")
            if not during:
                failures.append("no /health poll completed during the floods")
            elif max(during) >= HEALTH_LIMIT_MS:
                failures.append(f"/health took {max(during):.1f} ms during the floods (limit {HEALTH_LIMIT_MS:.0f} ms)")
            if poller.failures:
                failures.append(f"{poller.failures} /health polls failed")
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()
            if failures:
                tail = (Path(data_dir) / "gateway.log").read_bytes()[-2000:].decode("utf-8", "replace")
                if tail.strip():
                    print("gateway log (tail):\n" + tail)

    for failure in failures:
        print("FAIL:", failure)
    print("PASS" if not failures else "FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
