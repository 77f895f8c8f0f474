"""The local SWF endpoint: the engine behind the HTTP server, started, stopped, exposed.

:class:`LocalEndpoint` opens the :class:`~swfd.local.engine.Engine` (its
database), binds the HTTP server of ``protocol.py`` and serves from daemon
threads (``start``) or until a signal (``serve_forever``); under a supervisor
it follows the lifeline into orphan mode (``orphan``). ``swfd local`` itself
(arguments, start-up checks, readiness) is ``main.py``.

Exposure: the endpoint binds 127.0.0.1 by default. A non-loopback address is
refused unless ``allow_remote``, which requires keys; then every request's
SigV4 signature is verified (:mod:`swfd.local.auth`) and a warning says who
can reach it. Plain HTTP still carries payloads in clear.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import selectors
import signal
import socket
import threading
import time
from typing import Any, Callable

from swfd.local.auth import Verifier
from swfd.local.protocol import (
    DEFAULT_MAX_CONNECTIONS,
    HEADER_TIMEOUT,
    IDLE_TIMEOUT,
    _Handler,
    _Server,
)
from swfd.local.validation import validators

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 5.0
# An orphaned endpoint exits once no client has had a connection open for this long.
ORPHAN_QUIET_SECONDS = 1.0
DEFAULT_ORPHAN_TIMEOUT = 60.0


class ExposureError(ValueError):
    """The endpoint would be reachable from other hosts without the safeguards for it."""


def is_loopback(host: str) -> bool:
    """True when every address ``host`` resolves to (for binding) is a loopback address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        infos = socket.getaddrinfo(host or None, 0, family, socket.SOCK_STREAM, 0,
                                   socket.AI_PASSIVE)
    except socket.gaierror:
        return True  # binding will fail and say so
    return all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


class LocalEndpoint:
    """The local SWF endpoint: an :class:`Engine` behind the JSON 1.0 protocol.

    ``start()`` serves from daemon threads (tests, embedding); ``serve_forever()``
    blocks until SIGTERM/SIGINT or ``stop()``. ``engine`` lets protocol tests put
    a stand-in behind the HTTP layer; everything else uses the real engine.

    ``allow_remote`` permits a non-loopback ``host`` (keys required);
    ``keys`` (access key id -> secret) turns on SigV4 verification;
    ``aws_faithful`` turns off the watch on waiting polls' connections.

    Embedded under a supervisor, ``watch_lifeline(fd)`` makes the end of the
    supervisor's pipe put the endpoint in orphan mode (see :meth:`orphan`).
    Idle, nothing here wakes: the accept loop and ``serve_forever`` sleep in
    ``select()`` on pipes (signals reach the latter through
    ``signal.set_wakeup_fd``), the lifeline thread in ``read()``, the
    connection watcher in ``select()``.
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
        allow_remote: bool = False,
        keys: dict[str, str] | None = None,
        aws_faithful: bool = False,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        idle_timeout: float = IDLE_TIMEOUT,
        header_timeout: float = HEADER_TIMEOUT,
        clock: Any = None,
    ) -> None:
        self.host = host
        self.clock = clock  # the engine's clock (time.time when None): see Engine
        self.port = port
        self.database = database
        self.poll_timeout = poll_timeout
        self.access_log = access_log
        self.engine = engine
        self.allow_remote = allow_remote
        self.keys = dict(keys or {})
        self.aws_faithful = aws_faithful
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.header_timeout = header_timeout
        self.url = ""
        self.remote = False  # bound to an address other hosts can reach
        self.orphaned = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()  # asked to stop (signal or stop())
        self._closed = False  # stop() has run; it runs once
        self._stop_lock = threading.Lock()
        self._wake_lock = threading.Lock()
        self._wake_w: int | None = None  # serve_forever's wake-up pipe while it waits

    def check_exposure(self) -> None:
        """Refuse a non-loopback host without ``allow_remote``, and ``allow_remote``
        without keys (ExposureError, naming the host and what to do)."""
        if is_loopback(self.host):
            return
        if not self.allow_remote:
            raise ExposureError(
                f"--host {self.host} is not a loopback address: other hosts could reach the "
                "endpoint and poll tasks, read payloads and terminate workflows; bind "
                "127.0.0.1, or pass --allow-remote ([embedded] allow_remote = yes) with keys")
        if not self.keys:
            raise ExposureError(
                f"--host {self.host} with --allow-remote needs keys (--keys-file, "
                "[embedded] keys_file, or SWFD_LOCAL_ACCESS_KEY_ID and "
                "SWFD_LOCAL_SECRET_ACCESS_KEY): a remote endpoint that accepts any "
                "credentials is refused")

    def start(self) -> LocalEndpoint:
        """Open the engine (taking the database lock), bind, and serve in the background.

        Raises ``ExposureError`` for a host it may not bind (see ``check_exposure``),
        ``EndpointLockedError`` when another endpoint holds the database and
        ``OSError`` when the address cannot be bound (the engine is then closed).
        """
        self.check_exposure()
        validators()  # compile before the first request, not during it
        verifier = Verifier(self.keys) if self.keys else None
        if self.engine is None:
            from swfd.local.engine import Engine

            self.engine = Engine(self.database, poll_timeout=self.poll_timeout,
                                 **({"clock": self.clock} if self.clock else {}))
        try:
            server_class = _Server
            if ":" in self.host:
                server_class = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
            self._server = server_class(
                (self.host, self.port), _Handler, self.engine, self.access_log,
                watch_polls=not self.aws_faithful, verifier=verifier,
                max_connections=self.max_connections, idle_timeout=self.idle_timeout,
                header_timeout=self.header_timeout,
            )
        except BaseException:
            self.engine.close()
            raise
        bound = str(self._server.server_address[0])
        self.port = self._server.server_address[1]
        self.remote = not ipaddress.ip_address(bound.split("%")[0]).is_loopback
        self.url = f"http://{f'[{bound}]' if ':' in bound else bound}:{self.port}"
        if self.remote:
            everyone = " (every interface)" if bound in ("0.0.0.0", "::") else ""
            log.warning(
                "local endpoint: listening on %s:%d%s, not loopback: any host that can reach "
                "this port can call it with one of the %d configured keys (SigV4 verified); "
                "plain HTTP carries every payload in clear on the wire",
                bound, self.port, everyone, len(self.keys))
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


def main_local(argv: list[str]) -> int:
    """``swfd local``: see :func:`swfd.local.main.main_local`."""
    from swfd.local.main import main_local as main

    return main(argv)
