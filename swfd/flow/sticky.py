"""Keeping an ``async def`` workflow suspended between the decision tasks of its run.

A full replay runs the coroutine from the start at every decision task: a
decision costs O(history), a run O(history²). With the pool's history cache
on, the decider keeps each run's :class:`swfd.decider.RunView` between tasks;
the workflow's suspended :class:`~swfd.flow.replay.Replay` (coroutine, loop,
context, matcher state) is kept there too, and the run's next task in this
process feeds it only the events that are new (:meth:`Replay.resume`).

It falls back to a full replay whenever the history does not continue exactly
what the instance consumed and decided: the run not in the cache (a miss, an
eviction, another process decided meanwhile), a gap, the answer lost (the task
timed out) or refused (a decider-error marker), or the instance raised (it is
dropped before the error goes on). The bound is the history cache's: an
instance lives and is evicted with its run's entry (least recently used first,
within ``history_cache_mb``) and goes when the run closes. What it holds grows
with the run (a future per activity, timer, child): :attr:`Kept.bytes_per_event`
is counted in the entry's size from the run's next task on (the entry is sized
when the task's events arrive, before the instance is made or dropped).

Workflow code must stay deterministic all the same: any decision task can be a
full replay, and both ways give the same decisions (tests/test_flow_sticky*).
"""

from __future__ import annotations

import logging
from typing import Any

from swfd.decisions import Decisions
from swfd.flow.replay import Replay

log = logging.getLogger(__name__)


class Kept:
    """A run's suspended replay, with what it must match to be resumed."""

    __slots__ = ("adapter", "execution", "replay")
    bytes_per_event = 200
    """What a kept instance holds per event of its run, for the history cache's budget:
    180-210 bytes measured with tracemalloc on bench/fig_decider.py's serial workflow at
    1,000 and 10,000 events (a future and a finished task per activity, the event id to
    activity id map), against about 1,300 for the cached events themselves."""

    def __init__(self, adapter: Any, execution: tuple[str, str], replay: Replay) -> None:
        self.adapter = adapter
        self.execution = execution
        self.replay = replay

    def __del__(self) -> None:
        """Dropped (the cache evicted the run, a miss replaced its view, a fallback):
        close the coroutines now, where the drop happens, rather than whenever the
        cyclic garbage collector gets to them, maybe in the middle of another
        workflow's decision."""
        if self.replay is not None:
            self.replay.finish()


def decide(adapter: Any, task: Any, view: Any, codec: str) -> Decisions:
    """The decisions for ``task``: the run's kept instance resumed with the new events,
    or a full replay (then kept in ``view`` if it can be resumed later)."""
    execution = (task.workflow_execution.get("workflowId", ""),
                 task.workflow_execution.get("runId", ""))
    kept, view.flow = view.flow, None  # put back only after a clean decision
    if kept is not None:
        decisions = None
        if kept.adapter is adapter and kept.execution == execution:
            decisions = kept.replay.resume(task.raw_events)
        else:
            kept.replay.finish()
        if decisions is not None:
            adapter.counts["continued"] += 1
            log.debug("workflow %s: continued its kept instance", adapter.__qualname__)
            if kept.replay.resumable():
                view.flow = kept
            return decisions
        adapter.counts["fell_back"] += 1
        log.debug("the kept instance of workflow %s does not continue this history: "
                  "replaying it from the start", adapter.__qualname__)
    replay = Replay(adapter.func, task.raw_events, task.workflow_execution, codec,
                    adapter.continue_as_new_after, input=task.input)
    decisions = replay.run(keep=True)
    adapter.counts["replayed"] += 1
    log.debug("workflow %s: replayed from the start", adapter.__qualname__)
    if replay.resumable():
        view.flow = Kept(adapter, execution, replay)
    return decisions
