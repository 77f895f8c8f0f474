"""Process titles, so ``ps``, ``top`` and ``systemctl status`` tell swfd's processes apart.

``swfd supervisor``, ``swfd generation 3``, ``swfd worker:images #2 idle``,
``swfd worker:images #2 Resize/1.0 12s``, ``swfd local 127.0.0.1:8799``. Task ids
appear only with ``proctitle_tasks = yes``: workflow ids may carry customer
identifiers and ``ps`` is world-readable.
"""

from __future__ import annotations

import contextlib

try:
    from setproctitle import setproctitle as _set
except ImportError:  # pragma: no cover - a dependency; titles are a nicety, never fatal
    _set = None

_last: str | None = None


def set_title(title: str) -> None:
    """Set this process's title (cheap when unchanged)."""
    global _last
    if title == _last or _set is None:
        return
    _last = title
    with contextlib.suppress(Exception):  # a title must never break a worker
        _set(title)
