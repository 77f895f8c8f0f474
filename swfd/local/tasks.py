"""Task lists: priority queues of scheduled tasks with long-poll wake-ups.

Why this shape: the engine has one lock and every queue's condition variable
shares it, so taking a task off a queue and marking it started happen under
the same lock: a task goes to at most one poller. A waiting poll sleeps on its
own task list's condition and is woken by ``notify`` the moment a task is
pushed (no polling loop, so delivery latency is a thread wake-up). Decision and
activity task lists are separate namespaces (the ``kind`` in the key). Entries
are removed lazily: a popped entry whose task was canceled, timed out or whose
execution closed is simply skipped (the engine's ``valid`` check).
"""

from __future__ import annotations

import heapq
import itertools
import threading
from typing import Callable

Entry = tuple[int, int, str, int]  # (-priority, seq, run_id, scheduled_event_id)


class TaskList:
    def __init__(self, lock: threading.RLock) -> None:
        self.heap: list[Entry] = []
        self.cond = threading.Condition(lock)


class TaskQueues:
    """Every task list of every domain, for decision ("D") and activity ("A") tasks."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._lists: dict[tuple[str, str, str], TaskList] = {}
        self._seq = itertools.count()

    def get(self, kind: str, domain: str, name: str) -> TaskList:
        key = (kind, domain, name)
        tl = self._lists.get(key)
        if tl is None:
            tl = self._lists[key] = TaskList(self._lock)
        return tl

    def push(self, kind: str, domain: str, name: str, prio: int, run_id: str, sched: int) -> None:
        """Queue a task (higher priority first, then FIFO) and wake one waiting poller."""
        tl = self.get(kind, domain, name)
        heapq.heappush(tl.heap, (-prio, next(self._seq), run_id, sched))
        tl.cond.notify()

    def pop(self, tl: TaskList, valid: Callable[[str, int], bool]) -> Entry | None:
        """The first valid entry, taken off the queue (stale ones are dropped on the way)."""
        while tl.heap:
            entry = heapq.heappop(tl.heap)
            if valid(entry[2], entry[3]):
                return entry
        return None

    def restore(self, tl: TaskList, entry: Entry) -> None:
        """Put back an entry ``pop`` returned (a withdrawn poll did not take it): its
        priority and sequence number keep its place; another waiting poller is woken."""
        heapq.heappush(tl.heap, entry)
        tl.cond.notify()

    def count(self, kind: str, domain: str, name: str, valid: Callable[[str, int], bool]) -> int:
        tl = self._lists.get((kind, domain, name))
        if tl is None:
            return 0
        live = [e for e in tl.heap if valid(e[2], e[3])]
        if len(live) != len(tl.heap):
            heapq.heapify(live)
            tl.heap[:] = live
        return len(live)

    def clear(self) -> None:
        for tl in self._lists.values():
            tl.heap.clear()

    def wake_all(self) -> None:
        for tl in self._lists.values():
            tl.cond.notify_all()
