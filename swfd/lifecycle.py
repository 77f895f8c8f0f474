"""A child process's view of shutdown: flags set by signals and by its parent's death.

The generation tells its children what to do with signals; a child must also
notice on its own when the generation is gone. Both only *set flags* here; the
poll loops read them at safe points:

============  ==========================================================
TERM          ``draining``: start no new poll; finish the task in hand
              and any task an outstanding poll still returns; exit 0.
INT, QUIT     ``fast_stop``: fail the task in hand at once with reason
              ``swfd-shutdown`` (it can be retried without waiting for a
              timeout); a task a poll still returns is failed the same
              way; then exit.
USR1          same as INT: the generation sends it at ``graceful_timeout``
              to tasks still in hand after a TERM.
parent death  ``draining``: the lifeline (swfd.lifeline) reads end of file;
              PR_SET_PDEATHSIG (TERM) is a second line of defence.
============  ==========================================================

Nothing clever happens in a signal handler: assigning an attribute cannot
deadlock, whereas setting a ``threading.Event`` takes a lock the interrupted
main thread may hold. Waiters poll the flags (see :meth:`Lifecycle.sleep`).
"""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType

from swfd.lifeline import watch
from swfd.process import set_parent_death_signal

log = logging.getLogger(__name__)

SHUTDOWN_REASON = "swfd-shutdown"


class Lifecycle:
    """Shutdown state of one child process; cheap to build, safe to read from any thread."""

    def __init__(self) -> None:
        self.draining = False
        self.fast_stop = False
        self.reason: str | None = None

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
        # The generation blocks signals around fork; a child must receive them.
        signal.pthread_sigmask(
            signal.SIG_UNBLOCK,
            {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1},
        )

    def _on_term(self, signum: int, frame: FrameType | None) -> None:
        self.drain("SIGTERM")

    def _on_fast(self, signum: int, frame: FrameType | None) -> None:
        self.stop_fast(signal.Signals(signum).name)

    # -- parent death -------------------------------------------------------------

    def watch_lifeline(self, fd: int) -> None:
        """Drain when the parent dies: its lifeline reads end of file (plus PDEATHSIG)."""
        set_parent_death_signal(signal.SIGTERM)
        watch(fd, self._on_parent_death, name="swfd-parent-watch")

    def _on_parent_death(self) -> None:
        if not self.draining:
            log.warning("the generation that started this process is gone; draining")
        self.drain("parent died")

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
