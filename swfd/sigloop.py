"""The loop the supervisor and each generation run: gunicorn's arbiter shape.

Signal handlers only queue the signal (the wakeup fd ends the sleep); the loop
takes one signal off the queue and calls ``handle_<name>()``, or else sleeps in
``select()`` until a signal, one of the object's own descriptors, or its next
deadline; then it runs ``tick()`` (reap, manage, report). Nothing clever
happens in a handler, and nothing wakes an idle loop.

Also the fork both levels use: signals blocked across it, so one that arrives
at that instant reaches the child under the child's own dispositions, never
the parent's handler running in the child.
"""

from __future__ import annotations

import os
import select
import signal
import time
from typing import ClassVar


class SignalLoop:
    SIG_NAMES: ClassVar[dict[int, str]] = {
        getattr(signal, f"SIG{name.upper()}"): name
        for name in ("hup", "int", "quit", "term", "chld", "usr1", "usr2", "ttin", "ttou")
    }
    SIGNALS = tuple(SIG_NAMES)

    def __init__(self) -> None:
        self.sig_queue: list[int] = []
        self.wakeup: tuple[int, int] = (-1, -1)
        self.finished = False

    # -- what subclasses define --------------------------------------------------------

    def watched_fds(self) -> list[int]:
        """Descriptors besides the wakeup pipe whose readiness should end a sleep."""
        return []

    def on_readable(self, fd: int) -> None:
        """One of ``watched_fds()`` is readable."""

    def next_wakeup(self) -> float | None:
        """The earliest ``time.monotonic()`` deadline that needs the loop, or None."""
        return None

    def tick(self) -> None:
        """After every signal handled or sleep: reap, manage, report."""

    # -- the loop ------------------------------------------------------------------------

    def install_signals(self) -> None:
        self.wakeup = os.pipe()
        for fd in self.wakeup:
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(self.wakeup[1], warn_on_full_buffer=False)
        for sig in self.SIGNALS:
            signal.signal(sig, self.signal)

    def restore_signals(self) -> None:
        signal.set_wakeup_fd(-1)
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        for fd in self.wakeup:
            if fd >= 0:
                os.close(fd)
        self.wakeup = (-1, -1)

    def signal(self, sig: int, frame: object) -> None:
        """The handler: queue it, nothing else (the wakeup fd wakes the loop)."""
        if sig not in self.sig_queue:
            self.sig_queue.append(sig)

    def loop(self) -> None:
        while not self.finished:
            sig = self.sig_queue.pop(0) if self.sig_queue else None
            if sig is None:
                self.sleep()
            else:
                getattr(self, f"handle_{self.SIG_NAMES[sig]}")()
            self.tick()

    def sleep(self) -> None:
        wake = self.next_wakeup()
        timeout = None if wake is None else max(0.0, wake - time.monotonic())
        try:
            readable, _, _ = select.select([self.wakeup[0], *self.watched_fds()], [], [],
                                           timeout)
        except InterruptedError:
            return
        for fd in readable:
            if fd == self.wakeup[0]:
                read_available(fd)
            else:
                self.on_readable(fd)


def fork_with_signals_blocked(signals: tuple[int, ...]) -> tuple[int, set[int]]:
    """``os.fork()`` with ``signals`` blocked across it. Returns ``(pid, mask)``: the
    parent's mask is already restored; the child must install its own handlers (or
    :func:`reset_signals`) and then restore ``mask`` itself."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, set(signals))
    try:
        pid = os.fork()
    except OSError:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        raise
    if pid:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    return pid, mask


def reset_signals(signals: tuple[int, ...], mask: set[int]) -> None:
    """In a child just forked: default dispositions, no wakeup fd, the old mask."""
    signal.set_wakeup_fd(-1)
    for sig in signals:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def read_available(fd: int) -> tuple[bytes, bool]:
    """What a non-blocking fd holds now, and whether it reached end of file."""
    chunks = []
    try:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks), True
            chunks.append(chunk)
    except BlockingIOError:
        return b"".join(chunks), False
    except OSError:
        return b"".join(chunks), True
