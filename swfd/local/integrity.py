"""The database file before the endpoint trusts it: place, permissions, format, integrity.

Why at start, and why these checks: every payload of every workflow is in this
file, and a file that is damaged, truncated or someone else's must stop the
endpoint with the file named and what to do, not start an endpoint that
answers 500s (or, worse, one that writes its tables into another program's
database). The checks, in order:

* The directory is created 0700 when missing; the file is created 0600 (SQLite
  gives its ``-wal`` and ``-shm`` files the database's mode), and the lock
  file 0600, so payloads are not readable by other users. A read-only
  directory or file has its own message (SQLite needs to create the ``-wal``
  and ``-shm`` files beside the database).
* A zero-byte file is a new database (logged as such).
* The header: SQLite's 16-byte magic (else "not an SQLite database"), and the
  page count the header records against the file's size (else "truncated").
* ``PRAGMA quick_check`` (an O(N) pass over every page, without the index
  cross-checks of ``integrity_check``) on files up to ``QUICK_CHECK_MAX_BYTES``;
  bigger files get only the header check above and the schema check, and the
  log says how to run the full check. ``bench/fig_endpoint.py`` measures what
  quick_check costs.
* The schema (``store.py`` checks it): a database with tables that are not the
  endpoint's is foreign; one of the endpoint's that lacks a table or column is
  damaged.

``swfd local --check FILE`` runs SQLite's full ``integrity_check`` and exits 0
(ok) or 2 (with what SQLite found).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat

log = logging.getLogger(__name__)

SQLITE_MAGIC = b"SQLite format 3\x00"
# quick_check reads every page: about 30 ms for a 25 MB database of 10,000 closed
# executions with a warm page cache (~800 MB/s, bench/fig_endpoint.py), slower from
# disk. Up to 256 MB it costs well under a second at start; beyond, the header check
# (which catches a truncated or foreign file) and the schema check stand in for it.
QUICK_CHECK_MAX_BYTES = 256 << 20
REMEDY = ("restore it from a backup, or move it away to start with an empty database; "
          "'swfd local --check {path}' runs SQLite's full integrity_check")


class DatabaseFileError(RuntimeError):
    """The database file cannot be used; the message names it, says what is wrong and
    what to do."""


def damaged(path: str, what: str) -> DatabaseFileError:
    return DatabaseFileError(f"database {path}: {what}; {REMEDY.format(path=path)}")


def prepare(path: str) -> bool:
    """Make sure ``path`` can be opened read-write, creating its directory (0700) and the
    file (0600) when missing. Returns True when the file is new (created or empty)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise DatabaseFileError(
                f"database {path}: cannot create its directory {directory} "
                f"({exc.strerror or exc}); create it, or choose another --database"
            ) from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise DatabaseFileError(
            f"database {path}: the directory {directory} is read-only for this user "
            f"(uid {os.geteuid()}); SQLite creates the database's -wal and -shm files "
            "beside it: make the directory writable, or choose another --database"
        )
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _existing(path)
    except OSError as exc:
        raise DatabaseFileError(f"database {path}: cannot create it ({exc.strerror or exc})"
                                ) from None
    os.close(fd)
    log.info("local endpoint: created a new database %s (mode 0600)", path)
    return True


def _existing(path: str) -> bool:
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise DatabaseFileError(f"database {path}: not a regular file; choose a file path "
                                "for --database")
    if not os.access(path, os.R_OK | os.W_OK):
        raise DatabaseFileError(
            f"database {path}: the file is read-only (or unreadable) for this user "
            f"(uid {os.geteuid()}, file mode {stat.S_IMODE(info.st_mode):04o}); the "
            "endpoint writes every call through to it: make it writable, or choose "
            "another --database"
        )
    if info.st_size == 0:
        log.info("local endpoint: database %s is empty (0 bytes): starting a new "
                 "database in it", path)
        return True
    _check_header(path, info.st_size)
    return False


def warn_if_shared(path: str) -> None:
    """A database (already checked) that other users may read: say so, once, at start."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return
    if mode & 0o077:
        log.warning("local endpoint: database %s has mode %04o: other users can read every "
                    "payload in it; chmod 600 it (and its -wal and -shm files)", path, mode)


def _check_header(path: str, size: int) -> None:
    """The 100-byte header: magic, and the page count it records against the file size."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(100)
    except OSError as exc:
        raise DatabaseFileError(f"database {path}: cannot read it ({exc.strerror or exc})"
                                ) from None
    if not header.startswith(SQLITE_MAGIC):
        raise damaged(path, f"not an SQLite database (it starts with {header[:16]!r})")
    if len(header) < 100:
        raise damaged(path, f"truncated: {size} bytes, less than SQLite's 100-byte header")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    valid_for = int.from_bytes(header[92:96], "big")
    change_counter = int.from_bytes(header[24:28], "big")
    # The header's page count is only meaningful when it was written with the header
    # (the "version-valid-for" number equals the change counter; SQLite >= 3.7.0).
    if pages and valid_for == change_counter and size < pages * page_size:
        raise damaged(path, f"truncated: its header records {pages} pages of {page_size} "
                      f"bytes ({pages * page_size} bytes), the file has {size}")


def quick_check(db: sqlite3.Connection, path: str, size: int) -> None:
    """``PRAGMA quick_check`` on files up to QUICK_CHECK_MAX_BYTES (see the module doc)."""
    if size > QUICK_CHECK_MAX_BYTES:
        log.info("local endpoint: database %s is %d MB: quick_check skipped at start "
                 "(header and schema checked); 'swfd local --check %s' checks it all",
                 path, size >> 20, path)
        return
    rows = [row[0] for row in db.execute("PRAGMA quick_check(5)")]
    if rows != ["ok"]:
        found = " ".join("; ".join(rows).split())  # one line: SQLite's rows hold newlines
        raise damaged(path, f"SQLite's quick_check found damage: {found[:500]}")


def full_check(path: str) -> tuple[bool, str]:
    """``swfd local --check FILE``: (ok, what to print). Opens the file read-only."""
    if not os.path.isfile(path):
        return False, f"database {path}: no such file"
    try:
        size = os.path.getsize(path)
        if size:
            _check_header(path, size)
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = [row[0] for row in db.execute("PRAGMA integrity_check(100)")]
        finally:
            db.close()
    except DatabaseFileError as exc:
        return False, str(exc)
    except sqlite3.Error as exc:
        return False, str(damaged(path, f"SQLite cannot read it ({exc})"))
    if rows == ["ok"]:
        return True, f"database {path}: integrity_check ok ({size} bytes)"
    return False, str(damaged(path, "integrity_check found:\n" + "\n".join(rows)[:20000]))
