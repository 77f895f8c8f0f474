"""SQLite persistence for the local endpoint: schema, lock, write-through, reload.

Why this shape: open executions live in memory (``state.py``) and each call
writes what it changed here before it answers, in one transaction, so a
``kill -9`` loses nothing acknowledged. Closed executions live only here; the
queries the endpoint makes on them (describe, history, list closed) go through
indexes, so their cost does not grow with their number. The schema carries a
``PRAGMA user_version`` so a newer, unknown layout is refused rather than
misread. An exclusive ``flock`` on a sidecar ``.lock`` file keeps a second
endpoint off the same database.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Iterable
from typing import Any

from swfd.local.state import Activity, Execution, activity_from_json, activity_json

# 1: first layout (open activities inside the execution's state, no seq column).
# 2: activities table; executions.seq (start order).
SCHEMA_VERSION = 2

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
    tags TEXT NOT NULL, seq INTEGER NOT NULL, state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_open ON executions (is_open) WHERE is_open = 1;
CREATE INDEX IF NOT EXISTS executions_closed_start
    ON executions (domain, start_ts) WHERE is_open = 0;
CREATE INDEX IF NOT EXISTS executions_closed_close
    ON executions (domain, close_ts) WHERE is_open = 0;
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


class EndpointLockedError(RuntimeError):
    """Another local endpoint holds this database."""


class SchemaVersionError(RuntimeError):
    """The database was written by a newer swfd with a schema this one cannot read."""


class Store:
    """One SQLite connection, used only under the engine's lock."""

    def __init__(self, database: str) -> None:
        self.database = database
        self._lock_file = None
        self.closed = False
        if database != ":memory:":
            self._take_lock(database + ".lock")
        try:
            self._open(database)
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

    def _open(self, database: str) -> None:
        self.db = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"database {database} has schema version {version}; this swfd understands "
                f"up to {SCHEMA_VERSION}: upgrade swfd or use another database file"
            )
        if version == 1:
            self._upgrade_from_1()
        self.db.executescript(_SCHEMA)
        self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self.db.execute("BEGIN")

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

    def _take_lock(self, path: str) -> None:
        handle = open(path, "a+")  # noqa: SIM115 - held open: the flock lives with it
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

    def rollback(self) -> None:
        self.db.execute("ROLLBACK")
        self.db.execute("BEGIN")

    def close(self) -> None:
        self.closed = True
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

    def save_execution(self, ex: Execution) -> None:
        new = ex.events[ex.persisted :]
        if new:
            self.db.executemany(
                "INSERT OR REPLACE INTO events (run_id, event_id, body) VALUES (?, ?, ?)",
                [(ex.run_id, e["eventId"], json.dumps(e)) for e in new],
            )
        self.db.execute(
            "INSERT OR REPLACE INTO executions (run_id, domain, workflow_id, type_name,"
            " type_version, start_ts, close_ts, close_status, is_open, tags, seq, state)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                ex.run_id, ex.domain, ex.workflow_id, ex.workflow_type["name"],
                ex.workflow_type["version"], ex.start_ts, ex.close_ts, ex.close_status,
                1 if ex.is_open else 0, json.dumps(ex.tags), ex.seq, ex.to_json(),
            ),
        )

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
        return [json.loads(b) for (b,) in rows]

    def event_count(self, run_id: str) -> int:
        row = self.db.execute(
            "SELECT MAX(event_id) FROM events WHERE run_id=?", (run_id,)
        ).fetchone()
        return row[0] or 0

    def closed_executions(
        self, domain: str, where: Iterable[str], args: Iterable[Any], order_by: str,
        descending: bool, limit: int, offset: int,
    ) -> list[Execution]:
        sql = "SELECT state, seq FROM executions WHERE domain=? AND is_open=0"
        for clause in where:
            sql += f" AND {clause}"
        direction = "DESC" if descending else "ASC"
        sql += f" ORDER BY {order_by} {direction}, seq {direction} LIMIT ? OFFSET ?"
        out = []
        for state, seq in self.db.execute(sql, (domain, *args, limit, offset)):
            ex = Execution.from_json(state)
            ex.seq = seq  # the column is what keyset page tokens compare
            out.append(ex)
        return out

    def count_closed(self, domain: str, where: Iterable[str], args: Iterable[Any]) -> int:
        sql = "SELECT COUNT(*) FROM executions WHERE domain=? AND is_open=0"
        for clause in where:
            sql += f" AND {clause}"
        return self.db.execute(sql, (domain, *args)).fetchone()[0]

    def purge_closed(self, domain: str, closed_before: float) -> int:
        """Delete closed executions of ``domain`` that closed before ``closed_before``."""
        runs = [
            r for (r,) in self.db.execute(
                "SELECT run_id FROM executions WHERE domain=? AND is_open=0 AND close_ts <= ?",
                (domain, closed_before),
            )
        ]
        for run_id in runs:
            self.db.execute("DELETE FROM events WHERE run_id=?", (run_id,))
            self.db.execute("DELETE FROM executions WHERE run_id=?", (run_id,))
        return len(runs)
