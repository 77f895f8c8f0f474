"""Lifelines: how a process learns that its parent died, however it died.

A lifeline is a pipe whose write end only the parent holds. The child keeps
the read end; when the parent exits (kill -9 included) the kernel closes the
write end and the child reads end of file. Unlike ``PR_SET_PDEATHSIG`` it sees
the death of the parent *process* (not of the thread that forked), survives
``exec`` (the fd number goes on the command line), and costs nothing while
the parent lives: the reader blocks, it never polls.

Every level of swfd uses one: supervisor -> embedded endpoint, supervisor ->
generation, generation -> pool children.
"""

from __future__ import annotations

import os
import threading
from typing import Callable


class Lifeline:
    """The parent's side: ``read_fd`` goes to the children, ``write_fd`` stays here.

    Both ends are close-on-exec (``os.pipe``), so an exec'd process keeps only
    the end it is handed explicitly (:func:`pass_to_exec`).
    """

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()

    def parent_side(self) -> None:
        """In the parent once the child (exec'd) holds the read end: keep only the writer."""
        if self.read_fd >= 0:
            os.close(self.read_fd)
            self.read_fd = -1

    def close(self) -> None:
        """Cut the line: every child holding the read end sees end of file."""
        for fd in (self.read_fd, self.write_fd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.read_fd = self.write_fd = -1


def pass_to_exec(fd: int) -> int:
    """In a forked child about to exec: keep ``fd`` open across the exec."""
    os.set_inheritable(fd, True)
    return fd


def is_cut(fd: int) -> bool:
    """Read what is there (nothing is ever written); True at end of file.

    For a select() loop that found ``fd`` readable.
    """
    try:
        return not os.read(fd, 64)
    except BlockingIOError:
        return False
    except OSError:
        return True


def watch(fd: int, on_cut: Callable[[], None], name: str = "swfd-lifeline") -> threading.Thread:
    """Call ``on_cut()`` from a daemon thread once ``fd`` reads end of file.

    The thread blocks in read(2) for the parent's whole life: no wake-ups.
    ``on_cut`` must be cheap and thread-safe (setting a flag).
    """

    def wait() -> None:
        while True:
            try:
                if not os.read(fd, 64):
                    break
            except InterruptedError:
                continue
            except OSError:
                break
        on_cut()

    thread = threading.Thread(target=wait, name=name, daemon=True)
    thread.start()
    return thread
