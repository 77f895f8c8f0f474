"""The local SWF endpoint's HTTP side: SWF's JSON 1.0 protocol over HTTP/1.1 on loopback.

One request is ``POST /`` with ``X-Amz-Target: SimpleWorkflowService.<Operation>``
and a JSON body; the answer is the engine's JSON result, or an SWF error body
(see :mod:`swfd.local.faults`). Credentials and signatures are not checked:
the endpoint binds 127.0.0.1 by default and is meant for one machine.

Protocol decisions, where SWF's own behaviour is not published:

* A body over 1 MB (SWF's request quota, 1,048,576 bytes) is answered with a
  400 ``ValidationException`` naming the size; the body is drained (up to
  16 MB, beyond that the connection is closed) so the client reads the answer.
* Malformed JSON or a body that is not a JSON object: 400
  ``SerializationException``. An unknown operation or target prefix: 400
  ``UnknownOperationException``, as is a path other than ``/``; a method
  other than POST is a 405 with the same JSON error form. A missing or bad
  ``Content-Length`` is a 400 ``SerializationException`` (connection closed).
* Operations without an output shape answer 200 with an empty body, as SWF does.
* Anything unexpected is logged with its traceback and answered 500
  ``InternalFailure``; that is a bug, never a designed answer.

Run by the supervisor (``python -m swfd.local ... --ready-fd R --lifeline-fd L
--wait-for-lock W --orphan-timeout O --log-format F --log-level V``):

* Readiness is the endpoint's own word: once the database is open and the port
  bound it writes ``ready <url>`` to fd R and closes it; a start-up failure is
  one ``error <message>`` line there, then exit 2.
* ``--wait-for-lock``: a database held by another endpoint (a predecessor still
  serving the last workers of a supervisor that was killed) is retried every
  0.2 s for up to W seconds. Only the lock is waited for: a port in use once
  the lock was ours is another program's, and fails at once. ``stop()`` closes
  the listening socket before the engine releases the lock, so the successor
  that gets the lock can bind at once.
* End of file on fd L (the supervisor died) is orphan mode: every poll is
  answered empty and no task is assigned, everything else is served, and the
  endpoint stops (exit 0) once its clients are gone, or O seconds after the
  lifeline closed. With ``--clients-fd C`` "gone" is exact: C is the read end of
  a pipe whose write ends every generation process holds (the supervisor passes
  it down; forked children inherit it), so end of file means the last worker
  that could still answer has exited. Without it, gone means no connection open
  for 1 s (an idle keep-alive connection of any other client then holds it up
  to O). With a lifeline, SIGINT and SIGQUIT are ignored:
  the supervisor stops the endpoint with SIGTERM, last.
* Idle, no thread wakes on a period (the engine's timer thread at most once a
  minute): the accept loop and the main thread sleep in ``select()``, the
  lifeline thread in ``read()``.

The request path stays lean (the target is well under 0.5 ms of server CPU
per poll or respond): validators are compiled once, the response goes out
in a single write with TCP_NODELAY, and access logging is off unless asked.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import selectors
import signal
import socket
import sqlite3
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from swfd.local.faults import SWFFault, error_body
from swfd.local.validation import operations_without_output, validate, validators

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1024 * 1024
MAX_DRAIN_BYTES = 16 * 1024 * 1024
STOP_GRACE_SECONDS = 5.0
# An orphaned endpoint exits once no client has had a connection open for this long.
ORPHAN_QUIET_SECONDS = 1.0
DEFAULT_ORPHAN_TIMEOUT = 60.0
LOCK_RETRY_SECONDS = 0.2
MAX_HEADERS = 100
MAX_HEADER_LINE = 65536
TARGET_PREFIX = "SimpleWorkflowService."
CONTENT_TYPE = "application/x-amz-json-1.0"


def _no_constant(name: str) -> Any:
    """JSON has no NaN or Infinity (Python's json accepts them by default)."""
    raise ValueError(f"{name} is not valid JSON")


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that knows its engine and its open connections."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops SYNs when many pool processes connect at
    # once (each drop costs the client a 1 s retransmit); the endpoint serves many clients.
    request_queue_size = 128

    def __init__(self, address, handler, engine, access_log: bool) -> None:
        self.engine = engine
        self.access_log = access_log
        self.stopping = False
        self.no_output = operations_without_output()
        # One condition guards the open connections and the requests in flight: stop()
        # waits for the requests, an orphaned endpoint for both (wait_quiet).
        self._idle = threading.Condition()
        self._connections: set[socket.socket] = set()
        self._in_flight = 0
        self._quiet_since = time.monotonic()
        # The accept loop sleeps in select() on the listening socket and this pipe, with
        # no timeout: an idle endpoint does not wake; shutdown() writes to the pipe.
        self._wake_r, self._wake_w = os.pipe()
        self._shutdown_asked = False
        self._loop_done = threading.Event()
        super().__init__(address, handler)

    # -- the accept loop ------------------------------------------------------------

    def serve_forever(self, poll_interval: float | None = None) -> None:
        """Accept connections until :meth:`shutdown` (``poll_interval`` is ignored)."""
        self._loop_done.clear()
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self, selectors.EVENT_READ)
                selector.register(self._wake_r, selectors.EVENT_READ)
                while not self._shutdown_asked:
                    ready = selector.select()
                    if self._shutdown_asked:
                        break
                    if any(key.fileobj is self for key, _ in ready):
                        self._handle_request_noblock()
                    self.service_actions()
        finally:
            self._loop_done.set()

    def shutdown(self) -> None:
        """Stop the accept loop and wait until it has returned."""
        self._shutdown_asked = True
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        self._loop_done.wait()

    def server_close(self) -> None:
        super().server_close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._wake_r = self._wake_w = -1

    # -- connections and requests ---------------------------------------------------

    def _note_quiet(self) -> None:
        """With ``_idle`` held: note the moment nothing is open any more."""
        if not self._in_flight and not self._connections:
            self._quiet_since = time.monotonic()
            self._idle.notify_all()

    def enter(self) -> None:
        with self._idle:
            self._in_flight += 1

    def leave(self) -> None:
        with self._idle:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.notify_all()
                self._note_quiet()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is being answered (bounded); True when idle."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._in_flight, timeout)

    def wait_quiet(self, quiet: float, since: float, deadline: float) -> bool:
        """Block until no connection has been open and no request running for ``quiet``
        seconds, counted from ``since`` at the earliest (True), or until ``deadline``
        (False). Times are ``time.monotonic()``; woken only by changes and deadlines."""
        with self._idle:
            while True:
                current = time.monotonic()
                if not self._in_flight and not self._connections:
                    until = max(self._quiet_since, since) + quiet
                    if current >= until:
                        return True
                else:
                    until = deadline
                if current >= deadline:
                    return False
                self._idle.wait(min(until, deadline) - current)

    def process_request(self, request, client_address) -> None:
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._idle:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._idle:
            self._connections.discard(request)
            self._note_quiet()
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down every open keep-alive connection so its handler thread ends."""
        with self._idle:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    """One connection; each request is one SWF operation."""

    protocol_version = "HTTP/1.1"
    server_version = "swfd-local"
    server: _Server

    def parse_request(self) -> bool:
        """Parse the request line and headers into a plain dict (lower-case names).

        http.server's own parser builds an email.message.Message per request,
        the largest CPU cost of a call here; SWF requests need three headers.
        Anything but a plain ``METHOD PATH HTTP/1.x`` line goes to the stdlib.
        """
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        parts = requestline.split()
        if len(parts) != 3 or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
            return super().parse_request()
        self.requestline = requestline
        self.command, self.path, self.request_version = parts
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS + 1):
            line = self.rfile.readline(MAX_HEADER_LINE + 1)
            if len(line) > MAX_HEADER_LINE:
                self.send_error(431, "Header line too long")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
            name, colon, value = str(line, "iso-8859-1").partition(":")
            if not colon:
                self.send_error(400, f"Bad header line {line[:64]!r}")
                return False
            headers[name.strip().lower()] = value.strip()
        else:
            self.send_error(431, "Too many headers")
            return False
        self.headers = headers  # type: ignore[assignment]
        connection = headers.get("connection", "").lower()
        if self.request_version == "HTTP/1.1":
            self.close_connection = connection == "close"
        else:
            self.close_connection = connection != "keep-alive"
        if headers.get("expect", "").lower() == "100-continue":
            self.send_response_only(100)
            self.end_headers()
        return True

    def do_POST(self) -> None:
        self.server.enter()
        try:
            status, body = self._answer()
            self._send(status, body)
        finally:
            self.server.leave()

    def do_GET(self) -> None:
        self._reject()

    do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

    def _reject(self) -> None:
        self.close_connection = True
        message = f"{self.command} {self.path} is not an SWF request; send POST / with X-Amz-Target"
        self._send(405, error_body("UnknownOperationException", message))

    def _answer(self) -> tuple[int, bytes]:
        """Read, validate and run one request; always returns a status and a body."""
        operation = "?"
        try:
            body = self._read_body()
            if self.path != "/":
                raise SWFFault("UnknownOperationException", f"Unknown path {self.path!r}; use /")
            operation = self._operation()
            params = self._parse(body)
            validate(operation, params)
            if self.server.stopping:
                raise SWFFault("ServiceUnavailable", "The local endpoint is shutting down", 503)
            result = self.server.engine.call(operation, params)
            if operation in self.server.no_output:
                return 200, b""
            return 200, json.dumps(result, separators=(",", ":")).encode("utf-8")
        except SWFFault as fault:
            return fault.status, fault.body()
        except Exception:
            log.exception("local endpoint: unexpected error in %s", operation)
            return 500, error_body("InternalFailure", f"Internal error in {operation}")

    def _read_body(self) -> bytes:
        header = self.headers.get("content-length")
        if header is None:
            self.close_connection = True
            raise SWFFault("SerializationException", "Missing Content-Length header")
        try:
            length = int(header)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            raise SWFFault("SerializationException", f"Bad Content-Length {header!r}")
        if length > MAX_REQUEST_BYTES:
            self._drain(length)
            raise SWFFault(
                "ValidationException",
                f"Request of {length} bytes exceeds the maximum request size of "
                f"{MAX_REQUEST_BYTES} bytes (1 MB)",
            )
        return self.rfile.read(length) if length else b""

    def _drain(self, length: int) -> None:
        """Read and drop an oversized body so the client can read our answer."""
        if length > MAX_DRAIN_BYTES:
            self.close_connection = True
            return
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 65536))
            if not chunk:
                self.close_connection = True
                return
            remaining -= len(chunk)

    def _operation(self) -> str:
        target = self.headers.get("x-amz-target", "")
        if not target.startswith(TARGET_PREFIX):
            raise SWFFault(
                "UnknownOperationException",
                f"X-Amz-Target {target!r} does not name an operation of {TARGET_PREFIX[:-1]}",
            )
        operation = target[len(TARGET_PREFIX) :]
        if operation not in validators():
            raise SWFFault("UnknownOperationException", f"Unknown operation {operation!r}")
        return operation

    @staticmethod
    def _parse(body: bytes) -> Any:
        if not body:
            return {}
        try:
            params = json.loads(body, parse_constant=_no_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SWFFault(
                "SerializationException", f"Malformed JSON request body: {exc}"
            ) from None
        except RecursionError:
            raise SWFFault(
                "SerializationException", "Malformed JSON request body: nested too deeply"
            ) from None
        if not isinstance(params, dict):
            raise SWFFault(
                "SerializationException",
                f"Request body must be a JSON object, got {type(params).__name__}",
            )
        # A lone surrogate can only come from a \\uD8xx-\\uDFxx escape, or from raw bytes
        # ED A0..ED BF, which json.loads decodes with "surrogatepass"; check only then.
        if b"\\ud" in body or b"\\uD" in body or b"\xed" in body:
            try:
                json.dumps(params, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError as exc:
                raise SWFFault(
                    "SerializationException",
                    f"Request body holds an unpaired UTF-16 surrogate escape ({exc.reason})",
                ) from None
        return params

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer an HTTP-level error (bad request line or header) in SWF's JSON error form."""
        self.close_connection = True
        reason = message or self.responses.get(code, ("Bad request",))[0]
        self._send(code, error_body("SerializationException", f"Malformed HTTP request: {reason}"))

    def _send(self, status: int, body: bytes) -> None:
        """Write status line, headers and body in one send."""
        reason = self.responses.get(status, ("",))[0]
        head = (
            f"HTTP/1.1 {status} {reason}\r\n"
            f"Content-Type: {CONTENT_TYPE}\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"x-amzn-RequestId: {uuid.uuid4()}\r\n"
        )
        if self.close_connection:
            head += "Connection: close\r\n"
        try:
            self.wfile.write(head.encode("latin-1") + b"\r\n" + body)
        except OSError:
            self.close_connection = True  # the client went away; nothing to answer
        if self.server.access_log:
            log.debug('%s "%s" %s %s', self.address_string(), self.requestline, status, len(body))

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.access_log:
            log.debug("%s - %s", self.address_string(), format % args)


class LocalEndpoint:
    """The local SWF endpoint: an :class:`Engine` behind the JSON 1.0 protocol.

    ``start()`` serves from daemon threads (tests, embedding); ``serve_forever()``
    blocks until SIGTERM/SIGINT or ``stop()``. ``engine`` lets protocol tests put
    a stand-in behind the HTTP layer; everything else uses the real engine.

    Embedded under a supervisor, ``watch_lifeline(fd)`` makes the end of the
    supervisor's pipe put the endpoint in orphan mode (see :meth:`orphan`).
    Idle, nothing here wakes: the accept loop and ``serve_forever`` sleep in
    ``select()`` on pipes (signals reach the latter through
    ``signal.set_wakeup_fd``), the lifeline thread in ``read()``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        database: str = ":memory:",
        poll_timeout: float = 60.0,
        *,
        access_log: bool = False,
        engine: Any = None,
    ) -> None:
        self.host = host
        self.port = port
        self.database = database
        self.poll_timeout = poll_timeout
        self.access_log = access_log
        self.engine = engine
        self.url = ""
        self.orphaned = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()  # asked to stop (signal or stop())
        self._closed = False  # stop() has run; it runs once
        self._stop_lock = threading.Lock()
        self._wake_lock = threading.Lock()
        self._wake_w: int | None = None  # serve_forever's wake-up pipe while it waits

    def start(self) -> LocalEndpoint:
        """Open the engine (taking the database lock), bind, and serve in the background.

        Raises ``EndpointLockedError`` when another endpoint holds the database
        and ``OSError`` when the address cannot be bound (the engine is then closed).
        """
        validators()  # compile before the first request, not during it
        if self.engine is None:
            from swfd.local.engine import Engine

            self.engine = Engine(self.database, poll_timeout=self.poll_timeout)
        try:
            server_class = _Server
            if ":" in self.host:
                server_class = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
            self._server = server_class(
                (self.host, self.port), _Handler, self.engine, self.access_log
            )
        except BaseException:
            self.engine.close()
            raise
        self.port = self._server.server_address[1]
        shown = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        if ":" in shown:
            shown = f"[{shown}]"
        self.url = f"http://{shown}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            name=f"swfd-local:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, wake waiting long polls, close connections and the engine.

        The listening socket is closed before the engine releases the database
        lock, so a successor waiting for the lock can bind the port at once.
        """
        with self._stop_lock:
            self._wake()
            server = self._server
            if server is None or self._closed:
                return
            self._closed = True
            server.stopping = True
            server.shutdown()
            server.server_close()  # the port is free from here on ...
            try:
                self.engine.close()  # ... then the lock; wakes long polls, which answer empty
                # Let woken polls and in-flight calls write their answers first.
                if not server.wait_idle(STOP_GRACE_SECONDS):
                    log.warning(
                        "local endpoint: requests still running after %ss at stop",
                        STOP_GRACE_SECONDS,
                    )
            finally:
                server.close_connections()

    def _wake(self) -> None:
        """Ask ``serve_forever`` to stop (from any thread)."""
        self._stopped.set()
        with self._wake_lock:
            if self._wake_w is not None:
                try:
                    os.write(self._wake_w, b"\0")
                except OSError:
                    pass  # full: it is awake anyway

    def serve_forever(
        self,
        stop_signals: tuple = (signal.SIGTERM, signal.SIGINT),
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        """Serve until one of ``stop_signals`` (or ``stop()``), then stop cleanly.

        Signals are handled only when called from the main thread. ``on_ready``
        runs once they are, so a signal sent after it stops the endpoint cleanly.
        """
        if self._server is None:
            self.start()
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        previous: dict = {}
        previous_wakeup = None
        main = threading.current_thread() is threading.main_thread()

        def on_signal(signum, frame) -> None:
            self._stopped.set()

        with self._wake_lock:
            self._wake_w = wake_w
        try:
            if main:
                for signum in stop_signals:
                    previous[signum] = signal.signal(signum, on_signal)
                # A signal is often taken by another thread; the C handler then writes
                # its number here, which wakes this thread's select() at once.
                previous_wakeup = signal.set_wakeup_fd(wake_w)
            if on_ready is not None:
                on_ready()
            numbers = {int(signum) for signum in stop_signals}
            with selectors.DefaultSelector() as selector:
                selector.register(wake_r, selectors.EVENT_READ)
                while not self._stopped.is_set():
                    selector.select()  # no timeout: woken by a signal or by stop()
                    try:
                        data = os.read(wake_r, 512)
                    except BlockingIOError:
                        data = b""
                    if numbers.intersection(data):
                        break  # the Python handler may not have run yet
        finally:
            if main:
                signal.set_wakeup_fd(previous_wakeup)
                for signum, handler in previous.items():
                    signal.signal(signum, handler)
            with self._wake_lock:
                self._wake_w = None
            os.close(wake_r)
            os.close(wake_w)
            self.stop()

    # -- orphan mode ----------------------------------------------------------------

    def watch_lifeline(self, fd: int, orphan_timeout: float = DEFAULT_ORPHAN_TIMEOUT,
                       clients_fd: int | None = None) -> None:
        """Enter orphan mode when ``fd`` (the read end of the supervisor's pipe) reaches
        end of file, i.e. when every process holding the write end is gone.

        A daemon thread blocks in ``read()``: no periodic wake-up. Anything written
        to the pipe is ignored.
        """

        def watch() -> None:
            try:
                while os.read(fd, 4096):
                    pass
            except OSError as exc:
                log.warning("local endpoint: lifeline fd %d unreadable (%s); taken as closed",
                            fd, exc)
            self.orphan(orphan_timeout, clients_fd)

        threading.Thread(target=watch, name="swfd-local-lifeline", daemon=True).start()

    def orphan(self, timeout: float = DEFAULT_ORPHAN_TIMEOUT,
               clients_fd: int | None = None) -> None:
        """The supervisor is gone: hand out no more tasks, serve everything else, and stop
        once no client has had a connection open for ``ORPHAN_QUIET_SECONDS`` or after
        ``timeout`` seconds, whichever comes first.

        Workers that are draining can still answer (complete, fail, heartbeat, ...)
        the tasks they hold; their polls are answered empty. Tasks not yet handed
        out stay scheduled in the database for the next endpoint.
        """
        with self._stop_lock:
            if self.orphaned or self._closed or self._server is None:
                return
            self.orphaned = True
            server = self._server
        log.warning(
            "local endpoint: the supervisor is gone (lifeline closed); handing out no more "
            "tasks, serving the rest until its clients are gone (at most %gs)",
            timeout,
        )
        self.engine.stop_handing_out()
        since = time.monotonic()

        def wait_then_stop() -> None:
            quiet = server.wait_quiet(ORPHAN_QUIET_SECONDS, since, since + timeout)
            if quiet:
                log.info("local endpoint: no client left; stopping")
            else:
                log.info("local endpoint: orphan timeout of %gs reached; stopping", timeout)
            self.stop()

        def wait_for_clients_then_stop() -> None:
            try:
                while os.read(clients_fd, 4096):
                    pass
            except OSError:
                pass
            server.wait_idle(STOP_GRACE_SECONDS)
            log.info("local endpoint: every worker that could answer has exited; stopping")
            self.stop()

        def time_out() -> None:
            if not self._stopped.wait(timeout):
                log.info("local endpoint: orphan timeout of %gs reached; stopping", timeout)
                self.stop()

        if clients_fd is None:
            threading.Thread(target=wait_then_stop, name="swfd-local-orphan", daemon=True).start()
            return
        threading.Thread(target=wait_for_clients_then_stop, name="swfd-local-clients",
                         daemon=True).start()
        threading.Thread(target=time_out, name="swfd-local-orphan", daemon=True).start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


class _Parser(argparse.ArgumentParser):
    """argparse that remembers its error message (for the ready pipe) before exiting."""

    last_error = ""

    def error(self, message: str):  # type: ignore[override]
        self.last_error = message
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="swfd local",
        description=(
            "Run swfd's local SWF endpoint: SWF's JSON protocol on loopback, state in SQLite. "
            "Any credentials are accepted; point boto3 at it with endpoint_url."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8799, help="port (default 8799; 0 = any)")
    parser.add_argument(
        "--database",
        default=":memory:",
        metavar="FILE",
        help="SQLite file holding the state (default :memory:, lost on exit)",
    )
    parser.add_argument(
        "--poll-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds an empty long poll waits (SWF: 60)",
    )
    parser.add_argument("--debug", action="store_true", help="log every request to stderr")
    embedded = parser.add_argument_group("when run by a supervisor")
    embedded.add_argument(
        "--ready-fd",
        type=int,
        metavar="N",
        help="write one line 'ready URL' (or 'error MESSAGE', then exit 2) to fd N and close it",
    )
    embedded.add_argument(
        "--lifeline-fd",
        type=int,
        metavar="N",
        help="end of file on fd N means the supervisor died: answer polls empty, serve the "
        "rest, exit when clients are gone; SIGINT and SIGQUIT are ignored",
    )
    embedded.add_argument(
        "--clients-fd",
        type=int,
        metavar="N",
        help="in orphan mode, exit once fd N reads end of file (every process that holds "
        "its write end, i.e. every worker that may still answer, has exited)",
    )
    embedded.add_argument(
        "--wait-for-lock",
        type=float,
        default=0.0,
        metavar="S",
        help="wait up to S seconds for another endpoint to release the database (default 0)",
    )
    embedded.add_argument(
        "--orphan-timeout",
        type=float,
        default=DEFAULT_ORPHAN_TIMEOUT,
        metavar="S",
        help="after the lifeline closed, exit after S seconds at the latest (default 60)",
    )
    embedded.add_argument(
        "--log-format", choices=("json", "text"), help="swfd's log format (pool 'endpoint')"
    )
    embedded.add_argument(
        "--log-level",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        help="log level with --log-format (default INFO)",
    )
    return parser


def _fd_in(argv: list[str], option: str) -> int | None:
    """The value of ``option`` in ``argv`` before argparse has run (for usage errors)."""
    for i, arg in enumerate(argv):
        value = None
        if arg == option and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(option + "="):
            value = arg[len(option) + 1 :]
        if value is not None:
            try:
                return int(value)
            except ValueError:
                return None
    return None


class _Reporter:
    """Start-up outcome: the ready pipe when there is one, else stdout and stderr."""

    def __init__(self, ready_fd: int | None) -> None:
        self.fd = ready_fd

    def _line(self, line: str) -> bool:
        fd, self.fd = self.fd, None
        if fd is None:
            return False
        try:
            os.write(fd, (" ".join(line.split("\n")) + "\n").encode("utf-8", "replace"))
            return True
        except OSError:
            return False  # the supervisor is gone; the lifeline will tell
        finally:
            try:
                os.close(fd)
            except OSError:
                pass

    def error(self, message: str) -> int:
        if not self._line(f"error {message}"):
            print(f"swfd local: {message}", file=sys.stderr, flush=True)
        return 2

    def ready(self, url: str, database: str) -> None:
        if self.fd is None:
            print(f"swfd local endpoint ready at {url} (database {database})", flush=True)
        else:
            self._line(f"ready {url}")
        log.info("local endpoint listening at %s (database %s)", url, database)


def _open_engine(args):
    """The engine on ``args.database``; waits up to ``--wait-for-lock`` seconds for
    another endpoint to release it. Returns an error message instead when it cannot."""
    from swfd.local.engine import EndpointLockedError, Engine, SchemaVersionError

    deadline = time.monotonic() + args.wait_for_lock
    waiting = False
    while True:
        try:
            return Engine(args.database, poll_timeout=args.poll_timeout)
        except EndpointLockedError as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                waited = f" (waited {args.wait_for_lock:g}s)" if args.wait_for_lock > 0 else ""
                return f"cannot open {args.database}: {exc}{waited}"
            if not waiting:
                log.info("local endpoint: %s; waiting up to %gs for it", exc, args.wait_for_lock)
                waiting = True
            time.sleep(min(LOCK_RETRY_SECONDS, left))
        except (SchemaVersionError, sqlite3.Error, OSError) as exc:
            return f"cannot open {args.database}: {exc}"


def main_local(argv: list[str]) -> int:
    """``swfd local``: serve until SIGTERM/SIGINT. Exit 2 when the DB or port is taken.

    Embedded (started by the supervisor): ``--ready-fd`` reports ``ready URL`` or
    ``error MESSAGE``, ``--wait-for-lock`` waits for a predecessor's database lock,
    ``--lifeline-fd`` turns the supervisor's death into orphan mode and exit.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        if exc.code:
            ready_fd = _fd_in(argv, "--ready-fd")
            if ready_fd is not None:
                _Reporter(ready_fd)._line(f"error {parser.last_error or 'bad arguments'}")
        raise
    report = _Reporter(args.ready_fd)
    if args.ready_fd is not None:
        try:
            os.fstat(args.ready_fd)
            os.set_inheritable(args.ready_fd, False)
        except OSError as exc:
            report.fd = None
            return report.error(f"--ready-fd {args.ready_fd} is not an open file: {exc}")
    if args.poll_timeout <= 0:
        return report.error(f"--poll-timeout must be > 0, got {args.poll_timeout}")
    if not 0 <= args.port <= 65535:
        return report.error(f"--port must be 0-65535, got {args.port}")
    if args.wait_for_lock < 0:
        return report.error(f"--wait-for-lock must be >= 0, got {args.wait_for_lock}")
    if args.orphan_timeout < 0:
        return report.error(f"--orphan-timeout must be >= 0, got {args.orphan_timeout}")
    for option, fd in (("--lifeline-fd", args.lifeline_fd), ("--clients-fd", args.clients_fd)):
        if fd is not None:
            try:
                os.fstat(fd)
                os.set_inheritable(fd, False)
            except OSError as exc:
                return report.error(f"{option} {fd} is not an open file: {exc}")
    if args.log_format or args.log_level:
        from swfd import logs

        logs.setup(args.log_format or "text", args.log_level or "INFO", pool="endpoint")
    else:
        logging.basicConfig(
            level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    if args.debug:  # the endpoint's own requests, not botocore's chatter
        logging.getLogger("swfd.local").setLevel(logging.DEBUG)
    stop_signals: tuple = (signal.SIGTERM, signal.SIGINT)
    if args.lifeline_fd is not None:
        # The supervisor stops it with TERM once its workers are gone; a terminal's ^C
        # (sent to the whole foreground group) must not stop it first.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGQUIT, signal.SIG_IGN)
        stop_signals = (signal.SIGTERM,)

    engine = _open_engine(args)
    if isinstance(engine, str):
        return report.error(engine)
    endpoint = LocalEndpoint(
        host=args.host,
        port=args.port,
        database=args.database,
        poll_timeout=args.poll_timeout,
        access_log=args.debug,
        engine=engine,
    )
    try:
        endpoint.start()  # closes the engine (and releases the lock) when it fails
    except OSError as exc:
        where = f"{args.host}:{args.port}"
        if exc.errno == errno.EADDRINUSE:
            return report.error(f"cannot listen on {where}: the port is already in use")
        return report.error(f"cannot listen on {where}: {exc}")
    if args.lifeline_fd is not None:
        endpoint.watch_lifeline(args.lifeline_fd, args.orphan_timeout, args.clients_fd)
    endpoint.serve_forever(stop_signals, lambda: report.ready(endpoint.url, args.database))
    return 0
