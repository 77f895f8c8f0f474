"""What a generation tells its supervisor: one JSON object a line, on a pipe.

Events: ``booted`` (config and plugins loaded), ``settled`` (every slot has
either polled or failed to boot: the first start can report READY=1),
``ready`` (every child has polled: a reload may retire the old generation),
``status`` (the text for systemd's STATUS= and the degraded pools),
``alive`` (the watchdog's heartbeat), ``draining``, ``failed`` and
``give_up`` (with a ``reason``). Each line is far below PIPE_BUF, so a write
is atomic; a supervisor that is gone makes writes fail quietly (its lifeline
tells the generation separately).
"""

from __future__ import annotations

import json
import os
from typing import Any


class Reporter:
    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    def fds(self) -> list[int]:
        return [] if self.fd is None else [self.fd]

    def send(self, event: str, **fields: Any) -> None:
        if self.fd is None:
            return
        fields = {k: v[:1500] if isinstance(v, str) else v for k, v in fields.items()}
        line = json.dumps({"event": event, **fields}, ensure_ascii=True) + "\n"
        try:
            os.write(self.fd, line.encode("ascii"))
        except OSError:
            self.fd = None


def parse_reports(buffer: bytes) -> tuple[list[dict[str, Any]], bytes]:
    """Split what was read into whole reports and the unfinished rest."""
    *lines, rest = buffer.split(b"\n")
    reports = []
    for line in lines:
        try:
            report = json.loads(line)
        except ValueError:
            continue
        if isinstance(report, dict) and isinstance(report.get("event"), str):
            reports.append(report)
    return reports, rest
