"""A decider process's cache of the histories it has decided, so a decision costs the
events that are new rather than the whole history.

With the cache on, the decider polls with ``startAtPreviousStartedEvent=True``: SWF
then returns the events whose timestamp is at or after the previous
DecisionTaskStarted's (the last *completed* decision's, whichever process made it).
That is all the public API promises, so the events are joined strictly by
``eventId``: cached events 1..k and the polled ones make the history 1..N only when
every id in between is in one or the other (overlaps dropped); any gap is a miss,
and the rest comes from GetWorkflowExecutionHistory, exactly today's cost. Either
way the handler sees the same list of events.

SWF has no sticky task lists: with N decider processes on one list, a process
decides the next task of "its" run about 1/N of the time. Hence the pool key
``history_cache``, on by default only for single-process decider pools.

Entries are runs, least recently used first, bounded by an estimated size in bytes
(``history_cache_mb``); a run is dropped when its decision closes it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

# Estimated bytes of a parsed event (dicts, datetime, strings): measured with
# tracemalloc on botocore-parsed histories of the tutorial and the test plugins.
_DICT = 260
_STR = 50
_OTHER = 32
VIEW_BYTES = 120
"""What the decider's view of a run (swfd.decider.RunView: its event list and History)
adds per event, measured with tracemalloc on the bench's 10,000-event history. A view
that holds more (an async def workflow's kept instance) says so in ``bytes_per_event``,
counted over all the run's events at each put."""
_CLOSING_DECISIONS = frozenset({
    "CompleteWorkflowExecution", "FailWorkflowExecution", "CancelWorkflowExecution",
    "ContinueAsNewWorkflowExecution",
})

Event = dict[str, Any]


def estimate_bytes(value: Any) -> int:
    """About how much memory one parsed event (or any value in it) holds."""
    if isinstance(value, dict):
        return _DICT + sum(_STR + estimate_bytes(v) for v in value.values())
    if isinstance(value, str):
        return _STR + len(value)
    if isinstance(value, list):
        return 56 + sum(8 + estimate_bytes(v) for v in value)
    return _OTHER


def join(known: list[Event], polled: list[Event], end: int = 0) -> list[Event] | None:
    """Events 1..N from ``known`` (events from 1, oldest first: cached, or fetched with
    GetWorkflowExecutionHistory) and ``polled`` (what the poll returned, oldest first);
    N is the last polled ``eventId``, or ``end`` (the task's DecisionTaskStarted) when
    greater. None when an id is in neither (a gap). Where both have an event, the
    polled one is kept."""
    if not polled:
        return None
    first, last = polled[0]["eventId"], polled[-1]["eventId"]
    if last >= end and last - first == len(polled) - 1 and _ids_from_one(known, first - 1):
        if first == 1:
            return list(polled)
        return known[:first - 1] + polled
    end = max(end, last)
    by_id = {e["eventId"]: e for e in known if e["eventId"] <= end}
    by_id.update((e["eventId"], e) for e in polled)
    if len(by_id) != end or not all(i in by_id for i in range(1, end + 1)):
        return None
    return [by_id[i] for i in range(1, end + 1)]


def _ids_from_one(events: list[Event], count: int) -> bool:
    """True when ``events`` begins with ids 1..count in order (checked at the ends:
    a cached entry is contiguous by construction, a fetched one is checked whole)."""
    if count <= 0:
        return True
    return (len(events) >= count and events[0]["eventId"] == 1
            and events[count - 1]["eventId"] == count)


def contiguous_from_one(events: list[Event]) -> bool:
    return all(e["eventId"] == i for i, e in enumerate(events, 1))


def closes_the_run(decisions: Iterable[dict[str, Any]]) -> bool:
    """True when an accepted answer with these decisions closes the run."""
    return any(d.get("decisionType") in _CLOSING_DECISIONS for d in decisions)


class _Entry:
    __slots__ = ("event_size", "events", "size", "view")

    def __init__(self, events: list[Event], event_size: int, size: int, view: Any) -> None:
        self.events = events
        self.event_size = event_size  # the events' estimate, kept to add the new ones only
        self.size = size
        self.view = view


class HistoryCache:
    """Runs' events 1..k (contiguous), least recently used first, within ``budget`` bytes
    (estimated). ``hits`` and ``misses`` count the decisions of runs already begun."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._runs: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._runs)

    def __contains__(self, run: tuple[str, str]) -> bool:
        return run in self._runs

    def get(self, run: tuple[str, str]) -> list[Event]:
        """The cached events of ``run`` (empty when not cached); not to be changed."""
        entry = self._runs.get(run)
        if entry is None:
            return []
        self._runs.move_to_end(run)
        return entry.events

    def view(self, run: tuple[str, str]) -> Any:
        """What the decider derived from the run's cached events (swfd.decider.RunView),
        or None."""
        entry = self._runs.get(run)
        return None if entry is None else entry.view

    def put(self, run: tuple[str, str], events: list[Event], view: Any = None) -> None:
        """Remember ``events`` (ids 1..k, checked by the caller) for ``run``, with
        ``view``, what the decider derives from them; the least recently used runs go
        when the budget is exceeded (a run bigger than the whole budget is not kept)."""
        old = self._runs.pop(run, None)
        event_size = old.event_size if old is not None else 0
        if old is not None:
            self.size -= old.size
        known = len(old.events) if old is not None else 0
        if known > len(events):
            event_size, known = 0, 0
        event_size += sum(estimate_bytes(e) for e in events[known:])
        size = event_size
        if view is not None:
            size += getattr(view, "bytes_per_event", VIEW_BYTES) * len(events)
        if size > self.budget:
            return
        self._runs[run] = _Entry(list(events), event_size, size, view)
        self.size += size
        while self.size > self.budget:
            _, evicted = self._runs.popitem(last=False)
            self.size -= evicted.size

    def drop(self, run: tuple[str, str]) -> None:
        entry = self._runs.pop(run, None)
        if entry is not None:
            self.size -= entry.size
