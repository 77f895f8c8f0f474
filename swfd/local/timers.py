"""One schedule for every timeout and timer of the endpoint: a heap and one thread.

Why: SWF has many clocks (four activity timeouts, two decision timeouts, the
execution timeout, user timers, retention). One heap ordered by deadline and
one thread sleeping until the earliest keeps the cost independent of how many
are pending. Entries are never removed when their cause goes away (an activity
completes, a timer is canceled): the engine's ``fire`` callback re-checks the
state under the lock and ignores stale entries. Deadlines are epoch seconds
taken from persisted state, so after a restart the engine re-adds them and
those that came due while the endpoint was down fire at once. So that stale
entries with long deadlines (an activity's schedule-to-close of an hour, after
the activity completed in a second) do not pile up, the heap is filtered
through the engine's ``is_live`` check whenever it has doubled since the last
filtering (amortised O(1) per entry).

A timer whose firing fails (a database error; the engine has logged it and
reloaded its state, which re-arms the same clocks) must not be retried in a
loop: after a failure the schedule fires nothing for a back-off that doubles
from 1 s to 60 s, and is reset by the next success.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

TimerEntry = tuple[float, int, str, str, object]  # (deadline, seq, kind, run_id, ref)
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 60.0


class TimerSchedule:
    def __init__(self, lock: threading.RLock, fire: Callable[[str, str, object, float], None],
                 is_live: Callable[[str, str, object], bool] | None = None, errors=None,
                 clock: Callable[[], float] = time.time):
        self._fire = fire
        self._clock = clock  # epoch seconds; a test's clock for time skipping
        self._errors = errors  # a RateLimitedLog, for failures the engine did not report
        self._backoff = 0.0
        self._is_live = is_live
        self._compact_at = 4096
        self._heap: list[TimerEntry] = []
        self._seq = itertools.count()
        self._cond = threading.Condition(lock)
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="swfd-local-timers", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, deadline: float, kind: str, run_id: str, ref: object = None) -> None:
        """Schedule ``fire(kind, run_id, ref, deadline)``; call with the engine lock held."""
        entry = (deadline, next(self._seq), kind, run_id, ref)
        heapq.heappush(self._heap, entry)
        if self._heap[0] is entry:
            self._cond.notify()
        if self._is_live is not None and len(self._heap) >= self._compact_at:
            self._heap = [e for e in self._heap if self._is_live(e[2], e[3], e[4])]
            heapq.heapify(self._heap)
            self._compact_at = max(4096, 2 * len(self._heap))

    def __len__(self) -> int:
        return len(self._heap)

    def clear(self) -> None:
        self._heap.clear()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def next_deadline(self) -> float | None:
        """The earliest deadline in the schedule (maybe a stale entry's), or None."""
        with self._cond:
            return self._heap[0][0] if self._heap else None

    def fire_due(self) -> None:
        """Fire every entry due by the clock, now, in the caller's thread: a test that
        moved its clock forward gets the timers' events before it looks again."""
        with self._cond:
            self._fire_due()
            self._cond.notify()

    def _fire_due(self) -> None:
        current = self._clock()
        while self._heap and self._heap[0][0] <= current and not self._stopped:
            deadline, _, kind, run_id, ref = heapq.heappop(self._heap)
            try:
                self._fire(kind, run_id, ref, deadline)
                self._backoff = 0.0
            except Exception as exc:  # noqa: BLE001 - one bad entry must not stop the rest
                self._failed(kind, run_id, exc)
                break

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                self._fire_due()
                if self._backoff and not self._stopped:
                    self._cond.wait(self._backoff)  # fire nothing meanwhile
                    if self._stopped:
                        break
                wait = self._heap[0][0] - self._clock() if self._heap else 60.0
                if wait > 0:
                    self._cond.wait(min(wait, 60.0))

    def _failed(self, kind: str, run_id: str, exc: Exception) -> None:
        self._backoff = min(BACKOFF_MAX, max(BACKOFF_FIRST, 2 * self._backoff))
        message = f"local endpoint: {kind} timer for run {run_id} failed ({type(exc).__name__})"
        if getattr(exc, "code", None) == "InternalFailure":
            pass  # the engine logged it (rate-limited) and reloaded its state
        elif self._errors is not None:
            self._errors.error(f"{kind} timer", exc, message)
        else:
            log.exception(message)
        log.debug("local endpoint: timers paused for %.0fs after a failure", self._backoff)
