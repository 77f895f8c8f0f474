"""Forking a child from the master, and describing how it ended."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
from typing import Callable

log = logging.getLogger("swfd.master")

PR_SET_NAME = 15
PR_SET_PDEATHSIG = 1
EXIT_RECYCLE = 3


def _prctl(option: int, arg: int | bytes) -> bool:
    # CDLL(None): the symbols already loaded (libc's among them); find_library
    # would run ldconfig in every new child.
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(option, arg, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def set_parent_death_signal(sig: int = signal.SIGTERM) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent dies."""
    return _prctl(PR_SET_PDEATHSIG, int(sig))


def set_process_name(name: str) -> bool:
    """Name the process for ps/top/systemctl status (``comm``, 15 bytes at most)."""
    return _prctl(PR_SET_NAME, name.encode("utf-8", "replace")[:15])


def describe_status(status: int) -> str:
    """``exit code N`` or ``killed by SIGKILL`` from a waitpid status."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"killed by {name}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


def fork_child(
    target: Callable[[], int],
    name: str,
    master_signals: tuple[int, ...],
    close_fds: tuple[int, ...] = (),
) -> int:
    """Fork; in the child, undo the master's signal set-up and run ``target``.

    Signals are blocked across the fork so one sent at that instant is not run
    by the master's handler inside the child: it stays pending and reaches
    the child under the default disposition (or the child's own handlers).
    The child never returns from here: it leaves with ``os._exit(target())``.
    """
    extra = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    if extra:
        log.warning("forking %s while the master runs threads: %s", name, ", ".join(extra))
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, set(master_signals))
    try:
        pid = os.fork()
    except OSError:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        raise
    if pid:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return pid
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for sig in master_signals:
            signal.signal(sig, signal.SIG_DFL)
        for fd in close_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        set_process_name(name)
        code = int(target() or 0)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        log.exception("%s (pid %d) failed", name, os.getpid())
        code = 1
    finally:
        try:
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
