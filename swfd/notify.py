"""systemd's sd_notify protocol, stdlib only.

With ``Type=notify`` systemd waits for ``READY=1`` before it calls the unit
started, shows the latest ``STATUS=`` line in ``systemctl status``, and learns
from ``STOPPING=1`` that a drain has begun. When ``NOTIFY_SOCKET`` is not set
(a terminal, supervisord, tests) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)


def _address(raw: str) -> str:
    """A socket path, or an abstract socket when it starts with '@'."""
    return "\0" + raw[1:] if raw.startswith("@") else raw


class Notifier:
    """Sends sd_notify datagrams to ``NOTIFY_SOCKET``; never raises.

    The variable is removed from the environment (as ``sd_notify(unset_environment=1)``
    does) so forked children and plugin code cannot talk to systemd on the
    master's behalf: the unit uses ``NotifyAccess=main``.
    """

    def __init__(self, address: str | None = None) -> None:
        if address is None:
            address = os.environ.pop("NOTIFY_SOCKET", None)
        self.address = address or None
        self._last_status: str | None = None
        self.watchdog_interval = _watchdog_interval()

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """Send ``KEY=value`` lines in one datagram; return whether it was sent."""
        if not self.address:
            return False
        payload = "\n".join(lines).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                # Never block the master: a reader that falls behind (its queue
                # holds ~10 datagrams) loses a STATUS line, the master goes on.
                sock.setblocking(False)
                sock.sendto(payload, _address(self.address))
        except BlockingIOError:
            log.debug("sd_notify to %s dropped (the reader's queue is full)", self.address)
            return False
        except OSError as exc:
            log.warning("sd_notify to %s failed: %s", self.address, exc)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        lines = ["READY=1", f"MAINPID={os.getpid()}"]
        if status is not None:
            lines.append(f"STATUS={status}")
            self._last_status = status
        return self.send(*lines)

    def status(self, text: str) -> bool:
        """Send ``STATUS=text`` unless it is the line sent last."""
        if text == self._last_status:
            return False
        sent = self.send(f"STATUS={text}")
        if sent:  # a dropped datagram is sent again with the next report
            self._last_status = text
        return sent

    def stopping(self, status: str | None = None) -> bool:
        lines = ["STOPPING=1"]
        if status is not None:
            lines.append(f"STATUS={status}")
            self._last_status = status
        return self.send(*lines)

    def reloading(self, status: str | None = None) -> bool:
        """A reload began (systemd's ``notify-reload`` protocol: READY=1 ends it)."""
        lines = ["RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"]
        if status is not None:
            lines.append(f"STATUS={status}")
            self._last_status = status
        return self.send(*lines)

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def extend_timeout(self, seconds: float) -> bool:
        """Ask systemd for ``seconds`` more before its start/stop timeout fires."""
        return self.send(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")


def _watchdog_interval() -> float | None:
    """Half of systemd's ``WatchdogSec`` when it watches this process, else None.

    The variables are removed so that no child mistakes itself for the watched one.
    """
    usec = os.environ.pop("WATCHDOG_USEC", None)
    pid = os.environ.pop("WATCHDOG_PID", None)
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(0.5, int(usec) / 2_000_000)
    except ValueError:
        return None
