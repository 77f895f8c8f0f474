"""Respawn policy, per slot: a ready child is replaced at once, a boot failure backs off.

A pool of ``processes = N`` has N slots. What happens when a slot's child
exits depends only on that slot's own history, so one crash never delays
another slot (a shared backoff turned an OOM-killer loop into an outage):

- A child that became *ready* (reported its first poll) and then lived past
  ``min_uptime`` died in service: its slot is refilled at once, however it
  died and however often. Crashes of healthy processes are the OOM killer,
  an operator, a plugin's bug on one input: refusing to respawn would turn
  them into an outage.
- A child that died before it was ready, or within ``min_uptime`` of it, is a
  *boot failure*: the slot backs off exponentially (``boot_backoff_first``
  doubling to ``boot_backoff_max``). The pool is *degraded* while any of its
  slots is backing off. It keeps retrying; only ``give_up_after`` (per pool,
  off by default) ends it, by stopping the whole daemon with exit 1.
- A planned exit (EXIT_RECYCLE) refills the slot at once and counts nothing.

The delay computed here is the delay kept: the arbiter logs and uses the
same number.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Timing:
    """A generation's time constants; tests shrink them."""

    min_uptime: float = 10.0
    boot_backoff_first: float = 0.5
    boot_backoff_max: float = 60.0
    kill_grace: float = 5.0
    registrar_attempts: int = 6


@dataclass
class Slot:
    """One place in a pool: at most one process at a time, and that place's history."""

    pool: str
    index: int
    pid: int | None = None
    started_at: float = 0.0
    ready_at: float | None = None
    boot_failures: int = 0
    next_spawn_at: float = 0.0
    last_exit: str | None = None
    retiring: bool = False  # TTOU: its process drains and the slot goes with it
    board_index: int | None = None  # its record on the scoreboard (swfd.scoreboard)
    signals_sent: set[int] = field(default_factory=set)

    @property
    def name(self) -> str:
        return f"{self.pool}#{self.index}"

    @property
    def backing_off(self) -> bool:
        return self.pid is None and self.boot_failures > 0

    def started(self, pid: int, now: float) -> None:
        self.pid, self.started_at, self.ready_at = pid, now, None
        self.signals_sent = set()

    def ready(self, now: float) -> None:
        if self.ready_at is None:
            self.ready_at = now

    def exited(self, now: float, exit_text: str, recycle: bool, timing: Timing) -> float:
        """Account for the exit of this slot's process; return the delay before the next."""
        served = self.ready_at is not None and now - self.ready_at >= timing.min_uptime
        self.pid = None
        self.last_exit = exit_text
        if recycle or served:
            self.boot_failures = 0
            self.next_spawn_at = now
            return 0.0
        self.boot_failures += 1
        delay = boot_backoff(self.boot_failures, timing)
        self.next_spawn_at = now + delay
        return delay


def boot_backoff(failures: int, timing: Timing) -> float:
    """Seconds before the next try after ``failures`` boot failures in a row."""
    return min(timing.boot_backoff_max, timing.boot_backoff_first * 2 ** max(0, failures - 1))
