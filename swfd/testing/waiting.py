"""Waiting on real processes in tests: ``wait_for`` a condition, a ``free_port``.

Everything here waits on conditions with deadlines; nothing sleeps a fixed
time to synchronise. Imported with ``swfd.testing`` by the pytest plugin in
every pytest run, so it imports nothing it can do without (``socket`` only
when a port is wanted).
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A condition did not hold before its deadline."""


def wait_for(
    condition: Callable[[], T],
    timeout: float = 30.0,
    interval: float = 0.05,
    message: str = "condition",
) -> T:
    """Poll ``condition`` until it returns a truthy value, or fail after ``timeout`` s.

    Returns the truthy value so callers can wait for and fetch in one step.
    The poll interval grows gently to at most 0.5 s to keep CPU low.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - the condition may not be ready to evaluate yet
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {message}{detail}")
        time.sleep(interval)
        interval = min(interval * 1.5, 0.5)


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that was free a moment ago."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
