"""Forking a pool child from a generation."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterable
from typing import Callable

from swfd.process import EXIT_ERROR, set_process_name
from swfd.sigloop import fork_with_signals_blocked, reset_signals

log = logging.getLogger("swfd.arbiter")


def fork_child(target: Callable[[], int], name: str, parent_signals: Iterable[int],
               close_fds: Iterable[int] = ()) -> int:
    """Fork; in the child, undo the parent's signal set-up and run ``target``.

    Signals are blocked across the fork so one sent at that instant is not run
    by the parent's handler inside the child: it stays pending and reaches the
    child under the default disposition (or the child's own handlers).
    ``close_fds`` are the parent's own descriptors (its wakeup pipe, the write
    end of the children's lifeline), which no child may keep. The child never
    returns from here: it leaves with ``os._exit(target())``.
    """
    parent_signals = tuple(parent_signals)
    extra = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    if extra:
        log.warning("forking %s while threads run: %s", name, ", ".join(extra))
    pid, mask = fork_with_signals_blocked(parent_signals)
    if pid:
        return pid
    code = EXIT_ERROR
    try:
        for fd in close_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        reset_signals(parent_signals, mask)
        set_process_name(name)
        code = int(target() or 0)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else EXIT_ERROR
    except BaseException:
        log.exception("%s (pid %d) failed", name, os.getpid())
        code = EXIT_ERROR
    finally:
        try:
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
