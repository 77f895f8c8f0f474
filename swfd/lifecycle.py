"""A child process's view of shutdown: flags set by signals and by the master's death.

The master tells its children what to do with signals; a child must also
notice on its own when the master is gone. Both only *set flags* here; the
worker and decider loops read them at safe points:

============  ==========================================================
TERM          ``draining``: start no new poll; finish the task in hand
              and any task an outstanding poll still returns; exit 0.
INT, QUIT     ``fast_stop``: fail the task in hand at once with reason
              ``swfd-shutdown`` (it can be retried without waiting for a
              timeout); a task a poll still returns is failed the same
              way; then exit.
USR1          same as INT: the master sends it at ``graceful_timeout``
              to tasks still in hand after a TERM.
master death  ``draining`` (PR_SET_PDEATHSIG delivers TERM on Linux; a
              watcher thread also compares ``getppid()`` every 0.5 s).
============  ==========================================================

Nothing clever happens in a signal handler: assigning an attribute cannot
deadlock, whereas setting a ``threading.Event`` takes a lock the interrupted
main thread may hold. Waiters poll the flags (see :meth:`Lifecycle.sleep`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading
import time
from types import FrameType

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_ERROR = 1
#: A planned exit (max_tasks_per_child, max_memory_per_child, a handler past its
#: start-to-close timeout): the master respawns the slot and counts no crash.
EXIT_RECYCLE = 3

SHUTDOWN_REASON = "swfd-shutdown"
_PR_SET_PDEATHSIG = 1
PARENT_CHECK_INTERVAL = 0.5


class Lifecycle:
    """Shutdown state of one child process; cheap to build, safe to read from any thread."""

    def __init__(self) -> None:
        self.draining = False
        self.fast_stop = False
        self.reason: str | None = None
        self._parent_pid = os.getppid()
        self._watcher: threading.Thread | None = None

    @classmethod
    def for_child(cls, *, watch_parent: bool = True) -> Lifecycle:
        """What the master calls right after fork: handlers installed, master watched."""
        lifecycle = cls()
        lifecycle.install_signal_handlers()
        if watch_parent:
            lifecycle.watch_parent()
        return lifecycle

    # -- transitions (also callable directly, e.g. by tests) ------------------------

    def drain(self, reason: str = "drain requested") -> None:
        """Start no new poll; finish what is in hand."""
        if not self.draining:
            self.reason = self.reason or reason
        self.draining = True

    def stop_fast(self, reason: str = "fast stop requested") -> None:
        """Fail the task in hand now with ``swfd-shutdown``, then exit."""
        self.reason = reason if not self.fast_stop else self.reason
        self.fast_stop = True
        self.draining = True

    @property
    def stopping(self) -> bool:
        return self.draining or self.fast_stop

    # -- signals ------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        """TERM -> drain; INT, QUIT, USR1 -> fast stop. Must run in the main thread."""
        signal.signal(signal.SIGTERM, self._on_term)
        for signum in (signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1):
            signal.signal(signum, self._on_fast)
        # The master may have blocked signals around fork; a child must receive them.
        signal.pthread_sigmask(
            signal.SIG_UNBLOCK,
            {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1},
        )

    def _on_term(self, signum: int, frame: FrameType | None) -> None:
        self.drain("SIGTERM")

    def _on_fast(self, signum: int, frame: FrameType | None) -> None:
        self.stop_fast(signal.Signals(signum).name)

    # -- master death ---------------------------------------------------------------

    def watch_parent(self, interval: float = PARENT_CHECK_INTERVAL) -> None:
        """Drain when the master dies: PR_SET_PDEATHSIG (Linux) plus a getppid() watcher."""
        _set_parent_death_signal(signal.SIGTERM)
        if os.getppid() != self._parent_pid:  # died between fork and prctl
            self.drain("master died")
        if self._watcher is None:
            self._watcher = threading.Thread(
                target=self._watch, args=(interval,), name="swfd-parent-watch", daemon=True
            )
            self._watcher.start()

    def _watch(self, interval: float) -> None:
        while not self.draining:
            if os.getppid() != self._parent_pid:
                log.warning("master process %d is gone; draining", self._parent_pid)
                self.drain("master died")
                return
            time.sleep(interval)

    # -- waiting ----------------------------------------------------------------------

    def sleep(self, seconds: float, *, until_draining: bool = True) -> bool:
        """Sleep up to ``seconds``; return early (True) once stopping (or fast-stopping)."""
        deadline = time.monotonic() + seconds
        while True:
            if self.fast_stop or (until_draining and self.draining):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(left, 0.1))


def _set_parent_death_signal(signum: int) -> bool:
    """Ask Linux to send ``signum`` when the parent dies; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except OSError as exc:
        log.warning("prctl(PR_SET_PDEATHSIG) unavailable: %s; relying on getppid()", exc)
        return False
