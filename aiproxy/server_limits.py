"""Connection limits for `python server.py`: uvicorn's HTTP protocols with timeouts and caps.

uvicorn bounds only the idle time between keep-alive requests. A connection that
sends nothing, or its head one byte at a time, or stops halfway through its
body, is held forever, and so is every byte of an unfinished header. The
protocol classes here add, per connection and below the app:

- a head timeout: from connect, or from the first byte of the next request on a
  keep-alive connection, until the request head is complete (408 if some of it
  came, a silent close if nothing did);
- a body timeout: no byte of the request body for that long (408, or a close if
  the response has started; the app's receive() then says http.disconnect);
- a head size cap: bytes are counted before the parser sees them, and a head
  still unfinished at the cap is answered 431 without buffering more;
- a connection cap: beyond it the oldest connection that is between requests
  (or still sending its head) is closed to make room, and when there is none
  the new connection is answered 503 at once, so clients mid-request are never
  starved by idle ones.

On the normal path a request costs a few attribute checks and two dict
operations: each connection has one lazy timer, armed at connect (and again at
most once per head timeout), never cancelled when a head completes; when it
fires it looks at where the connection is and cuts it, re-arms for the deadline
in force, or lets itself go. Bytes are counted only until the head is complete.

`limited_protocol(limits)` builds the class to pass as `uvicorn.Config(http=...)`,
`LimitedConfig` a Config that builds it in each worker process;
`fit_to_descriptors` raises RLIMIT_NOFILE and keeps the cap below it;
`redact_access_log` keeps API keys in query strings out of the access log.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import logging
import re
import time
from typing import Any, ClassVar

import uvicorn

from .errors import error_body_for_path
from .settings import ServerLimits

logger = logging.getLogger("aiproxy.server_limits")

# Where a connection is. HEAD: waiting for or reading a request head (from connect,
# or once the next request's first byte came on a keep-alive connection). BODY:
# head complete, body not yet. APP: request complete, its response not yet. IDLE:
# between requests on a keep-alive connection (uvicorn's keep-alive timer runs).
HEAD, BODY, APP, IDLE, CLOSED = range(5)

# Descriptors kept back from the connection cap: the listening socket, the
# database, Redis, log files and the upstream pool's idle connections.
DESCRIPTOR_RESERVE = 128
WARN_EVERY_S = 10.0


def _plain(status: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: "
        + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
    )


RESPONSE_503 = _plain(b"503 Service Unavailable", b"Too many open connections")

# How much of a request head is kept to tell which API it was for: enough for
# the request line of any route of ours.
HEAD_START_BYTES = 512
_STATUS_LINES = {408: b"408 Request Timeout", 431: b"431 Request Header Fields Too Large"}


def _path_of(head_start: bytes) -> str:
    """The path of a request line, from however much of the head has come."""
    parts = head_start.split(b" ", 2)
    return parts[1].split(b"?", 1)[0].decode("latin-1") if len(parts) >= 2 else ""


def _shaped(status: int, message: str, path: str) -> bytes:
    """A refusal in the shape of the API `path` names (the request line is
    usually in by the time a head is refused), like the app's own errors."""
    body = error_body_for_path(path, status, message)
    return (
        b"HTTP/1.1 " + _STATUS_LINES[status] + b"\r\ncontent-type: application/json\r\ncontent-length: "
        + str(len(body)).encode() + b"\r\nx-should-retry: false\r\nconnection: close\r\n\r\n" + body
    )


class _Warnings:
    """At most one log line per kind per WARN_EVERY_S, with the count since the last one:
    a flood of idle connections must not become a flood of log lines."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._count: dict[str, int] = {}

    def note(self, kind: str, message: str) -> None:
        self._count[kind] = self._count.get(kind, 0) + 1
        now = time.monotonic()
        if now - self._last.get(kind, -WARN_EVERY_S) >= WARN_EVERY_S:
            logger.warning("%s (%d times since the previous line about this)", message, self._count[kind])
            self._last[kind] = now
            self._count[kind] = 0


class LimitsMixin:
    """The limits, shared by the httptools and h11 protocols; the subclasses say when a
    head and a message are complete (`_head_done`, `_message_done`, `_response_done`)."""

    limits: ClassVar[ServerLimits]
    # Connections between requests or still sending a head, oldest first: the ones
    # closed to make room at the connection cap. One per server (per class built).
    evictable: ClassVar[dict[Any, None]]
    warnings: ClassVar[_Warnings]

    # From uvicorn's protocols.
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    connections: set[Any]
    cycle: Any
    flow: Any
    timeout_keep_alive: int  # uvicorn declares it an int
    timeout_keep_alive_task: asyncio.TimerHandle | None

    _phase: int = CLOSED
    _head_bytes: int = 0
    _head_start: bytes = b""  # the first HEAD_START_BYTES of the head in progress
    # One timer per connection, lazy: it is not cancelled when a head completes
    # or a body ends; when it fires it looks at where the connection is, and
    # either cuts it, re-arms for the deadline in force, or lets itself go.
    _timer: asyncio.TimerHandle | None = None
    _timer_due: float = 0.0
    _head_due: float = 0.0  # when the head in progress must be complete
    _body_seen: float = 0.0  # when the body in progress last made progress

    # --- connection: the protocol's own entry points, around uvicorn's ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._limits_connect()

    def connection_lost(self, exc: Exception | None) -> None:
        self._limits_lost()
        super().connection_lost(exc)  # type: ignore[misc]

    def _feed(self, data: bytes) -> None:
        """Hand bytes to uvicorn's parser (its own data_received; each subclass binds it directly)."""
        raise NotImplementedError


    def _limits_connect(self) -> bool:
        """Called after uvicorn's connection_made; False when the connection was refused."""
        if len(self.connections) > self.limits.max_connections and not self._evict_oldest():
            self.warnings.note(
                "cap", f"connection cap ({self.limits.max_connections}) reached, new connections answered 503"
            )
            self.transport.write(RESPONSE_503)
            self.transport.close()
            return False
        self._phase = HEAD
        self._head_due = self.loop.time() + self.limits.head_timeout
        self._arm(self._head_due)
        self.evictable[self] = None
        return True

    def _evict_oldest(self) -> bool:
        evictable = self.evictable
        while evictable:
            victim = next(iter(evictable))
            del evictable[victim]
            if not victim.transport.is_closing():
                self.warnings.note("evict", "connection cap reached, closing the oldest idle connections")
                victim._limits_close()
                # Freed now, not when the loop gets to its connection_lost.
                self.connections.discard(victim)
                return True
        return False

    def _limits_close(self) -> None:
        self._phase = CLOSED
        self._cancel_timer()
        self.transport.close()

    def _limits_lost(self) -> None:
        self._phase = CLOSED
        self._cancel_timer()
        self.evictable.pop(self, None)

    def handle_websocket_upgrade(self, *args: Any) -> None:
        # The connection now belongs to a WebSocket protocol: time it no more.
        self._limits_lost()
        super().handle_websocket_upgrade(*args)  # type: ignore[misc]

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # --- bytes in ---

    def data_received(self, data: bytes) -> None:
        """Count head bytes, arm timers, and feed the parser (`_feed`)."""
        phase = self._phase
        if phase == BODY:
            self._body_seen = self.loop.time()
            self._feed(data)
        elif phase == CLOSED:
            return
        else:
            if phase == IDLE:
                # The next request's first byte: from here its head has head_timeout.
                self._phase = HEAD
                self._head_due = self.loop.time() + self.limits.head_timeout
                self._arm(self._head_due)  # (a timer due sooner stays, and re-arms for this deadline)
            if not self._feed_head(data):
                return
            if self._phase == BODY and not self.transport.is_closing():
                # The body outlives the read that carried its head: from here it must make progress.
                self._body_seen = self.loop.time()
                self._arm(self._body_seen + self.limits.body_timeout)

    def _feed_head(self, data: bytes) -> bool:
        """Feed bytes that start (or continue) a head, up to the cap; False once refused or closed."""
        while True:
            counted = self._head_bytes
            room = self.limits.max_head_bytes - counted
            self._head_bytes = counted + len(data)
            if len(data) <= room:
                self._feed(data)
                # The start of a head is kept only while the head is unfinished
                # (_head_done zeroes the count): a head that came whole in one
                # read, the usual case, is never copied.
                if self._head_bytes and counted < HEAD_START_BYTES:
                    self._head_start += data[: HEAD_START_BYTES - counted]
                return True
            if counted < HEAD_START_BYTES:
                self._head_start += data[: HEAD_START_BYTES - counted]
            # Feed only what the cap allows: if the head ends within it, the rest
            # is body (or the next pipelined request's head) and is fed on its own.
            if room > 0:
                self._feed(data[:room])
            if self._head_bytes and self._phase != CLOSED:  # still no complete head
                self._head_too_large()
                return False
            if self.transport.is_closing():
                return False
            data = data[room:]
            if self._phase == BODY:
                self._feed(data)
                return True

    def _head_too_large(self) -> None:
        if self._phase == APP:
            # A pipelined request's head, while the response to the one before is
            # still going: let that response finish, then close; read no more.
            self.cycle.keep_alive = False
            self.flow.pause_reading()
            self.warnings.note("431", "pipelined request head over the cap, closing after the current response")
            return
        self.warnings.note("431", f"request head over {self.limits.max_head_bytes} bytes, answered 431")
        self.transport.write(
            _shaped(431, f"request head exceeds {self.limits.max_head_bytes} bytes", _path_of(self._head_start))
        )
        self._limits_close()

    # --- parser events ---

    def _head_done(self) -> None:
        self._phase = BODY
        self._head_bytes = 0
        self._head_start = b""
        self.evictable.pop(self, None)

    def _message_done(self) -> None:
        if self.cycle is not None and self.cycle.response_complete:
            # The app answered before the body was all read (a 413, say).
            self._go_idle()
        else:
            self._phase = APP

    def _response_done(self) -> None:
        # Only when the request was read to its end: a body still coming keeps its
        # body timer, and its bytes are not counted as the next head.
        if self._phase == APP and self.cycle.response_complete and not self.transport.is_closing():
            self._go_idle()

    def _go_idle(self) -> None:
        self._phase = IDLE
        self.evictable[self] = None
        if self.timeout_keep_alive_task is None and not self.transport.is_closing():
            # uvicorn arms its keep-alive timer when the response completes, and
            # cancels it on every read, so a body read after the response leaves none.
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler  # type: ignore[attr-defined]
            )

    # --- timers ---

    def _arm(self, due: float) -> None:
        """Have the timer fire by `due` (a loop time); one already due sooner stays."""
        if self._timer is not None:
            if self._timer_due <= due:
                return
            self._timer.cancel()
        self._timer_due = due
        self._timer = self.loop.call_at(due, self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer = None
        phase = self._phase
        if phase not in (HEAD, BODY) or self.transport.is_closing():
            return  # between requests (uvicorn's keep-alive timer), or the app's turn: nothing to time
        now = self.loop.time()
        if phase == HEAD:
            if now < self._head_due:
                self._arm(self._head_due)  # a later request's head: its own deadline
                return
            self.warnings.note(
                "head", f"request head not complete within {self.limits.head_timeout:g} s, connection closed"
            )
            if self._head_bytes:
                message = f"request head not complete within {self.limits.head_timeout:g} s"
                self.transport.write(_shaped(408, message, _path_of(self._head_start)))
            self._limits_close()
            return
        if self.flow.read_paused:
            # uvicorn stopped reading because the app has not taken the body yet:
            # not the client's stall. Count from when reading resumes.
            self._body_seen = now
        due = self._body_seen + self.limits.body_timeout
        if now < due:
            self._arm(due)
            return
        self.warnings.note("body", f"request body stalled for {self.limits.body_timeout:g} s, connection closed")
        cycle = self.cycle
        if not cycle.response_started:
            message = f"request body stalled for {self.limits.body_timeout:g} s"
            self.transport.write(_shaped(408, message, cycle.scope.get("path", "")))
        # The app's receive() answers http.disconnect, and its sends are dropped.
        cycle.disconnected = True
        cycle.message_event.set()
        self._limits_close()


def _httptools_class() -> type:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    # uvicorn's methods called through the class, not super(): these run a few
    # times per request, and a super() call costs more than the attribute lookup.
    headers_complete = HttpToolsProtocol.on_headers_complete
    message_complete = HttpToolsProtocol.on_message_complete
    response_complete = HttpToolsProtocol.on_response_complete

    class LimitedHttpToolsProtocol(LimitsMixin, HttpToolsProtocol):
        _feed = HttpToolsProtocol.data_received

        def on_headers_complete(self) -> None:
            self._head_done()
            headers_complete(self)

        def on_message_complete(self) -> None:
            message_complete(self)
            self._message_done()

        def on_response_complete(self) -> None:
            response_complete(self)
            self._response_done()

    return LimitedHttpToolsProtocol


def _h11_class() -> type:
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    body_over = (h11.DONE, h11.MUST_CLOSE)

    class LimitedH11Protocol(LimitsMixin, H11Protocol):
        _feed = H11Protocol.data_received

        # h11 has no parser callbacks: after each batch of events, where the
        # connection is is read from h11's state of the client's side.
        def handle_events(self) -> None:
            super().handle_events()
            their = self.conn.their_state
            if self._phase in (HEAD, IDLE) and their is not h11.IDLE and self.cycle is not None:
                self._head_done()
            if self._phase == BODY and (
                their in body_over or (their is h11.IDLE and self.cycle.response_complete)
            ):
                # (IDLE: answered before the body was read, and uvicorn began the next cycle.)
                self._message_done()

        def on_response_complete(self) -> None:
            # Before uvicorn's, which goes on to a pipelined request's events.
            if self._phase == APP and not self.transport.is_closing():
                self._go_idle_after_response()
            super().on_response_complete()

        def _go_idle_after_response(self) -> None:
            self._phase = IDLE
            self.evictable[self] = None

    return LimitedH11Protocol


def _parser(http: str) -> str:
    """uvicorn's parser named by `http`: "auto" is httptools (the fast one) when installed, else h11."""
    if http == "auto":
        return "httptools" if importlib.util.find_spec("httptools") else "h11"
    if http not in ("httptools", "h11"):
        raise ValueError(f"unknown http implementation {http!r}")
    return http


def limited_protocol(limits: ServerLimits, http: str = "auto") -> type[asyncio.Protocol]:
    """The HTTP protocol class for `uvicorn.Config(http=...)`, enforcing `limits`.

    `http` is uvicorn's choice of parser: "httptools" (the fast one, the default
    when installed), "h11", or "auto". Each call builds its own class, so each
    server has its own connection registry.
    """
    base = _httptools_class() if _parser(http) == "httptools" else _h11_class()
    return type(base.__name__, (base,), {"limits": limits, "evictable": {}, "warnings": _Warnings()})


def _enforced_by_uvicorn(limits: ServerLimits) -> dict[str, Any]:
    """The limits uvicorn enforces itself: keep-alive, and h11's buffer, kept above our head cap."""
    return {
        "timeout_keep_alive": limits.keepalive_timeout,
        "h11_max_incomplete_event_size": limits.max_head_bytes + 1,
    }


def uvicorn_options(limits: ServerLimits, http: str = "auto") -> dict[str, Any]:
    """The uvicorn.Config arguments that carry `limits` in this process: the protocol class,
    and the limits uvicorn enforces itself. (Worker processes: `LimitedConfig`.)"""
    return {"http": limited_protocol(limits, http), **_enforced_by_uvicorn(limits)}


class LimitedConfig(uvicorn.Config):
    """uvicorn's Config that serves on the protocol enforcing `limits`, in whichever process serves.

    uvicorn hands each worker process its Config pickled, and a protocol class
    made at run time (`limited_protocol`'s) cannot travel that way; each worker
    needs a connection registry of its own anyway (the cap holds per worker).
    So this Config carries the limits and the parser's name, and builds the
    class in `load()`, which uvicorn calls in the process that serves; the
    access log's redaction is installed where uvicorn sets up its loggers,
    once in each process too.
    """

    def __init__(self, app: Any, *, limits: ServerLimits, http: str = "auto", **options: Any) -> None:
        self.limits = limits
        super().__init__(app, http=_parser(http), **_enforced_by_uvicorn(limits), **options)

    def load(self) -> None:
        super().load()
        assert isinstance(self.http, str)
        self.http_protocol_class = limited_protocol(self.limits, self.http)

    def configure_logging(self) -> None:
        super().configure_logging()
        redact_access_log()


def fit_to_descriptors(limits: ServerLimits) -> ServerLimits:
    """Raise this process's open-file soft limit to its hard limit, and keep the
    connection cap below what that allows.

    Past the descriptor limit accept() fails and the loop stops accepting for a
    while, which locks every new client out; below it, the cap's eviction and 503
    keep working. Each client connection may hold an upstream one, hence half.
    """
    try:
        import resource
    except ImportError:  # not on POSIX: nothing to raise
        return limits
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            logger.warning("could not raise the open-file limit from %d to %d", soft, target)
    room = max(1, (soft - DESCRIPTOR_RESERVE) // 2)
    if limits.max_connections > room:
        logger.warning(
            "open-file limit %d allows %d connections; connection cap lowered from %d",
            soft, room, limits.max_connections,
        )
        return dataclasses.replace(limits, max_connections=room)
    return limits


# --- access log ---

# A query parameter that carries a credential: Gemini's ?key=, and api_key / access_token alike.
_SECRET_PARAM = re.compile(
    r"(?i)([?&](?:key|api[_-]?key|x-goog-api-key|access_token|token)=)[^&#\s\"]*"
)


class RedactQueryKeys(logging.Filter):
    """Replaces the value of credential query parameters in uvicorn's access log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) > 2 and isinstance(args[2], str) and "?" in args[2]:
            # uvicorn's access line: (client, method, path with query, http version, status)
            record.args = args[:2] + (_SECRET_PARAM.sub(r"\1REDACTED", args[2]),) + args[3:]
        elif "?" in str(record.msg):
            record.msg = _SECRET_PARAM.sub(r"\1REDACTED", str(record.msg))
        return True


def redact_access_log() -> None:
    """Install the redaction on the "uvicorn.access" logger (once)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQueryKeys) for f in access.filters):
        access.addFilter(RedactQueryKeys())
