"""The supervisor's pidfile: refuse to start twice, remove it on the way out.

A pid in a file proves nothing (pids are reused, and no command line tells a
running swfd from any Python program launched out of a directory called
``swfd``), so the file is also *locked*: the supervisor holds a POSIX record
lock (``lockf``) on it for its whole life. A lock is released by the kernel
when its holder dies, however it dies, and is never inherited by a forked
or exec'd child, so "locked" means exactly "a live supervisor owns this
file". An unlocked file is stale, whatever pid it names.
"""

from __future__ import annotations

import fcntl
import os


class PidfileError(Exception):
    """The pidfile is held by a live swfd, or cannot be written."""


def _read_pid(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as fh:
            return int(fh.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


def holder(path: str) -> int | None:
    """The pid of the live supervisor that holds ``path``, or None when it is stale."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        # F_GETLK via lockf is not exposed; a shared-lock probe on a read-only fd
        # conflicts with the holder's exclusive lock and takes nothing otherwise.
        fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return _read_pid(path) or -1
    else:
        return None
    finally:
        os.close(fd)  # also drops the probe's lock, if it got one


class Pidfile:
    """``create()`` locks and writes our pid; ``remove()`` deletes it if still ours."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.pid: int | None = None
        self._fd: int | None = None

    def create(self, pid: int | None = None) -> None:
        pid = os.getpid() if pid is None else pid
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(directory, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise PidfileError(f"pidfile {self.path}: cannot write: {exc}") from exc
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            other = _read_pid(self.path)
            raise PidfileError(
                f"pidfile {self.path} is held by a running swfd (pid {other or 'unknown'}); "
                "stop it first or use another pidfile"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{pid}\n".encode("ascii"))
        self._fd = fd
        self.pid = pid

    def remove(self) -> None:
        """Delete the file only if it still holds our pid (a successor may own it)."""
        if self.pid is None:
            return
        if _read_pid(self.path) == self.pid:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.pid = None
