"""The master's pidfile: refuse to start twice, remove it on the way out."""

from __future__ import annotations

import errno
import os


class PidfileError(Exception):
    """The pidfile is held by a live swfd, or cannot be written."""


def _read_pid(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as fh:
            return int(fh.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


def _is_live_swfd(pid: int) -> bool:
    """Whether ``pid`` runs, and (where /proc says) runs swfd: a pid reused after a
    reboot by some other program must not keep the daemon from starting."""
    try:
        os.kill(pid, 0)
    except OSError as exc:
        if exc.errno != errno.EPERM:
            return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmdline = fh.read()
    except OSError:
        return True  # no /proc: trust the signal check
    return not cmdline or b"swfd" in cmdline  # empty: a process mid-exec, or a kernel thread


class Pidfile:
    """``create()`` writes our pid exclusively; ``remove()`` deletes it if still ours."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.pid: int | None = None

    def create(self, pid: int | None = None) -> None:
        pid = os.getpid() if pid is None else pid
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise PidfileError(f"pidfile {self.path}: cannot create {directory}: {exc}") from exc
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                other = _read_pid(self.path)
                if other and other != pid and _is_live_swfd(other):
                    raise PidfileError(
                        f"pidfile {self.path} is held by a running swfd (pid {other}); "
                        "stop it first or use another pidfile"
                    ) from None
                try:
                    os.unlink(self.path)  # stale
                except FileNotFoundError:
                    pass
                continue
            except OSError as exc:
                raise PidfileError(f"pidfile {self.path}: cannot write: {exc}") from exc
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(f"{pid}\n")
            self.pid = pid
            return
        raise PidfileError(f"pidfile {self.path}: another process keeps recreating it")

    def remove(self) -> None:
        """Delete the file only if it still holds our pid (a successor may own it)."""
        if self.pid is None:
            return
        if _read_pid(self.path) == self.pid:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        self.pid = None
