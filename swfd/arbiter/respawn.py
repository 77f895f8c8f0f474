"""Respawn accounting: exponential backoff with jitter, and the crash-loop cap.

One ``Health`` per group of identical children (a pool, the endpoint, the
registrar). A crash pushes the group's next spawn out; a child that ran
``stable_after`` seconds before dying clears the history first; a recycle
(exit code 3) is not a crash. ``limit`` crashes in a row within ``window``
seconds mark the group failed: it is not respawned again.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Timing:
    """The master's time constants; tests shrink them."""

    backoff_initial: float = 0.5
    backoff_max: float = 60.0
    stable_after: float = 30.0
    crash_loop_limit: int = 10
    crash_loop_window: float = 600.0
    kill_grace: float = 5.0
    endpoint_ready_timeout: float = 30.0
    endpoint_stop_timeout: float = 10.0
    registrar_attempts: int = 6


@dataclass
class Health:
    backoff_initial: float
    backoff_max: float
    stable_after: float
    limit: int
    window: float
    crashes: deque = field(default_factory=deque)
    next_spawn_at: float = 0.0
    failed_reason: str | None = None
    last_exit: str | None = None

    @classmethod
    def from_timing(cls, timing: Timing, limit: int | None = None) -> Health:
        return cls(
            backoff_initial=timing.backoff_initial,
            backoff_max=timing.backoff_max,
            stable_after=timing.stable_after,
            limit=timing.crash_loop_limit if limit is None else limit,
            window=timing.crash_loop_window,
        )

    @property
    def failed(self) -> bool:
        return self.failed_reason is not None

    def delay(self, crashes: int) -> float:
        """Backoff after the ``crashes``-th crash in a row, with +-25 % jitter."""
        base = min(self.backoff_max, self.backoff_initial * 2 ** max(0, crashes - 1))
        return base * random.uniform(0.75, 1.25)

    def record_exit(self, now: float, ran_for: float, exit_text: str, recycle: bool) -> float:
        """Account for one child's exit; return the delay before its replacement."""
        self.last_exit = exit_text
        if recycle:
            return 0.0
        if ran_for >= self.stable_after:
            self.crashes.clear()
        self.crashes.append(now)
        while self.crashes and now - self.crashes[0] > self.window:
            self.crashes.popleft()
        if len(self.crashes) >= self.limit:
            self.failed_reason = (
                f"crash loop: {len(self.crashes)} crashes in a row within "
                f"{now - self.crashes[0]:.0f}s, last {exit_text}"
            )
            return 0.0
        delay = self.delay(len(self.crashes))
        self.next_spawn_at = max(self.next_spawn_at, now + delay)
        return delay

    def due(self, now: float) -> bool:
        return not self.failed and now >= self.next_spawn_at
