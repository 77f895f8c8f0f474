"""Error logging that cannot flood: one line per distinct error per minute.

Why: a damaged database page, a full disk or a bug on a hot path fails every
call (or every timer) the same way; logging each would bury everything else
(a corrupt index once made the retention timer log 11,600 lines a second).
The first occurrence is logged with its traceback; repeats within the window
are counted and reported with the next line for that error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

WINDOW_SECONDS = 60.0
MAX_KEYS = 256


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, window: float = WINDOW_SECONDS) -> None:
        self._log = logger
        self._window = window
        self._lock = threading.Lock()
        self._seen: OrderedDict[tuple, list] = OrderedDict()  # key -> [last logged, repeats]

    def error(self, where: str, exc: BaseException, message: str) -> bool:
        """Log ``message`` (which names ``where``) with ``exc``, unless this error (same place,
        type and text) was logged less than a window ago. True when a line was written."""
        key = (where, type(exc).__name__, str(exc)[:200])
        current = time.monotonic()
        with self._lock:
            entry = self._seen.get(key)
            if entry is not None and current - entry[0] < self._window:
                entry[1] += 1
                return False
            repeats = entry[1] if entry is not None else 0
            self._seen[key] = [current, 0]
            self._seen.move_to_end(key)
            while len(self._seen) > MAX_KEYS:
                self._seen.popitem(last=False)
        suffix = f" ({repeats} more times since the last report)" if repeats else ""
        self._log.error("%s%s", message, suffix, exc_info=(type(exc), exc, exc.__traceback__))
        return True
