"""Exit codes and the few Linux process calls that every swfd process shares.

One home, so the supervisor, a generation, its children and the CLI agree on
what a number means.
"""

from __future__ import annotations

import ctypes
import os
import signal

EXIT_OK = 0
EXIT_ERROR = 1
#: A configuration or plugin error: restarting cannot fix it (systemd's unit has
#: ``RestartPreventExitStatus=2``; supervisord's ``exitcodes`` lists it).
EXIT_USAGE = 2
#: A child's planned exit (max_tasks_per_child, max_memory_per_child, a handler
#: past its start-to-close timeout): its slot is refilled at once, no failure counted.
EXIT_RECYCLE = 3
#: The CLI's answer when no daemon answers on the control socket (``reload``).
EXIT_NO_DAEMON = 3

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15


def _prctl(option: int, arg: int | bytes) -> bool:
    # CDLL(None): the symbols already loaded, libc's among them; ctypes.util's
    # find_library would run ldconfig in every process that calls this.
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(option, arg, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def set_parent_death_signal(sig: int = signal.SIGTERM) -> bool:
    """Ask Linux to send ``sig`` when the parent *thread* exits; False where unsupported.

    Only a second line of defence: the lifeline (swfd.lifeline) is what every
    swfd child relies on, since this fires for the direct parent only.
    """
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
