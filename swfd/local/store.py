"""SQLite persistence for the local endpoint: schema, lock, write-through, reload.

Why this shape: open executions live in memory (``state.py``) and each call
writes what it changed here before it answers, in one transaction, so a
``kill -9`` loses nothing acknowledged (WAL, ``synchronous=NORMAL``: the
commit is in the OS's page cache when the call answers; README.md says what a
power loss may cost). A call writes only what changed: its new events, the
activities it touched, and an open execution's state by a narrow UPDATE (no
index touched), skipped when the state is unchanged. Closed executions live
only here; the queries the endpoint makes on them (describe, history, list
closed) go through indexes, so their cost does not grow with their number
(given a workflowId, through the index on it). Lists and counts of
closed executions read summary columns through covering indexes (no JSON is
decoded per row, no table row visited for a count). Retention deletes in
batches (``purge_batch``), so the engine's lock is never held for long.
The schema carries a ``PRAGMA user_version`` so a newer, unknown layout is
refused rather than misread; a file that is not an SQLite database, is
truncated or damaged, or is another program's, is refused with the file named
(``integrity.py``). An exclusive ``flock`` on a sidecar ``.lock`` file keeps a
second endpoint off the same database.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from typing import Any

from swfd.local import integrity, summaries
from swfd.local.checkpoints import Checkpointer
from swfd.local.state import (
    Activity,
    Event,
    Execution,
    activity_from_json,
    activity_json,
    dumps_compact,
)

log = logging.getLogger(__name__)

# 1: first layout (open activities inside the execution's state, no seq column).
# 2: activities table; executions.seq (start order).
# 3: summary columns (parent, cancel_requested) and covering indexes for closed lists.
# 4: the workflow type and tags in those indexes too (a count with a type or tag filter
#    read every execution's table row: 5-8 ms at 10,000 closed).
SCHEMA_VERSION = 4

# Closed executions by start and by close time: every column a closed list or count
# filters on is in them (close status, type, tags), so a count reads no table row and
# a list only its page's. Partial: open executions are not in them (nor written to them
# until they close).
_CLOSED_INDEXES = """
CREATE INDEX IF NOT EXISTS executions_closed_by_start ON executions
    (domain, start_ts, seq, close_ts, close_status, is_open, type_name, type_version, tags)
    WHERE is_open = 0;
CREATE INDEX IF NOT EXISTS executions_closed_by_close ON executions
    (domain, close_ts, seq, close_status, is_open, type_name, type_version, tags)
    WHERE is_open = 0;
"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS domains (
    name TEXT PRIMARY KEY, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS types (
    domain TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL,
    body TEXT NOT NULL, PRIMARY KEY (domain, kind, name, version)
);
CREATE TABLE IF NOT EXISTS executions (
    run_id TEXT PRIMARY KEY, domain TEXT NOT NULL, workflow_id TEXT NOT NULL,
    type_name TEXT NOT NULL, type_version TEXT NOT NULL,
    start_ts REAL NOT NULL, close_ts REAL, close_status TEXT, is_open INTEGER NOT NULL,
    tags TEXT NOT NULL, seq INTEGER NOT NULL, state TEXT NOT NULL,
    parent_wid TEXT, parent_rid TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS executions_open ON executions (is_open) WHERE is_open = 1;
""" + _CLOSED_INDEXES + """
CREATE INDEX IF NOT EXISTS executions_workflow_id ON executions (domain, workflow_id);
CREATE TABLE IF NOT EXISTS activities (
    run_id TEXT NOT NULL, scheduled_id INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (run_id, scheduled_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL, event_id INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (run_id, event_id)
) WITHOUT ROWID;
"""

# What each table must hold for this code to read it (the schema check at start).
_TABLES = {
    "domains": {"name", "body"},
    "types": {"domain", "kind", "name", "version", "body"},
    "executions": {"run_id", "domain", "workflow_id", "type_name", "type_version", "start_ts",
                   "close_ts", "close_status", "is_open", "tags", "seq", "state", "parent_wid",
                   "parent_rid", "cancel_requested"},
    "activities": {"run_id", "scheduled_id", "body"},
    "events": {"run_id", "event_id", "body"},
}

# The columns a closed execution's summary (WorkflowExecutionInfo) is built from.
SUMMARY_COLUMNS = summaries.COLUMNS

# A WAL larger than this is truncated back to it after each checkpoint.
JOURNAL_SIZE_LIMIT = 16 * 1024 * 1024


class EndpointLockedError(RuntimeError):
    """Another local endpoint holds this database."""


class SchemaVersionError(RuntimeError):
    """The database was written by a newer swfd with a schema this one cannot read."""


DatabaseFileError = integrity.DatabaseFileError


class Store:
    """One SQLite connection, used only under the engine's lock."""

    def __init__(self, database: str, lock=None) -> None:
        """``lock``: the engine's lock (the checkpointer finishes a checkpoint under it)."""
        self.database = database
        self._engine_lock = lock if lock is not None else threading.RLock()
        self._lock_file = None
        self.closed = False
        self.checkpointer: Checkpointer | None = None
        new = True
        if database != ":memory:":
            new = integrity.prepare(database)
            self._take_lock(database + ".lock")
        try:
            self._open(database, new)
        except BaseException:
            # Keep nothing half done (an upgrade), and do not keep the lock either.
            db = getattr(self, "db", None)
            try:
                if db is not None and db.in_transaction:
                    db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            self.close()
            raise

    def _open(self, database: str, new: bool) -> None:
        try:
            self.db = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
            if not new:
                integrity.quick_check(self.db, database, os.path.getsize(database))
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
            # Checkpoints run off the engine's lock (checkpoints.py); a truncating one
            # there may briefly hold the writer: wait for it rather than fail.
            self.db.execute("PRAGMA wal_autocheckpoint=0")
            self.db.execute("PRAGMA busy_timeout=10000")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"database {database} has schema version {version}; this swfd understands "
                    f"up to {SCHEMA_VERSION}: upgrade swfd or use another database file"
                )
            self._check_schema(version)
            if version == 1:
                self._upgrade_from_1()
            if version in (1, 2):
                self._upgrade_to_3()
            if version in (1, 2, 3):
                self._upgrade_to_4()
            self.db.executescript(_SCHEMA)
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self.db.execute("BEGIN")
            if database != ":memory:":
                integrity.warn_if_shared(database)
                self.checkpointer = Checkpointer(database, self._engine_lock)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc):
                raise DatabaseFileError(
                    f"database {database}: SQLite cannot write it ({exc}); make the file "
                    "and its directory writable, or choose another --database") from None
            raise integrity.damaged(database, f"SQLite cannot use it ({exc})") from None

    def _check_schema(self, version: int) -> None:
        """A file with tables that are not ours is foreign; ours without a table is damaged."""
        tables = {name for (name,) in self.db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")}
        if version == 0:
            if tables:
                raise integrity.damaged(
                    self.database, "not an swfd local endpoint database (schema version 0, "
                    f"tables {', '.join(sorted(tables)[:5])}): another program's file?")
            return
        missing = [t for t in _TABLES if t not in tables and not (version == 1 and
                                                                   t == "activities")]
        if missing:
            raise integrity.damaged(self.database, f"schema version {version} but no table "
                                    f"{', '.join(missing)}")
        for table, wanted in _TABLES.items():
            if table not in tables:
                continue
            have = {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
            lacking = wanted - have
            if version < 3 and table == "executions":
                lacking -= {"seq", "parent_wid", "parent_rid", "cancel_requested"}
            if lacking:
                raise integrity.damaged(self.database, f"table {table} lacks the columns "
                                        f"{', '.join(sorted(lacking))}")

    def _upgrade_from_1(self) -> None:
        """Schema 1 -> 2: add executions.seq, move open activities to their own table."""
        self.db.execute("BEGIN")
        self.db.execute("ALTER TABLE executions ADD COLUMN seq INTEGER NOT NULL DEFAULT 0")
        self.db.execute(
            "CREATE TABLE activities (run_id TEXT NOT NULL, scheduled_id INTEGER NOT NULL,"
            " body TEXT NOT NULL, PRIMARY KEY (run_id, scheduled_id)) WITHOUT ROWID"
        )
        rows = self.db.execute("SELECT run_id, state FROM executions WHERE is_open = 1")
        for run_id, state in rows.fetchall():
            for body in json.loads(state).get("activities", {}).values():
                self.db.execute(
                    "INSERT INTO activities (run_id, scheduled_id, body) VALUES (?, ?, ?)",
                    (run_id, body["scheduled_id"], json.dumps(body)),
                )
        self.db.execute("UPDATE executions SET seq = rowid")
        self.db.execute("PRAGMA user_version=2")
        self.db.execute("COMMIT")

    def _upgrade_to_3(self) -> None:
        """Schema 2 -> 3: summary columns from each execution's state; new indexes."""
        self.db.execute("BEGIN")
        have = {row[1] for row in self.db.execute("PRAGMA table_info(executions)")}
        for column, kind in (("parent_wid", "TEXT"), ("parent_rid", "TEXT"),
                             ("cancel_requested", "INTEGER NOT NULL DEFAULT 0")):
            if column not in have:
                self.db.execute(f"ALTER TABLE executions ADD COLUMN {column} {kind}")
        self.db.execute(
            "UPDATE executions SET parent_wid = json_extract(state, '$.parent.workflowId'),"
            " parent_rid = json_extract(state, '$.parent.runId'),"
            " cancel_requested = coalesce(json_extract(state, '$.cancel_requested'), 0)")
        self.db.execute("DROP INDEX IF EXISTS executions_closed_start")
        self.db.execute("DROP INDEX IF EXISTS executions_closed_close")
        self.db.execute("PRAGMA user_version=3")
        self.db.execute("COMMIT")

    def _upgrade_to_4(self) -> None:
        """Schema 3 -> 4: the closed-time indexes rebuilt with the type and tag columns
        (one pass over the closed executions, once)."""
        self.db.execute("BEGIN")
        self.db.execute("DROP INDEX IF EXISTS executions_closed_by_start")
        self.db.execute("DROP INDEX IF EXISTS executions_closed_by_close")
        for statement in _CLOSED_INDEXES.split(";"):
            if statement.strip():
                self.db.execute(statement)
        self.db.execute("PRAGMA user_version=4")
        self.db.execute("COMMIT")

    def _take_lock(self, path: str) -> None:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise DatabaseFileError(f"database {self.database}: cannot open its lock file "
                                    f"{path} ({exc.strerror or exc})") from None
        handle = os.fdopen(fd, "a+")  # held open: the flock lives with it
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                handle.seek(0)
                holder = handle.read(32).strip()  # the pid the holder wrote
            except (OSError, ValueError):
                holder = ""
            handle.close()
            by = f" (pid {holder})" if holder.isdigit() else ""
            raise EndpointLockedError(
                f"database {self.database} is in use by another swfd local endpoint{by} "
                f"(lock file {path} is held)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock_file = handle

    # -- transactions ---------------------------------------------------------------

    def commit(self) -> None:
        self.db.execute("COMMIT")
        self.db.execute("BEGIN")
        if self.checkpointer is not None:
            self.checkpointer.after_commit(self.db.total_changes)

    def rollback(self) -> None:
        self.db.execute("ROLLBACK")
        self.db.execute("BEGIN")

    def stop_checkpoints(self) -> None:
        """Stop the checkpointer; call without holding the engine's lock, before close()."""
        checkpointer, self.checkpointer = self.checkpointer, None
        if checkpointer is not None:
            checkpointer.stop()

    def close(self) -> None:
        self.closed = True
        self.stop_checkpoints()
        try:
            if self.db.in_transaction:
                self.db.execute("COMMIT")
            self.db.close()
        except (sqlite3.Error, AttributeError):
            pass
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    # -- domains and types ----------------------------------------------------------

    def load_domains(self) -> dict[str, dict]:
        return {n: json.loads(b) for n, b in self.db.execute("SELECT name, body FROM domains")}

    def save_domain(self, domain: dict) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO domains (name, body) VALUES (?, ?)",
            (domain["name"], json.dumps(domain)),
        )

    def load_types(self) -> dict[tuple, dict]:
        rows = self.db.execute("SELECT domain, kind, name, version, body FROM types")
        return {(d, k, n, v): json.loads(b) for d, k, n, v, b in rows}

    def save_type(self, key: tuple, body: dict) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO types (domain, kind, name, version, body) VALUES (?,?,?,?,?)",
            (*key, json.dumps(body)),
        )

    def delete_type(self, key: tuple) -> None:
        self.db.execute(
            "DELETE FROM types WHERE domain=? AND kind=? AND name=? AND version=?", key
        )

    # -- executions -----------------------------------------------------------------

    def save_execution(self, ex: Execution) -> str:
        """Write ``ex``'s new events and its row; returns the state JSON the row now holds
        (the engine keeps it as ``ex.stored_state`` once committed).

        An open execution whose row exists changes only its state (and the
        cancel-requested flag inside it): one narrow UPDATE that touches no index, and
        none at all when the state is what the row holds already (a call that added
        only events or changed only an activity). Closing updates the close columns
        too (the indexes on them). A new row is written whole."""
        new = ex.events[ex.persisted :]
        if new:
            rows = []
            for event in new:
                text = dumps_compact(event)
                if type(event) is Event:
                    event.json = text  # the answers that carry it send these bytes
                rows.append((ex.run_id, event["eventId"], text))
            self.db.executemany(
                "INSERT OR REPLACE INTO events (run_id, event_id, body) VALUES (?, ?, ?)", rows)
        state = ex.to_json()
        if ex.stored_state is not None:  # the row exists: only what may have changed
            if not ex.is_open:
                self.db.execute(
                    "UPDATE executions SET state=?, cancel_requested=?, close_ts=?,"
                    " close_status=?, is_open=0 WHERE run_id=?",
                    (state, 1 if ex.cancel_requested else 0, ex.close_ts, ex.close_status,
                     ex.run_id))
            elif state != ex.stored_state:
                self.db.execute(
                    "UPDATE executions SET state=?, cancel_requested=? WHERE run_id=?",
                    (state, 1 if ex.cancel_requested else 0, ex.run_id))
            return state
        parent = ex.parent or {}
        self.db.execute(
            "INSERT OR REPLACE INTO executions (run_id, domain, workflow_id, type_name,"
            " type_version, start_ts, close_ts, close_status, is_open, tags, seq, state,"
            " parent_wid, parent_rid, cancel_requested) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                ex.run_id, ex.domain, ex.workflow_id, ex.workflow_type["name"],
                ex.workflow_type["version"], ex.start_ts, ex.close_ts, ex.close_status,
                1 if ex.is_open else 0, json.dumps(ex.tags), ex.seq, state,
                parent.get("workflowId"), parent.get("runId"), 1 if ex.cancel_requested else 0,
            ),
        )
        return state

    def save_activity(self, run_id: str, scheduled_id: int, act: Activity | None) -> None:
        """Write one open activity (``None``: it closed) -- activities are written one by one
        so a call's cost does not grow with the number of open activities."""
        if act is None:
            self.db.execute("DELETE FROM activities WHERE run_id=? AND scheduled_id=?",
                            (run_id, scheduled_id))
        else:
            self.db.execute(
                "INSERT OR REPLACE INTO activities (run_id, scheduled_id, body) VALUES (?,?,?)",
                (run_id, scheduled_id, activity_json(act)),
            )

    def drop_activities(self, run_id: str) -> None:
        self.db.execute("DELETE FROM activities WHERE run_id=?", (run_id,))

    def load_open_executions(self) -> list[Execution]:
        out = []
        rows = self.db.execute("SELECT run_id, state FROM executions WHERE is_open = 1")
        for run_id, state in rows.fetchall():
            acts = [activity_from_json(b) for (b,) in self.db.execute(
                "SELECT body FROM activities WHERE run_id=? ORDER BY scheduled_id", (run_id,))]
            ex = Execution.from_json(state, acts)
            ex.events = self.events(ex.run_id)
            ex.persisted = len(ex.events)
            ex.stored_state = state
            out.append(ex)
        return out

    def max_seq(self) -> int:
        return self.db.execute("SELECT MAX(seq) FROM executions").fetchone()[0] or 0

    def load_execution(self, run_id: str) -> Execution | None:
        row = self.db.execute("SELECT state FROM executions WHERE run_id=?", (run_id,)).fetchone()
        return None if row is None else Execution.from_json(row[0])

    def find_run_id(self, domain: str, workflow_id: str, run_id: str | None) -> str | None:
        """The run with this workflowId (the latest started when no runId is given)."""
        if run_id:
            row = self.db.execute(
                "SELECT run_id FROM executions WHERE run_id=? AND domain=? AND workflow_id=?",
                (run_id, domain, workflow_id),
            ).fetchone()
        else:
            row = self.db.execute(
                "SELECT run_id FROM executions WHERE domain=? AND workflow_id=?"
                " ORDER BY start_ts DESC, seq DESC LIMIT 1",
                (domain, workflow_id),
            ).fetchone()
        return None if row is None else row[0]

    def events(self, run_id: str, first: int = 1, last: int | None = None) -> list[dict]:
        last = last if last is not None else 1 << 62
        rows = self.db.execute(
            "SELECT body FROM events WHERE run_id=? AND event_id BETWEEN ? AND ?"
            " ORDER BY event_id",
            (run_id, first, last),
        )
        events = []
        for (body,) in rows:
            event = Event(json.loads(body))
            event.json = body
            events.append(event)
        return events

    def event_count(self, run_id: str) -> int:
        row = self.db.execute(
            "SELECT MAX(event_id) FROM events WHERE run_id=?", (run_id,)
        ).fetchone()
        return row[0] or 0

    @staticmethod
    def _closed_from(by_workflow_id: bool) -> str:
        """The FROM of a closed list or count. Given a workflowId, through the index on
        it: SQLite would otherwise walk the time index for its order, every closed
        execution of the domain (about 10 ms at 10,000), to find a workflow's few runs."""
        return "executions INDEXED BY executions_workflow_id" if by_workflow_id \
            else "executions"

    def closed_summaries(
        self, domain: str, where: Iterable[str], args: Iterable[Any], order_by: str,
        descending: bool, limit: int, by_workflow_id: bool = False,
    ) -> list[tuple]:
        """Rows of SUMMARY_COLUMNS of closed executions, in list order (an index walk)."""
        sql = (f"SELECT {SUMMARY_COLUMNS} FROM {self._closed_from(by_workflow_id)}"
               " WHERE domain=? AND is_open=0")
        for clause in where:
            sql += f" AND {clause}"
        direction = "DESC" if descending else "ASC"
        sql += f" ORDER BY {order_by} {direction}, seq {direction} LIMIT ?"
        return self.db.execute(sql, (domain, *args, limit)).fetchall()

    def count_closed(self, domain: str, where: Iterable[str], args: Iterable[Any],
                     by_workflow_id: bool = False) -> int:
        sql = (f"SELECT COUNT(*) FROM {self._closed_from(by_workflow_id)}"
               " WHERE domain=? AND is_open=0")
        for clause in where:
            sql += f" AND {clause}"
        return self.db.execute(sql, (domain, *args)).fetchone()[0]

    def purge_batch(self, domain: str, closed_before: float, max_runs: int,
                    max_events: int, max_seconds: float = 1.0) -> tuple[int, int]:
        """Delete up to ``max_runs`` closed executions of ``domain`` that closed before
        ``closed_before``, and at most about ``max_events`` of their events, stopping
        after the execution that crosses ``max_seconds``; returns (executions deleted,
        events deleted). An execution whose history exceeds what is left of the budget
        loses its last events now and the rest in later batches (it is already
        invisible: past its retention)."""
        stop_at = time.perf_counter() + max_seconds
        runs = self.db.execute(
            "SELECT run_id FROM executions WHERE domain=? AND is_open=0 AND close_ts <= ?"
            " ORDER BY close_ts LIMIT ?", (domain, closed_before, max_runs),
        ).fetchall()
        deleted = events = 0
        for (run_id,) in runs:
            last = self.event_count(run_id)
            budget = max_events - events
            if last > budget:
                if budget > 0:
                    events += self.db.execute(
                        "DELETE FROM events WHERE run_id=? AND event_id > ?",
                        (run_id, last - budget)).rowcount
                break
            events += self.db.execute("DELETE FROM events WHERE run_id=?", (run_id,)).rowcount
            self.db.execute("DELETE FROM executions WHERE run_id=?", (run_id,))
            deleted += 1
            if time.perf_counter() >= stop_at:
                break
        return deleted, events

    def checkpoint(self) -> tuple[int, int]:
        """Copy what is left of the WAL into the database and truncate it (after bulk
        deletes, once the checkpointer has copied the rest off the lock); returns
        (WAL frames, frames checkpointed). Call between transactions."""
        self.db.execute("COMMIT")
        try:
            _, frames, done = self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            self.db.execute("BEGIN")
        return frames, done
