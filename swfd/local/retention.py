"""Retention: closed executions past their domain's retention are deleted in batches.

Why batches, and why a thread of its own: the engine has one lock, and every
call waits for it. Deleting 6,000 expired executions in one transaction held
it for almost a second; here each batch (at most ``BATCH_RUNS`` executions,
about ``BATCH_EVENTS`` of their events and ``BATCH_SECONDS``) is its own
transaction, and the lock is released for a short pause between batches, so
a call waits at most one batch. The timers keep their own thread, so a long
sweep never delays a timeout. The WAL is checkpointed off the lock as it grows
(``checkpoints.py``), and truncated after a sweep that deleted anything. Executions past
their retention are invisible from the moment they expire (the queries filter
on it), so when the sweep runs changes nothing a client can see.

A failing sweep (a database error) is logged once a minute per distinct error
and retried with a back-off, never in a loop.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__name__)

SWEEP_SECONDS = 60.0
BATCH_RUNS = 200
BATCH_EVENTS = 5_000
# ... and a batch stops after the execution that crosses this much time.
BATCH_SECONDS = 0.010
# Between batches the lock is free for this long, so waiting calls go first.
BATCH_PAUSE_SECONDS = 0.005
MAX_BATCHES = 1_000_000
BACKOFF_MAX_SECONDS = 600.0


class RetentionSweeper:
    def __init__(self, engine, interval: float = SWEEP_SECONDS) -> None:
        self.engine = engine
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="swfd-local-retention",
                                        daemon=True)
        self.last: dict = {}  # what the last sweep did (bench and tests read it)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        wait = 0.0
        failures = 0
        while not self._stop.wait(wait):
            try:
                self.sweep()
                failures = 0
                wait = self.interval
            except Exception as exc:  # noqa: BLE001 - reported, retried after a back-off
                failures += 1
                wait = min(BACKOFF_MAX_SECONDS, self.interval * 2 ** (failures - 1))
                self.engine.errors.error("retention", exc, (
                    f"local endpoint: the retention sweep failed ({type(exc).__name__}: "
                    f"{exc}); next attempt in {wait:.0f}s"))

    def sweep(self) -> int:
        """Delete every execution past its domain's retention; returns how many."""
        engine = self.engine
        started = time.monotonic()
        deleted = batches = 0
        longest = 0.0
        with engine.lock:
            names = list(engine.domains)
        for name in names:
            while batches < MAX_BATCHES and not engine.closed:
                t0 = time.perf_counter()
                with engine.lock:
                    if engine.closed:
                        return deleted
                    dom = engine.domains.get(name)
                    if dom is None:
                        break
                    cutoff = engine.now() - engine.retention_seconds(dom)
                    try:
                        runs, events = engine.store.purge_batch(
                            name, cutoff, BATCH_RUNS, BATCH_EVENTS, BATCH_SECONDS)
                        engine.store.commit()
                    except BaseException:
                        engine.store.rollback()
                        raise
                longest = max(longest, time.perf_counter() - t0)
                if not runs and not events:
                    break
                deleted += runs
                batches += 1
                time.sleep(BATCH_PAUSE_SECONDS)  # waiting calls take the lock meanwhile
        frames = 0
        if batches:
            checkpointer = engine.store.checkpointer
            if checkpointer is not None:
                frames, _ = checkpointer.run(finish=False)  # the copying, off the lock
            with engine.lock:
                if not engine.closed:
                    engine.store.checkpoint()  # what is left, and the truncation
            log.info("local endpoint: retention deleted %d closed executions in %d batches "
                     "(longest %.1f ms); WAL checkpointed (%d frames) and truncated",
                     deleted, batches, 1000 * longest, frames)
        self.last = {"deleted": deleted, "batches": batches, "longest_batch_s": longest,
                     "seconds": time.monotonic() - started, "wal_frames": frames}
        return deleted
