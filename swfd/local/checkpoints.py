"""WAL checkpoints on a connection and a thread of their own, off the engine's lock.

Why: SQLite's automatic checkpoint runs inside the commit that crosses 1,000
WAL pages, and copying those pages back into the database and syncing it
took 10-40 ms: every few hundred calls one of them stalled, and a retention
sweep, which writes a lot, stalled on every other batch. So the engine's
connection has ``wal_autocheckpoint`` off, and once its commits have changed
``CHANGES_PER_CHECKPOINT`` rows since the last checkpoint (a few MB of WAL;
the WAL file's size says nothing, it is reused from the start) a commit
wakes this thread, which runs a PASSIVE
checkpoint on its own connection: it copies what it can without blocking the
writer. Then a second PASSIVE checkpoint runs under the engine's lock, between
calls, to copy what calls wrote meanwhile (few frames, then SQLite's syncs):
the WAL starts over only when a write finds it wholly copied, which under a
steady load never happens unless a checkpoint ends between two calls. The next write transaction after a complete checkpoint starts
the WAL over, and ``journal_size_limit`` truncates the file. After a
retention sweep, :meth:`Checkpointer.run` is called directly (off the lock),
and the store truncates the WAL under the lock, which is then quick.

A failing checkpoint is logged once a minute (``ratelog``) and retried at the
next wake-up; nothing loops. Idle, the thread sleeps on an event.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from swfd.local.ratelog import RateLimitedLog

log = logging.getLogger(__name__)

# Rows changed between checkpoints: a call changes a few (events, the execution, an
# activity), so about a thousand calls, a few MB of WAL, as SQLite's own default.
CHANGES_PER_CHECKPOINT = 4000


class Checkpointer:
    def __init__(self, database: str, engine_lock) -> None:
        self.database = database
        self.engine_lock = engine_lock
        self.errors = RateLimitedLog(log)
        self._db = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
        self._db_lock = threading.Lock()
        self._wanted = threading.Event()
        self._stopped = False
        self._changes = 0  # the writer's total_changes when this thread was last woken
        self.runs = 0
        self.locked_seconds = 0.0  # the longest time a checkpoint held the engine's lock
        self._thread = threading.Thread(target=self._loop, name="swfd-local-checkpoints",
                                        daemon=True)
        self._thread.start()

    def after_commit(self, total_changes: int) -> None:
        """Called after each commit of the engine's connection with its ``total_changes``:
        wake the thread every CHANGES_PER_CHECKPOINT rows."""
        if total_changes - self._changes >= CHANGES_PER_CHECKPOINT:
            self._changes = total_changes
            self._wanted.set()

    def run(self, finish: bool = True) -> tuple[int, int]:
        """A PASSIVE checkpoint now, in the caller's thread (which must not hold the
        engine's lock), finished under that lock when ``finish`` and frames were left:
        (WAL frames, checkpointed)."""
        frames, done = self._passive()
        if finish:  # even when it looked complete: a call may have written meanwhile
            with self.engine_lock:
                started = time.perf_counter()
                frames, done = self._passive()
                self.locked_seconds = max(self.locked_seconds, time.perf_counter() - started)
        return frames, done

    def _passive(self) -> tuple[int, int]:
        with self._db_lock:
            if self._stopped:
                return 0, 0
            _, frames, done = self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.runs += 1
            return frames, done

    def _loop(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._stopped:
                return
            try:
                self.run()
            except sqlite3.Error as exc:
                self.errors.error("checkpoint", exc, f"local endpoint: WAL checkpoint of "
                                  f"{self.database} failed ({exc}); retried when it grows")

    def stop(self) -> None:
        """Stop the thread and close the connection; the caller must not hold the
        engine's lock (the thread may be waiting for it)."""
        self._stopped = True
        self._wanted.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        with self._db_lock:
            self._db.close()
