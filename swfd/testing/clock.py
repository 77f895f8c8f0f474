"""A clock the test kit moves: what the in-process endpoint's timers read.

Why: a workflow that sleeps an hour, or retries with a backoff, should be
tested in well under a second. The local endpoint reads epoch time only
through its engine's ``clock`` (event timestamps, timers, timeouts), so an
endpoint built with a :class:`ManualClock` sees time pass only when the kit
says so: when nothing is runnable, :func:`swfd.testing.run_workflow` moves the
clock to the next deadline and fires what came due.
"""

from __future__ import annotations

import threading
import time


class ManualClock:
    """Epoch seconds that stand still until :meth:`advance` / :meth:`advance_to`.

    Callable (``clock()``), like ``time.time``, which is what the engine expects.
    Never goes backwards.
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = round(time.time(), 3) if start is None else float(start)
        self._lock = threading.Lock()
        self.start = self._now

    def __call__(self) -> float:
        return self._now

    @property
    def elapsed(self) -> float:
        """Seconds the clock was moved since it was made."""
        return self._now - self.start

    def advance(self, seconds: float) -> float:
        """Move forward ``seconds`` (>= 0); returns the new time."""
        if seconds < 0:
            raise ValueError(f"a ManualClock never goes backwards (advance({seconds}))")
        with self._lock:
            self._now += seconds
            return self._now

    def advance_to(self, when: float) -> float:
        """Move forward to epoch ``when`` (no change if that is not later)."""
        with self._lock:
            self._now = max(self._now, float(when))
            return self._now

    def __repr__(self) -> str:
        return f"<ManualClock {self._now:.3f} (+{self.elapsed:g}s)>"
