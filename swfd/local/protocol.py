"""The local SWF endpoint's HTTP side: SWF's JSON 1.0 protocol over HTTP/1.1.

One request is ``POST /`` with ``X-Amz-Target: SimpleWorkflowService.<Operation>``
and a JSON body; the answer is the engine's JSON result, or an SWF error body
(see :mod:`swfd.local.faults`). :class:`LocalEndpoint` (``server.py``) runs
this server in front of the engine.

Protocol decisions, where SWF's own behaviour is not published:

* A body over 1 MB (SWF's request quota, 1,048,576 bytes) is answered with a
  400 ``ValidationException`` naming the size; the body is drained (up to
  16 MB, beyond that the connection is closed) so the client reads the answer.
* A body that is not UTF-8 JSON (UTF-16 included, which Python's json would
  otherwise guess), malformed JSON or a body that is not a JSON object: 400
  ``SerializationException``. An unknown operation or target prefix: 400
  ``UnknownOperationException``, as is a path other than ``/``; a method
  other than POST is a 405 with the same JSON error form. A missing or bad
  ``Content-Length``, or any ``Transfer-Encoding`` (with a ``Content-Length``
  it is a request-smuggling shape), is a 400 and the connection is closed.
* Operations without an output shape answer 200 with an empty body, as SWF does.
* Anything unexpected is logged (once a minute per distinct error) and
  answered 500 ``InternalFailure``; that is a bug or a database failure,
  never a designed answer.

HTTP hygiene (a client cannot hold the endpoint's threads for free):

* A request's head must arrive within ``header_timeout`` (10 s) of its first
  byte and its body within ``body_timeout`` (30 s); a keep-alive connection
  idle for ``idle_timeout`` (75 s, above every client's read timeout) between
  requests is closed. A long poll is never cut: these bound reading a
  request, not answering it.
* At most ``max_connections`` connections are served at once (the supervisor
  passes a cap above every poller swfd may run, both generations of a reload
  included); beyond it a connection is answered a retryable
  ``ThrottlingException`` ("Rate exceeded") and closed, without a thread.
* Accepted sockets have TCP keepalive (probes after 15 s idle), so a vanished
  host is noticed.
* A connection reset or broken pipe is at most a DEBUG line; other errors on a
  connection are logged properly (never socketserver's raw traceback on stderr).

A waiting poll's connection is watched (:mod:`swfd.local.connections`): a
client that has gone has its poll withdrawn before any task is assigned, and a
second request arriving on a connection whose poll is outstanding closes it,
as TLS would. ``aws_faithful`` turns the watch off: a task can then be handed
to a poller that has gone, as on AWS.

The request path stays lean (the target is well under 0.5 ms of server CPU
per poll or respond; bench/README.md says where it goes): validators are
compiled once, sockets stay blocking (no poll() before each send and receive;
the watcher's deadlines bound the waits), a head that arrives whole sets no
deadline and is parsed in one go, a poll is registered with the watcher only
once it waits, request ids come from a counter, the response goes out in a
single non-blocking send with TCP_NODELAY, and access logging is off unless
asked.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import selectors
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from swfd.local.auth import Verifier, region_of
from swfd.local.connections import ConnectionWatcher, PollWatch
from swfd.local.faults import SWFFault, error_body
from swfd.local.ratelog import RateLimitedLog
from swfd.local.summaries import encode
from swfd.local.validation import operations_without_output, validate, validators

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1024 * 1024
MAX_DRAIN_BYTES = 16 * 1024 * 1024
MAX_HEADERS = 100
MAX_HEADER_LINE = 65536
TARGET_PREFIX = "SimpleWorkflowService."
CONTENT_TYPE = "application/x-amz-json-1.0"
POLLS = frozenset({"PollForActivityTask", "PollForDecisionTask"})

HEADER_TIMEOUT = 10.0
BODY_TIMEOUT = 30.0
WRITE_TIMEOUT = 30.0
# Above every client's read timeout (botocore 60 s, swfd 70 s), so a client never
# sends a request on a connection the endpoint is closing as idle.
IDLE_TIMEOUT = 75.0
DEFAULT_MAX_CONNECTIONS = 512
KEEPALIVE = {"TCP_KEEPIDLE": 15, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 3}
_QUIET_ERRORS = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, TimeoutError)


# x-amzn-RequestId: UUID-shaped, unique per answer; a random prefix per process and a
# counter (uuid4 per answer reads os.urandom, a system call on every request).
_REQUEST_ID_PREFIX = str(uuid.uuid4())[:23]
_request_numbers = itertools.count(1)


def request_id() -> str:
    return f"{_REQUEST_ID_PREFIX}-{next(_request_numbers):012x}"


def _no_constant(name: str) -> Any:
    """JSON has no NaN or Infinity (Python's json accepts them by default)."""
    raise ValueError(f"{name} is not valid JSON")


# One decoder for every request (json.loads with an option builds one per call); it
# holds no state between calls, as json's own shared default decoder.
_decode = json.JSONDecoder(parse_constant=_no_constant).decode


def _throttled() -> bytes:
    body = error_body("ThrottlingException", "Rate exceeded")
    head = (f"HTTP/1.1 400 Bad Request\r\nContent-Type: {CONTENT_TYPE}\r\n"
            f"Content-Length: {len(body)}\r\nx-amzn-RequestId: {request_id()}\r\n"
            "Connection: close\r\n\r\n")
    return head.encode("latin-1") + body


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that knows its engine and its open connections."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops SYNs when many pool processes connect at
    # once (each drop costs the client a 1 s retransmit); the endpoint serves many clients.
    request_queue_size = 128

    def __init__(self, address, handler, engine, access_log: bool, *,
                 watch_polls: bool = True, verifier: Verifier | None = None,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS,
                 idle_timeout: float = IDLE_TIMEOUT,
                 header_timeout: float = HEADER_TIMEOUT) -> None:
        self.engine = engine
        self.access_log = access_log
        self.stopping = False
        self.no_output = operations_without_output()
        self.watch_polls = watch_polls
        self.verifier = verifier
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.header_timeout = header_timeout
        self.body_timeout = max(header_timeout, BODY_TIMEOUT)
        self.errors = RateLimitedLog(log)
        self.refused = 0  # connections answered ThrottlingException (over the cap)
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
        self.watcher = ConnectionWatcher()
        super().__init__(address, handler)  # on a bind error it calls server_close()
        self.watcher.start()

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
        self.watcher.stop()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._wake_r = self._wake_w = -1

    def handle_error(self, request, client_address) -> None:
        """A reset or broken connection is the client's business (DEBUG); anything else is
        logged with its traceback, rate-limited -- never socketserver's bare print."""
        exc = sys.exc_info()[1]
        if isinstance(exc, _QUIET_ERRORS) or exc is None:
            log.debug("local endpoint: connection from %s ended: %r", client_address, exc)
            return
        self.errors.error("connection", exc, f"local endpoint: error on the connection from "
                          f"{client_address[0]} ({type(exc).__name__})")

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
        with self._idle:
            full = len(self._connections) >= self.max_connections
            if not full:
                self._connections.add(request)
        if full:
            self.refused += 1
            if self.refused == 1 or self.refused % 1000 == 0:
                log.warning("local endpoint: %d connections open (the cap): answering "
                            "ThrottlingException to new ones (%d so far)",
                            self.max_connections, self.refused)
            self.watcher.refuse(request, _throttled())
            return
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            request.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            for name, value in KEEPALIVE.items():
                if hasattr(socket, name):
                    request.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
        except OSError:
            pass  # the client is gone already; the handler finds out
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
    # Bytes of the request already buffered when its head was parsed (None: unknown).
    _buffered: int | None = None

    def setup(self) -> None:
        super().setup()  # no socket timeout: the watcher's deadlines bound every wait
        self.deadline = self.server.watcher.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.watcher.untrack(self.deadline)

    def handle_one_request(self) -> None:
        """Wait (at most ``idle_timeout``) for a request, then read its head within
        ``header_timeout`` and answer it (``http.server`` does the rest).

        A deadline is set only while the client is awaited: a head that arrived
        whole with its first bytes (the usual case) sets none."""
        server = self.server
        watcher = server.watcher
        watcher.expire(self.deadline, server.idle_timeout)
        try:
            arrived = self.rfile.peek(1)  # blocks until the next request starts
        except (OSError, ValueError) as exc:  # reset, or shut down (idle, or at stop)
            log.debug("local endpoint: closing connection from %s: %r",
                      self.address_string(), exc)
            arrived = b""
        finally:
            self.deadline.when = None
        if not arrived:  # end of file: the client closed the connection (or idled out)
            self.close_connection = True
            return
        whole = b"\r\n\r\n" in arrived or b"\n\n" in arrived
        self._buffered = len(arrived) if whole else None
        if whole and self._plain_post(arrived):
            self._answer_post()
            return
        if not whole:
            watcher.expire(self.deadline, server.header_timeout)
        try:
            super().handle_one_request()
        finally:
            self.deadline.when = None

    def _plain_post(self, data: bytes) -> bool:
        """Take the request's head from ``data`` (the buffer) in one go when it is a plain
        ``POST`` whose whole head is there (the usual case: it came in one segment):
        True once it is parsed and consumed. Anything else (another method, a head
        in pieces, bare LF line ends, a line without a colon, past the limits) is
        left to ``http.server`` and the line-by-line ``parse_request``, which answer
        it as before."""
        end = data.find(b"\r\n\r\n")
        if (end <= 0 or end > MAX_HEADER_LINE or not data.startswith(b"POST ")
                or data.count(b"\n", 0, end) != data.count(b"\r\n", 0, end)):
            return False
        lines = str(data[:end], "iso-8859-1").split("\r\n")
        if not 2 <= len(lines) <= MAX_HEADERS + 1:
            return False
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                return False
            headers[name.strip().lower()] = value.strip()
        if not self._take_request_line(lines[0]):
            return False
        self.rfile.read(end + 4)
        self.raw_requestline = data[:len(lines[0]) + 2]
        return self._head_parsed(headers, end + 4)

    def _take_request_line(self, requestline: str) -> bool:
        """A plain ``METHOD PATH HTTP/1.x`` line becomes the request's command, path and
        version (True); anything else is left to ``http.server`` (False)."""
        parts = requestline.split()
        if len(parts) != 3 or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
            return False
        self.requestline = requestline
        self.command, self.path, self.request_version = parts
        return True

    def _answer_post(self) -> None:
        """``http.server``'s dispatch of a parsed POST, without its lookups."""
        try:
            self.do_POST()
            self.wfile.flush()
        except TimeoutError as exc:  # as http.server: a read or write timed out
            self.log_error("Request timed out: %r", exc)
            self.close_connection = True

    def parse_request(self) -> bool:
        """Parse the request line and headers into a plain dict (lower-case names).

        http.server's own parser builds an email.message.Message per request,
        the largest CPU cost of a call here; SWF requests need a few headers.
        Anything but a plain ``METHOD PATH HTTP/1.x`` line goes to the stdlib.
        """
        if not self._take_request_line(str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")):
            return super().parse_request()
        headers: dict[str, str] = {}
        head_bytes = len(self.raw_requestline)
        for _ in range(MAX_HEADERS + 1):
            line = self.rfile.readline(MAX_HEADER_LINE + 1)
            head_bytes += len(line)
            if len(line) > MAX_HEADER_LINE:
                self.send_error(431, "Header line too long")
                return False
            if line in (b"\r\n", b"\n"):
                break
            if not line:  # end of file, or the header deadline shut the socket
                self.close_connection = True
                return False
            name, colon, value = str(line, "iso-8859-1").partition(":")
            if not colon:
                self.send_error(400, f"Bad header line {line[:64]!r}")
                return False
            headers[name.strip().lower()] = value.strip()
        else:
            self.send_error(431, "Too many headers")
            return False
        return self._head_parsed(headers, head_bytes)

    def _head_parsed(self, headers: dict, head_bytes: int) -> bool:
        self.deadline.when = None  # the head is in
        if self._buffered is not None:
            self._buffered -= head_bytes  # what of the body came with the head
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
            answer = self._answer()
            if answer is not None:
                self._send(*answer)
        finally:
            self.server.leave()

    def do_GET(self) -> None:
        self._reject()

    do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

    def _reject(self) -> None:
        self.close_connection = True
        message = f"{self.command} {self.path} is not an SWF request; send POST / with X-Amz-Target"
        self._send(405, error_body("UnknownOperationException", message))

    def _answer(self) -> tuple[int, bytes] | None:
        """Read, check and run one request: a status and a body, or None when the
        connection was broken under a poll (nothing may be written to it)."""
        operation = "?"
        server = self.server
        try:
            body = self._read_body()
            region = self._authenticate(body)
            if self.path != "/":
                raise SWFFault("UnknownOperationException", f"Unknown path {self.path!r}; use /")
            operation = self._operation()
            params = self._parse(body)
            validate(operation, params)
            if server.stopping:
                raise SWFFault("ServiceUnavailable", "The local endpoint is shutting down", 503)
            if server.watch_polls and operation in POLLS and not params.get("nextPageToken"):
                result = self._poll(operation, params, region)
                if result is None:
                    return None
            else:
                result = server.engine.call(operation, params, region=region)
            if operation in server.no_output:
                return 200, b""
            return 200, encode(result)
        except SWFFault as fault:
            return fault.status, fault.body()
        except Exception as exc:  # noqa: BLE001 - a bug: logged (rate-limited), answered 500
            server.errors.error(operation, exc, f"local endpoint: unexpected error in "
                                f"{operation} ({type(exc).__name__})")
            return 500, error_body("InternalFailure", f"Internal error in {operation}")

    def _poll(self, operation: str, params: dict, region: str | None) -> dict | None:
        """A poll while its connection is watched (see :mod:`swfd.local.connections`)."""
        watch = PollWatch(self.connection, self.server.watcher)  # watched once it waits
        try:
            result = self.server.engine.call(operation, params, region=region, poller=watch)
        finally:
            self.server.watcher.unwatch(watch)
        if watch.broken:  # another request arrived on this connection: it is being closed
            self.close_connection = True
            return None
        return result

    def _authenticate(self, body: bytes) -> str | None:
        """The request's region; with keys, only once its signature is verified."""
        verifier = self.server.verifier
        if verifier is None:
            return region_of(self.headers.get("authorization"))
        return verifier.verify(self.command, self.path, self.headers, body)

    def _read_body(self) -> bytes:
        headers = self.headers
        if "transfer-encoding" in headers:
            self.close_connection = True
            both = " together with Content-Length" if "content-length" in headers else ""
            raise SWFFault("SerializationException",
                           f"Transfer-Encoding is not accepted{both}; send Content-Length")
        header = headers.get("content-length")
        if header is None:
            self.close_connection = True
            raise SWFFault("SerializationException", "Missing Content-Length header")
        length = int(header) if header.isascii() and header.isdigit() else -1
        if length < 0:
            self.close_connection = True
            raise SWFFault("SerializationException", f"Bad Content-Length {header[:32]!r}")
        if not length:
            return b""
        if self._buffered is None or self._buffered < length:  # not all here yet
            self.server.watcher.expire(self.deadline, self.server.body_timeout)
        try:
            if length > MAX_REQUEST_BYTES:
                self._drain(length)
                raise SWFFault(
                    "ValidationException",
                    f"Request of {length} bytes exceeds the maximum request size of "
                    f"{MAX_REQUEST_BYTES} bytes (1 MB)",
                )
            body = self.rfile.read(length)
        finally:
            self.deadline.when = None
        if len(body) != length:
            self.close_connection = True
            raise SWFFault("SerializationException",
                           f"Request body ended after {len(body)} of {length} bytes")
        return body

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
            text = body.decode("utf-8")  # strict: no UTF-16/32 guessing, no lone surrogates
        except UnicodeDecodeError as exc:
            raise SWFFault(
                "SerializationException",
                f"Request body is not UTF-8 ({exc.reason} at byte {exc.start})",
            ) from None
        try:
            params = _decode(text)
        except ValueError as exc:
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
        # A lone surrogate can only come from a \\uD8xx-\\uDFxx escape now: check only then.
        if "\\ud" in text or "\\uD" in text:
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
            f"x-amzn-RequestId: {request_id()}\r\n"
        )
        if self.close_connection:
            head += "Connection: close\r\n"
        data = head.encode("latin-1") + b"\r\n" + body
        try:
            try:
                sent = self.connection.send(data, socket.MSG_DONTWAIT)
            except BlockingIOError:
                sent = 0
            if sent < len(data):  # the client is not reading fast enough: bound the wait
                self.server.watcher.expire(self.deadline, WRITE_TIMEOUT)
                try:
                    self.connection.sendall(data[sent:])
                finally:
                    self.deadline.when = None
        except OSError:
            self.close_connection = True  # the client went away; nothing to answer
        if self.server.access_log:
            log.debug('%s "%s" %s %s', self.address_string(), self.requestline, status, len(body))

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.access_log:
            log.debug("%s - %s", self.address_string(), format % args)
