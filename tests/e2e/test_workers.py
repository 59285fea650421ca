"""`python server.py` with WORKERS=2: both workers serve, and one /metrics scrape counts them all.

The server runs as an operator runs it (a process of its own, SQLite in a temp
directory, Redis), in front of the fake Anthropic API on a local server. Which
worker served what is read from the metric files each worker writes (one per
process id) in the private directory server.py makes under TMPDIR. Also: more
than one worker without REDIS_URL is refused, a worker that cannot start stops
the server with uvicorn's start-failure code, and the server limits' protocol
answers in the workers.

Redis is a private redis-server (tests/state/private_redis.py): server.py
writes under the gateway's own `aiproxy:` prefix, which a test must not fill
on the shared Redis.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import anyio
import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from aiproxy.stores.sql import SQLStores
from aiproxy.testing import FakeAnthropic, Seed
from tests.servers import free_port, running
from tests.state.private_redis import REDIS_SERVER, SKIP_REASON, PrivateRedis

REPO = Path(__file__).resolve().parents[2]
ASK = {"model": "claude-sonnet-4-6", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
MAX_HEAD_BYTES = 8192


def server_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of `python server.py`: this one's, less what would steer the gateway elsewhere."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIPROXY_", "DB_", "PROMETHEUS_")) and k not in ("REDIS_URL", "DATABASE_URL", "WORKERS")}
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env.update(HOST="127.0.0.1", AIPROXY_DATA_DIR=str(tmp_path / "data"), TMPDIR=str(tmp_path / "tmp"),
               PYTHONPATH=str(REPO), **extra)
    return env


def start_server(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen[bytes]:
    # A session of its own: uvicorn's workers outlive a parent killed outright, and a
    # test that must kill it kills the whole group (stop()).
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, str(REPO / "server.py"), *args], env=env, cwd=REPO,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def run_server(env: dict[str, str], *args: str, log: Path, timeout: float = 60) -> int:
    """server.py run to its end (it is expected to stop by itself); its exit code."""
    proc = start_server(env, *args, log=log)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(proc)
        raise AssertionError(f"server.py did not stop by itself:\n{log.read_text()}") from None


def requests_by_worker(tmp_path: Path) -> dict[str, float]:
    """Requests each worker counted, from its own counter file: {pid: requests}."""
    found: dict[str, float] = {}
    for path in (tmp_path / "tmp").glob("aiproxy-metrics-*/counter_*.db"):
        pid = path.stem.split("_", 1)[1]
        for metric in MultiProcessCollector.merge([str(path)]):
            found[pid] = found.get(pid, 0.0) + sum(s.value for s in metric.samples if s.name == "aiproxy_requests_total")
    return found


def scraped_requests(text: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("aiproxy_requests_total{"))


@pytest.fixture
def redis() -> Iterator[PrivateRedis]:
    if REDIS_SERVER is None:
        pytest.skip(SKIP_REASON)
    with PrivateRedis() as server:
        yield server


async def seeded_database(tmp_path: Path, seed_key: str) -> tuple[str, str]:
    """An SQLite database with a user, a key and a Claude Console account; (its URL, the key)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    stores = SQLStores(url)
    await stores.open()
    try:
        seed = Seed(stores, encryption_key=seed_key)
        user = await seed.user("alice")
        key, _ = await seed.key(user)
        await seed.account({"api_key": "sk-ant-workers-upstream"})
    finally:
        await stores.close()
    return url, key


async def wait_until_serving(proc: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as client:
        while True:
            assert proc.poll() is None, f"server.py exited ({proc.returncode}):\n{log.read_text()}"
            assert time.monotonic() < deadline, f"server.py did not start:\n{log.read_text()}"
            try:
                if (await client.get(base + "/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await anyio.sleep(0.2)


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM, as an operator stops it (the supervisor then stops its workers); the group killed if that hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        raise AssertionError("server.py did not stop on SIGTERM") from None


@pytest.mark.anyio
async def test_one_scrape_counts_the_requests_of_both_workers(tmp_path: Path, redis: PrivateRedis) -> None:
    seed_key = Seed().encryption_key
    url, key = await seeded_database(tmp_path, seed_key)
    fake = FakeAnthropic()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with running(fake.app()) as upstream:
        env = server_env(tmp_path, WORKERS="2", PORT=str(port), REDIS_URL=redis.url, DATABASE_URL=url,
                         AIPROXY_ENCRYPTION_KEY=seed_key, AIPROXY_JWT_SECRET="workers-test",
                         AIPROXY_ANTHROPIC_BASE_URL=upstream, AIPROXY_MAX_HEAD_BYTES=str(MAX_HEAD_BYTES))
        proc = start_server(env, log=log)
        try:
            await wait_until_serving(proc, base, log)
            sent = 0

            async def one() -> None:
                # A connection of its own each: the workers take turns accepting them.
                async with httpx.AsyncClient(base_url=base) as client:
                    r = await client.post("/claude/v1/messages", json=ASK, headers={"x-api-key": key})
                    assert r.status_code == 200, r.text

            deadline = time.monotonic() + 60
            while len([n for n in requests_by_worker(tmp_path).values() if n > 0]) < 2:
                assert time.monotonic() < deadline, f"one worker served everything: {requests_by_worker(tmp_path)}"
                async with anyio.create_task_group() as tg:
                    for _ in range(8):
                        tg.start_soon(one)
                sent += 8
            assert len(fake.requests) == sent

            # The last usage records are counted as their responses end: wait for them in the files.
            while sum(requests_by_worker(tmp_path).values()) < sent:
                assert time.monotonic() < deadline, f"{requests_by_worker(tmp_path)} of {sent}"
                await anyio.sleep(0.05)
            by_worker = requests_by_worker(tmp_path)
            assert len(by_worker) == 2 and all(n > 0 for n in by_worker.values()) and sum(by_worker.values()) == sent

            # Each scrape, whichever worker answers it, counts every request of both.
            for _ in range(6):
                async with httpx.AsyncClient(base_url=base) as client:
                    r = await client.get("/metrics")
                assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
                assert scraped_requests(r.text) == sent, r.text
                assert "_created" not in r.text and key not in r.text

            # The workers serve on the server limits' protocol: a head over the cap is answered 431.
            for _ in range(4):
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * MAX_HEAD_BYTES + b"\r\n\r\n")
                    assert s.recv(64).startswith(b"HTTP/1.1 431 ")
        finally:
            code = stop(proc)
    assert code == 0, log.read_text()
    assert not list((tmp_path / "tmp").glob("aiproxy-metrics-*")), "the metrics directory is removed at the end"


@pytest.mark.parametrize("how", ["env", "flag"])
def test_more_than_one_worker_without_redis_is_refused(tmp_path: Path, how: str) -> None:
    env = server_env(tmp_path, PORT=str(free_port()))
    args = ["--workers", "2"] if how == "flag" else []
    if how == "env":
        env["WORKERS"] = "2"
    log = tmp_path / "server.log"
    assert run_server(env, *args, log=log) == 1
    said = log.read_text()
    assert "2 workers (WORKERS, --workers) need REDIS_URL" in said
    assert "per process" in said  # says why
    assert not (tmp_path / "data").exists(), "refused before anything was made"


def test_a_worker_that_cannot_start_stops_the_server(tmp_path: Path) -> None:
    # The database cannot be opened (its directory would be under a file); Redis is
    # not reached at start, so none needs to run.
    (tmp_path / "a-file").write_text("")
    env = server_env(tmp_path, WORKERS="2", PORT=str(free_port()), REDIS_URL="redis://127.0.0.1:1/0",
                     DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'a-file' / 'gateway.db'}")
    log = tmp_path / "server.log"
    assert run_server(env, log=log) == 3, log.read_text()  # uvicorn's STARTUP_FAILURE
    assert not list((tmp_path / "tmp").glob("aiproxy-metrics-*"))
