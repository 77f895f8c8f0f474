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

The request path stays lean (the target is well under 0.5 ms of server CPU
per poll or respond): validators are compiled once, the response goes out
in a single write with TCP_NODELAY, and access logging is off unless asked.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import signal
import socket
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from swfd.local.faults import SWFFault, error_body
from swfd.local.validation import operations_without_output, validate, validators

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1024 * 1024
MAX_DRAIN_BYTES = 16 * 1024 * 1024
STOP_GRACE_SECONDS = 5.0
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
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._in_flight = 0
        self._idle = threading.Condition()
        super().__init__(address, handler)

    def enter(self) -> None:
        with self._idle:
            self._in_flight += 1

    def leave(self) -> None:
        with self._idle:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is being answered (bounded); True when idle."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._in_flight, timeout)

    def process_request(self, request, client_address) -> None:
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down every open keep-alive connection so its handler thread ends."""
        with self._connections_lock:
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
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()  # asked to stop (signal or stop())
        self._closed = False  # stop() has run; it runs once
        self._stop_lock = threading.Lock()

    def start(self) -> LocalEndpoint:
        """Open the engine (taking the database lock), bind, and serve in the background.

        Raises ``EndpointLockedError`` when another endpoint holds the database
        and ``OSError`` when the address cannot be bound.
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
            kwargs={"poll_interval": 0.1},
            name=f"swfd-local:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, wake waiting long polls, close connections and the engine."""
        with self._stop_lock:
            self._stopped.set()
            server = self._server
            if server is None or self._closed:
                return
            self._closed = True
            server.stopping = True
            server.shutdown()
            server.server_close()
            try:
                self.engine.close()  # wakes long polls, which then answer empty
                # Let woken polls and in-flight calls write their answers first.
                if not server.wait_idle(STOP_GRACE_SECONDS):
                    log.warning(
                        "local endpoint: requests still running after %ss at stop",
                        STOP_GRACE_SECONDS,
                    )
            finally:
                server.close_connections()

    def serve_forever(self) -> None:
        """Serve until SIGTERM or SIGINT (or ``stop()``), then stop cleanly."""
        if self._server is None:
            self.start()
        previous = {}

        def on_signal(signum, frame) -> None:
            self._stopped.set()

        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, on_signal)
        try:
            while not self._stopped.wait(0.5):
                pass
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    return parser


def main_local(argv: list[str]) -> int:
    """``swfd local``: serve until SIGTERM/SIGINT. Exit 2 when the DB or port is taken."""
    args = build_parser().parse_args(argv)
    if args.poll_timeout <= 0:
        print(f"swfd local: --poll-timeout must be > 0, got {args.poll_timeout}", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"swfd local: --port must be 0-65535, got {args.port}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.debug:  # the endpoint's own requests, not botocore's chatter
        logging.getLogger("swfd.local").setLevel(logging.DEBUG)
    from swfd.local.engine import EndpointLockedError

    endpoint = LocalEndpoint(
        host=args.host,
        port=args.port,
        database=args.database,
        poll_timeout=args.poll_timeout,
        access_log=args.debug,
    )
    try:
        endpoint.start()
    except EndpointLockedError as exc:
        print(f"swfd local: cannot open {args.database}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(
                f"swfd local: cannot listen on {args.host}:{args.port}: the port is already in use",
                file=sys.stderr,
            )
        else:
            print(f"swfd local: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    print(f"swfd local endpoint ready at {endpoint.url} (database {args.database})", flush=True)
    endpoint.serve_forever()
    return 0
