"""One thread that watches connections: waiting polls, slow or idle clients, refused sockets.

Why a watch on waiting polls: SWF hands a task to a poll whose client has
gone away and the task is then lost until its start-to-close timeout (a worker
killed by the OOM killer, a crash, ``kill -9``). Locally we can do better, so
while a poll waits its socket is watched (:class:`PollWatch`):

* End of file or an error (the client is gone, or TCP keepalive gave up on a
  vanished host): the poll is withdrawn before any task is assigned to it.
* Bytes of another request on the same connection while the poll is
  outstanding (forked processes sharing one keep-alive socket; botocore never
  pipelines): the connection is shut down at once, as TLS would break it, so
  both clients retry on fresh connections and neither reads the other's answer.
* At the moment of assignment the engine asks :meth:`PollWatch.assign`, which
  looks at the socket once more under the engine's lock, so a task is never
  handed to a poller whose socket had closed before the assignment.

``--aws-faithful`` turns this off (the server then passes no watch), and
nothing in swfd's daemon depends on it.

Why deadlines here, and not socket timeouts: a socket with a timeout makes
Python poll() before every recv and send, a cost on every request; and a
timeout bounds each read, not their sum (a slow client dripping a header byte
at a time would never trip it). So sockets stay blocking, and each connection
has one :class:`Deadline` slot that its handler sets while it waits for the
client (idle between requests, a request head or body not yet received, an
answer the client does not read) and clears when the wait is over. The thread
shuts a connection down when its deadline passes, checked with up to
``SLACK`` seconds' lateness; it sleeps until the earliest deadline it knows
of, and is woken only when a deadline earlier than that is set, so a busy
endpoint wakes it a few times a minute, not per request.

Why refused connections here: beyond the connection cap the endpoint answers
a retryable ``ThrottlingException`` without a thread: the answer is written at
once, the write side shut, and what the client sends is drained (so the
kernel does not reset the answer away) until it closes or ``LINGER_SECONDS``.

Idle, the thread sleeps in ``epoll_wait`` (or ``select``) with no timeout.
"""

from __future__ import annotations

import logging
import math
import os
import select
import socket
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

SLACK = 0.25
LINGER_SECONDS = 2.0
MAX_LINGERING = 256

CLEAN, GONE, DATA = "clean", "gone", "data"
_PEEK = socket.MSG_PEEK | socket.MSG_DONTWAIT


def peek(sock: socket.socket) -> str:
    """CLEAN (nothing to read), GONE (end of file or error) or DATA, without blocking.
    ``sock`` is a blocking socket without a timeout (Python would poll() first)."""
    try:
        data = sock.recv(1, _PEEK)
    except (BlockingIOError, InterruptedError):
        return CLEAN
    except (OSError, ValueError):
        return GONE
    return DATA if data else GONE


def shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class PollWatch:
    """A waiting poll's connection, shared by its handler thread, the watcher and the engine.

    States: waiting, then either assigned (the engine gave it a task) or withdrawn
    (its client left, or another request arrived on its connection: ``broken``).
    """

    __slots__ = ("_lock", "_wake", "_watcher", "assigned", "broken", "fd", "sock", "withdrawn")

    def __init__(self, sock: socket.socket, watcher: ConnectionWatcher | None = None) -> None:
        self.sock = sock
        self.fd = -1  # registered with the watcher under this fd
        self.assigned = False
        self.withdrawn = False
        self.broken = False
        self._lock = threading.Lock()
        self._wake: Callable[[], None] | None = None
        self._watcher = watcher

    def on_withdraw(self, wake: Callable[[], None]) -> None:
        """The engine's way to wake the poll (it must not hold the watch's lock)."""
        self._wake = wake

    def waiting(self) -> None:
        """Called by the engine before the poll waits: from now on the watcher watches
        the socket. Only a poll that waits is registered (two epoll calls and two
        locks saved on every poll answered at once, most of them under load); one
        answered at once is checked by ``assign`` alone, as every poll is."""
        if self.fd < 0 and self._watcher is not None:
            self._watcher.watch(self)

    def assign(self) -> bool:
        """Called by the engine, under its lock, for the task it is about to assign:
        True when the poller is still there (the task is then its)."""
        with self._lock:
            if self.withdrawn or self.assigned:
                return False
            verdict = peek(self.sock)
            if verdict == CLEAN:
                self.assigned = True
                return True
            self.withdrawn = True
            self.broken = verdict == DATA
        if self.broken:
            shut(self.sock)
        return False

    def withdraw(self, broken: bool) -> None:
        """Called by the watcher: the client left (or shares the connection)."""
        with self._lock:
            if self.withdrawn or self.assigned:
                return
            self.withdrawn = True
            self.broken = broken
        if broken:
            shut(self.sock)
        wake = self._wake
        if wake is not None:
            wake()


class Deadline:
    """A connection's one deadline slot: ``when`` (time.monotonic) or None."""

    __slots__ = ("sock", "when")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.when: float | None = None


class _Readiness:
    """epoll where there is one (registrations from any thread, while it waits);
    elsewhere select() over the registered fds, woken on each change."""

    def __init__(self) -> None:
        self._epoll = select.epoll() if hasattr(select, "epoll") else None
        self._fds: set[int] = set()
        self.live = self._epoll is not None

    def add(self, fd: int) -> None:
        if self._epoll is not None:
            self._epoll.register(fd, select.EPOLLIN)
        self._fds.add(fd)

    def remove(self, fd: int) -> None:
        self._fds.discard(fd)
        if self._epoll is not None:
            try:
                self._epoll.unregister(fd)
            except (OSError, ValueError):
                pass

    def wait(self, timeout: float | None) -> list[int]:
        if self._epoll is not None:
            return [fd for fd, _ in self._epoll.poll(-1 if timeout is None else timeout)]
        return select.select(list(self._fds), [], [], timeout)[0]

    def close(self) -> None:
        if self._epoll is not None:
            self._epoll.close()


class ConnectionWatcher:
    def __init__(self) -> None:
        self._ready = _Readiness()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._ready.add(self._wake_r)
        self._polls: dict[int, PollWatch] = {}
        self._deadlines: set[Deadline] = set()
        self._plan = math.inf  # when the thread wakes next to look at the deadlines
        self._lingering: dict[int, tuple[socket.socket, float]] = {}
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="swfd-local-connections",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        self._nudge()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        with self._lock:
            for sock, _ in self._lingering.values():
                sock.close()
            self._lingering.clear()
            self._ready.close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def _nudge(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass  # full: it is awake anyway

    # -- polls --------------------------------------------------------------------------

    def watch(self, poll: PollWatch) -> None:
        with self._lock:
            if self._stopped:
                return
            try:
                fd = poll.sock.fileno()
                self._ready.add(fd)
            except (OSError, ValueError):
                return  # closed already: assign() still checks
            poll.fd = fd
            self._polls[fd] = poll
        if not self._ready.live:
            self._nudge()

    def unwatch(self, poll: PollWatch) -> None:
        """Stop watching ``poll`` (called by the thread that registered it, if it did)."""
        if poll.fd < 0:  # never registered (it did not wait), or forgotten already
            return
        with self._lock:
            self._forget(poll)

    def _forget(self, poll: PollWatch) -> None:
        if poll.fd >= 0 and self._polls.get(poll.fd) is poll:
            del self._polls[poll.fd]
            if not self._stopped:
                self._ready.remove(poll.fd)
        poll.fd = -1

    # -- deadlines ----------------------------------------------------------------------

    def track(self, sock: socket.socket) -> Deadline:
        """The deadline slot of a new connection (``untrack`` it when the connection ends)."""
        deadline = Deadline(sock)
        with self._lock:
            self._deadlines.add(deadline)
        return deadline

    def untrack(self, deadline: Deadline) -> None:
        deadline.when = None
        with self._lock:
            self._deadlines.discard(deadline)

    def expire(self, deadline: Deadline, seconds: float) -> None:
        """Shut the connection down ``seconds`` from now unless ``deadline.when`` is cleared
        (set to None) first."""
        when = time.monotonic() + seconds
        deadline.when = when
        with self._lock:  # (the thread plans its next wake-up under this lock too)
            if when + SLACK < self._plan:  # it would wake too late for this one: tell it
                self._plan = when + SLACK
                self._nudge()

    # -- refused connections ------------------------------------------------------------

    def refuse(self, sock: socket.socket, answer: bytes) -> None:
        """Write ``answer`` (a complete HTTP response) and close ``sock`` without a thread."""
        try:
            sock.setblocking(False)
            sock.send(answer)
            sock.shutdown(socket.SHUT_WR)
            fd = sock.fileno()
        except OSError:
            sock.close()
            return
        with self._lock:
            if self._stopped or len(self._lingering) >= MAX_LINGERING:
                sock.close()
                return
            self._ready.add(fd)
            self._lingering[fd] = (sock, time.monotonic() + LINGER_SECONDS)
        self._nudge()  # the thread plans its wake-up for the linger deadline

    def _drain(self, fd: int) -> None:
        sock = self._lingering[fd][0]
        try:
            for _ in range(16):
                if not sock.recv(65536):
                    break
            else:
                return
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self._close_refused(fd)

    def _close_refused(self, fd: int) -> None:
        sock, _ = self._lingering.pop(fd)
        self._ready.remove(fd)
        sock.close()

    # -- the thread -----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._stopped:
                    return
                plan = self._plan
            timeout = None if plan == math.inf else max(0.0, plan - time.monotonic())
            try:
                ready = self._ready.wait(timeout)
            except (OSError, ValueError):
                if self._stopped:
                    return
                raise
            withdrawn: list[tuple[PollWatch, bool]] = []
            with self._lock:
                if self._stopped:
                    return
                for fd in ready:
                    if fd == self._wake_r:
                        try:
                            os.read(self._wake_r, 4096)
                        except OSError:
                            pass
                    elif fd in self._polls:
                        poll = self._polls[fd]
                        verdict = peek(poll.sock)
                        if verdict != CLEAN:
                            self._forget(poll)
                            withdrawn.append((poll, verdict == DATA))
                    elif fd in self._lingering:
                        self._drain(fd)
                self._expire(time.monotonic())
            for poll, broken in withdrawn:  # withdraw() takes the engine's lock: not ours
                poll.withdraw(broken)

    def _expire(self, current: float) -> None:
        """With the lock held: shut what is past its deadline; plan the next wake-up."""
        earliest = math.inf
        for deadline in self._deadlines:
            when = deadline.when
            if when is None:
                continue
            if when <= current:
                deadline.when = None
                shut(deadline.sock)
            elif when < earliest:
                earliest = when
        for fd, (_, until) in list(self._lingering.items()):
            if until <= current:
                self._close_refused(fd)
            elif until < earliest:
                earliest = until
        self._plan = earliest + SLACK if earliest != math.inf else math.inf
