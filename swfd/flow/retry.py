"""Retry policies for activities: data on the call or on the activity's definition.

A failed (or timed-out) attempt is scheduled again after a durable SWF timer,
so a backoff survives decider restarts and shows in ``swfd history`` (timer id
``backoff-<activity id>#<attempt>``, the attempt's activity id ending in
``#<attempt>``, its ``control`` saying "attempt N of M").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from swfd.errors import DefinitionError


@dataclass(frozen=True)
class Retry:
    """How often and how patiently to try an activity.

    ``max_attempts`` counts the first try (1 = no retry; ``None`` = until
    ``schedule_to_close`` runs out). Attempt ``n`` (n >= 2) waits
    ``min(max_delay, initial_delay * backoff ** (n - 2))`` seconds first.
    ``non_retryable`` names exception types (classes or class names) whose
    failure is final; a handler raising ``swfd.NonRetryable`` always is.
    ``schedule_to_close`` caps the whole sequence, in seconds from the first
    schedule: no attempt is started that could not begin before it.
    """

    max_attempts: int | None = 3
    backoff: float = 2.0
    initial_delay: float = 1.0
    max_delay: float = 300.0
    non_retryable: tuple[Any, ...] = ()
    schedule_to_close: float | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.max_attempts is not None and (
                not isinstance(self.max_attempts, int) or self.max_attempts < 1):
            problems.append(f"max_attempts {self.max_attempts!r} must be an int >= 1 or None")
        if self.max_attempts is None and self.schedule_to_close is None:
            problems.append("max_attempts=None needs a schedule_to_close to end the retries")
        for name in ("backoff", "initial_delay", "max_delay"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0 or math.isnan(value):
                problems.append(f"{name} {value!r} must be a number >= 0")
        if not isinstance(self.non_retryable, tuple):
            object.__setattr__(self, "non_retryable", tuple(self.non_retryable))
        if problems:
            raise DefinitionError("swfd.Retry: " + "; ".join(problems))

    def delay_before(self, attempt: int) -> int:
        """Whole seconds to wait before attempt ``attempt`` (0 for the first)."""
        if attempt <= 1:
            return 0
        delay = min(self.max_delay, self.initial_delay * self.backoff ** (attempt - 2))
        return math.ceil(delay)

    def gives_up_on(self, error_type: str | None) -> bool:
        """True when a failure raised as ``error_type`` is listed as non-retryable."""
        names = {t if isinstance(t, str) else t.__name__ for t in self.non_retryable}
        return error_type is not None and error_type in names

    def attempts_left(self, attempt: int) -> bool:
        return self.max_attempts is None or attempt < self.max_attempts


NO_RETRY = Retry(max_attempts=1)
