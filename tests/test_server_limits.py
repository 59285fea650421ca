"""aiproxy.server_limits against a real uvicorn server on 127.0.0.1, on both HTTP parsers.

Timeouts here are half a second, so each test waits a second or two at most.
Raw sockets, because the point is what a client that misbehaves gets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import pytest
import uvicorn

from aiproxy import server_limits
from aiproxy.server_limits import RedactQueryKeys, fit_to_descriptors, uvicorn_options
from aiproxy.settings import ServerLimits, ServerSettings
from tests.servers import free_port

T = 0.5  # every timeout of the servers under test
LIMITS = ServerLimits(head_timeout=T, keepalive_timeout=T, body_timeout=T, max_head_bytes=8192, max_connections=1000)
PARSERS = ["httptools", "h11"]


@dataclass
class App:
    """Raw ASGI: `/` answers ok, `/echo` reads the body and answers its length,
    `/sse` streams events for longer than every timeout, `/early` answers without
    reading the body. Every http.disconnect the app sees is noted."""

    disconnects: list[str] = field(default_factory=list)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        if scope["type"] == "websocket":  # echoes, for as long as the client likes
            assert (await receive())["type"] == "websocket.connect"
            await send({"type": "websocket.accept"})
            while (message := await receive())["type"] == "websocket.receive":
                await send({"type": "websocket.send", "text": message.get("text")})
            return
        path = scope["path"]
        if path == "/sse":
            headers = [(b"content-type", b"text/event-stream")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            for i in range(6):  # 6 x 0.25 s: three times the head and keep-alive timeouts
                await send({"type": "http.response.body", "body": b"data: %d\n\n" % i, "more_body": True})
                await asyncio.sleep(0.25)
            await send({"type": "http.response.body", "body": b"data: done\n\n"})
            return
        body = b""
        if path == "/echo":
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    self.disconnects.append(path)
                    return
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
        answer = str(len(body)).encode() if path == "/echo" else b"ok"
        headers = [(b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


@dataclass
class Server:
    host: str
    port: int
    app: App
    protocol: type

    def connect(self) -> socket.socket:
        s = socket.create_connection((self.host, self.port), timeout=5)
        return s


@contextlib.contextmanager
def serve(limits: ServerLimits, http: str) -> Iterator[Server]:
    app = App()
    port = free_port()
    options = uvicorn_options(limits, http)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield Server("127.0.0.1", port, app, options["http"])
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture(scope="module", params=PARSERS)
def srv(request: pytest.FixtureRequest) -> Iterator[Server]:
    with serve(LIMITS, request.param) as s:
        yield s


def read_until_closed(s: socket.socket, timeout: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection (b"" then)."""
    s.settimeout(timeout)
    out = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := s.recv(65536):
            out += chunk
    return out


def read_response(s: socket.socket) -> bytes:
    """One response with a content-length, leaving the connection open."""
    s.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = int(next(line.split(b":")[1] for line in lines if line.lower().startswith(b"content-length")))
    while len(body) < length:
        chunk = s.recv(65536)
        assert chunk
        body += chunk
    return head + b"\r\n\r\n" + body


GET = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"


def test_a_normal_request_is_served_and_kept_alive(srv: Server) -> None:
    with srv.connect() as s:
        for _ in range(3):
            s.sendall(GET)
            assert read_response(s).startswith(b"HTTP/1.1 200")


def test_an_idle_connection_is_closed_after_the_head_timeout(srv: Server) -> None:
    with srv.connect() as s:
        started = time.monotonic()
        assert read_until_closed(s) == b""  # nothing sent, nothing answered: closed
        assert time.monotonic() - started >= T * 0.8  # by the head timer, not at once


def test_a_slowloris_head_is_cut_at_the_head_timeout(srv: Server) -> None:
    head = b"GET / HTTP/1.1\r\nhost: x\r\nuser-agent: " + b"a" * 40 + b"\r\n\r\n"
    with srv.connect() as s:
        sent = 0
        with contextlib.suppress(OSError):
            for byte in head:  # one byte per 0.1 s: the head would take 6 s
                s.send(bytes([byte]))
                sent += 1
                time.sleep(0.1)
                s.settimeout(0.001)
                with contextlib.suppress(socket.timeout):
                    if s.recv(1, socket.MSG_PEEK):
                        break
        answer = read_until_closed(s)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert sent < len(head) // 2


def test_an_oversized_head_is_answered_431_and_closed(srv: Server) -> None:
    with srv.connect() as s:
        s.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 9000)
        answer = read_until_closed(s)
    assert answer.startswith(b"HTTP/1.1 431"), answer


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        (b"/claude/v1/messages", b'"type":"error"'),
        (b"/openai/v1/chat/completions?x=1", b'"type":"invalid_request_error"'),
        (b"/gemini/v1beta/models/gemini-2.5-flash:generateContent", b'"status":"INVALID_ARGUMENT"'),
        (b"/admin/api/users", b'"type":"request_header_fields_too_large"'),
    ],
)
def test_a_refused_head_is_answered_in_the_shape_of_the_api_its_path_names(
    srv: Server, path: bytes, shape: bytes
) -> None:
    with srv.connect() as s:
        s.sendall(b"POST " + path + b" HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 9000)
        answer = read_until_closed(s)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431"), answer
    assert b"content-type: application/json" in head
    assert shape in body.replace(b" ", b""), body


def test_a_head_just_under_the_cap_with_a_body_in_the_same_read_is_served(srv: Server) -> None:
    # The cap counts the head only: a body arriving with it is not head bytes.
    body = b"b" * 20000
    head = b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\nx-pad: " % len(body)
    head += b"p" * (8000 - len(head)) + b"\r\n\r\n"
    with srv.connect() as s:
        s.sendall(head + body)
        assert read_response(s).endswith(b"20000")


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def test_a_50_mb_header_stream_is_cut_without_growing_memory(srv: Server) -> None:
    before = rss_bytes()
    chunk = b"a" * 65536
    sent = 0
    with srv.connect() as s:
        s.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nx-big: ")
        with contextlib.suppress(OSError):  # reset or timed out once the server has closed
            while sent < 50 * 1024 * 1024:
                s.sendall(chunk)
                sent += len(chunk)
    grown = rss_bytes() - before
    assert sent < 50 * 1024 * 1024  # refused long before the end
    assert grown < 16 * 1024 * 1024, f"RSS grew by {grown / 2**20:.1f} MiB"
    with srv.connect() as s:  # and the server is fine
        s.sendall(GET)
        assert read_response(s).startswith(b"HTTP/1.1 200")


def test_an_idle_keep_alive_connection_is_closed(srv: Server) -> None:
    with srv.connect() as s:
        s.sendall(GET)
        assert read_response(s).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert read_until_closed(s) == b""
        assert time.monotonic() - started >= T * 0.8


def test_a_slow_second_head_on_a_keep_alive_connection_is_cut(srv: Server) -> None:
    with srv.connect() as s:
        s.sendall(GET)
        assert read_response(s).startswith(b"HTTP/1.1 200")
        with contextlib.suppress(OSError):
            for byte in GET[:12]:  # 1.2 s of head, past the head timeout (and the keep-alive one)
                s.send(bytes([byte]))
                time.sleep(0.1)
        assert read_until_closed(s).startswith(b"HTTP/1.1 408")


def test_a_stalled_body_is_answered_408_and_the_app_sees_a_disconnect(srv: Server) -> None:
    before = len(srv.app.disconnects)
    with srv.connect() as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n" + b"x" * 10)
        started = time.monotonic()
        answer = read_until_closed(s)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started >= T * 0.8
    deadline = time.monotonic() + 2
    while len(srv.app.disconnects) == before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert srv.app.disconnects[before:] == ["/echo"]


def test_a_slow_body_that_makes_progress_is_read_to_the_end(srv: Server) -> None:
    with srv.connect() as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 80\r\n\r\n")
        for _ in range(8):  # 8 x 0.2 s: past every timeout in total, never stalled for one
            time.sleep(0.2)
            s.sendall(b"y" * 10)
        assert read_response(s).endswith(b"\r\n\r\n80")


def test_a_stream_longer_than_every_timeout_is_not_cut(srv: Server) -> None:
    with srv.connect() as s:
        s.sendall(b"GET /sse HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        answer = read_until_closed(s)
    assert answer.startswith(b"HTTP/1.1 200")
    assert b"data: 5" in answer and b"data: done" in answer


def test_pipelined_requests_are_all_answered(srv: Server) -> None:
    with srv.connect() as s:
        s.sendall(GET + GET + b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        assert read_until_closed(s).count(b"HTTP/1.1 200") == 3


def test_pipelined_requests_beyond_the_head_cap_in_one_read_are_all_answered(srv: Server) -> None:
    # 40 small heads, 12 KB in all: the cap is per head, not per read.
    one = b"GET / HTTP/1.1\r\nhost: x\r\nx-pad: " + b"p" * 260 + b"\r\n\r\n"
    last = b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    with srv.connect() as s:
        s.sendall(one * 39 + last)
        assert read_until_closed(s).count(b"HTTP/1.1 200") == 40


def test_a_body_left_unread_by_an_early_answer_is_not_counted_as_the_next_head(srv: Server) -> None:
    body = b"z" * 50000  # far more than the head cap
    with srv.connect() as s:
        s.sendall(b"POST /early HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n" % len(body))
        assert read_response(s).startswith(b"HTTP/1.1 200")
        s.sendall(body)
        s.sendall(GET)
        assert read_response(s).startswith(b"HTTP/1.1 200")


def test_a_websocket_outlives_every_timeout(srv: Server) -> None:
    from websockets.sync.client import connect

    with connect(f"ws://{srv.host}:{srv.port}/ws", open_timeout=5) as ws:
        time.sleep(4 * T)  # past the head, keep-alive and body timeouts
        ws.send("still here")
        assert ws.recv(timeout=5) == "still here"


@pytest.mark.parametrize("http", PARSERS)
def test_a_slow_head_after_a_slow_body_is_cut_at_the_head_timeout_not_the_body_one(http: str) -> None:
    with serve(ServerLimits(head_timeout=T, keepalive_timeout=5, body_timeout=30), http) as srv, srv.connect() as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n\r\nab")
        time.sleep(T * 1.2)  # the body waits past the head deadline: the timer now serves the body's 30 s
        s.sendall(b"cd")
        assert read_response(s).endswith(b"\r\n\r\n4")
        started = time.monotonic()
        with contextlib.suppress(OSError):
            for byte in GET[:20]:  # 2 s of head
                s.send(bytes([byte]))
                time.sleep(0.1)
        assert read_until_closed(s).startswith(b"HTTP/1.1 408")
        assert time.monotonic() - started < 10  # the head's 0.5 s, not what was left of the body's 30 s


@pytest.mark.parametrize("http", PARSERS)
def test_the_connection_cap_closes_the_oldest_idle_connection_first(http: str) -> None:
    with serve(ServerLimits(head_timeout=5, keepalive_timeout=5, max_connections=3), http) as srv:
        idle = [srv.connect() for _ in range(3)]
        time.sleep(0.2)
        with srv.connect() as s:  # a new client is served: the oldest idle one made room
            s.sendall(GET)
            assert read_response(s).startswith(b"HTTP/1.1 200")
        assert read_until_closed(idle[0], timeout=2) == b""
        for s in idle:
            s.close()


@pytest.mark.parametrize("http", PARSERS)
def test_past_the_cap_with_nothing_idle_a_new_connection_is_answered_503(http: str) -> None:
    with serve(ServerLimits(head_timeout=5, body_timeout=5, max_connections=2), http) as srv:
        busy = [srv.connect() for _ in range(2)]
        for s in busy:  # mid-body: not idle, never closed to make room
            s.sendall(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n\r\nab")
        time.sleep(0.2)
        with srv.connect() as s:
            assert read_until_closed(s).startswith(b"HTTP/1.1 503")
        for s in busy:
            s.sendall(b"cd")
            assert read_response(s).endswith(b"\r\n\r\n4")
            s.close()


# --- access log ---


def access_record(path: str) -> logging.LogRecord:
    return logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", path, "1.1", 200), None,
    )


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("/gemini/v1beta/models/m:generateContent?key=AIzaSECRET", "/gemini/v1beta/models/m:generateContent?key=REDACTED"),  # noqa: E501
        ("/x?alt=sse&key=AIzaSECRET", "/x?alt=sse&key=REDACTED"),
        ("/x?api_key=sk-SECRET&a=1", "/x?api_key=REDACTED&a=1"),
        ("/x?API-KEY=sk-SECRET", "/x?API-KEY=REDACTED"),
        ("/x?monkey=1&max_tokens=5", "/x?monkey=1&max_tokens=5"),
        ("/x", "/x"),
    ],
)
def test_keys_in_query_strings_are_redacted_in_access_lines(path: str, shown: str) -> None:
    record = access_record(path)
    assert RedactQueryKeys().filter(record)
    assert record.getMessage() == f'127.0.0.1:5000 - "POST {shown} HTTP/1.1" 200'


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_the_access_log_of_a_real_server_shows_no_key() -> None:
    access = logging.getLogger("uvicorn.access")
    handler = ListHandler()
    with serve(LIMITS, "httptools") as srv:  # uvicorn's own logging config: access lines do not propagate
        server_limits.redact_access_log()
        server_limits.redact_access_log()  # once is enough, twice adds nothing
        assert sum(isinstance(f, RedactQueryKeys) for f in access.filters) == 1
        access.addHandler(handler)
        level = access.level
        access.setLevel(logging.INFO)  # the server logs at warning
        try:
            with srv.connect() as s:
                port = s.getsockname()[1]
                s.sendall(b"GET /?alt=sse&key=AIzaTOPSECRET HTTP/1.1\r\nhost: x\r\n\r\n")
                assert read_response(s).startswith(b"HTTP/1.1 200")
        finally:
            access.setLevel(level)
            access.removeHandler(handler)
            for f in [f for f in access.filters if isinstance(f, RedactQueryKeys)]:
                access.removeFilter(f)
    assert handler.lines == ['127.0.0.1:%d - "GET /?alt=sse&key=REDACTED HTTP/1.1" 200' % port]


# --- worker processes ---


@pytest.mark.parametrize("http", PARSERS)
def test_a_worker_config_travels_pickled_and_builds_its_protocol_where_it_serves(http: str) -> None:
    # uvicorn hands each worker process its Config pickled; a class made at run
    # time cannot travel that way, so the Config carries the limits and builds it in load().
    access = logging.getLogger("uvicorn.access")
    port = free_port()
    config = server_limits.LimitedConfig("tests.test_server_limits:App", factory=True, limits=LIMITS, http=http,
                                         host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    try:
        # Installed where uvicorn sets up its loggers (a worker does so again after unpickling).
        assert any(isinstance(f, RedactQueryKeys) for f in access.filters)
        worker = pickle.loads(pickle.dumps(config))
        assert worker.http == http and worker.limits == LIMITS and worker.timeout_keep_alive == T  # a name, no class
        server = uvicorn.Server(worker)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        try:
            protocol = worker.http_protocol_class
            assert issubclass(protocol, server_limits.LimitsMixin) and protocol.limits == LIMITS
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * LIMITS.max_head_bytes + b"\r\n\r\n")
                assert read_response(s).startswith(b"HTTP/1.1 431")
        finally:
            server.should_exit = True
            thread.join(timeout=15)
    finally:
        for f in [f for f in access.filters if isinstance(f, RedactQueryKeys)]:
            access.removeFilter(f)


# --- descriptors and settings ---


def test_the_connection_cap_is_kept_below_the_descriptor_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import resource

    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(resource, "getrlimit", lambda _: (256, 1024))
    monkeypatch.setattr(resource, "setrlimit", lambda _, limits: calls.append(limits))
    fitted = fit_to_descriptors(ServerLimits(max_connections=4096))
    assert calls == [(1024, 1024)]  # soft raised to hard
    assert fitted.max_connections == (1024 - server_limits.DESCRIPTOR_RESERVE) // 2
    monkeypatch.setattr(resource, "getrlimit", lambda _: (65536, 65536))
    assert fit_to_descriptors(ServerLimits(max_connections=4096)).max_connections == 4096


def test_server_settings_read_the_limits_from_the_environment() -> None:
    assert ServerSettings.from_env({}).limits == ServerLimits()
    limits = ServerSettings.from_env(
        {
            "AIPROXY_HEAD_TIMEOUT_SECONDS": "2.5",
            "AIPROXY_KEEPALIVE_TIMEOUT_SECONDS": "7",
            "AIPROXY_BODY_TIMEOUT_SECONDS": "9",
            "AIPROXY_MAX_HEAD_BYTES": "1000",
            "AIPROXY_MAX_CONNECTIONS": "12",
        }
    ).limits
    assert limits == ServerLimits(
        head_timeout=2.5, keepalive_timeout=7, body_timeout=9, max_head_bytes=1000, max_connections=12
    )
