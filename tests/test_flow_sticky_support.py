"""Helpers for tests/test_flow_sticky.py: swfd's real deciders (history cache on, so
``async def`` workflows keep their instance between tasks) checked, at every decision
task, against a full replay of the same history.

:class:`Checked` wraps a workflow's :class:`~swfd.flow.adapter.FlowWorkflow`: each
decision task is decided both ways (the decider's path, which continues the kept
instance when it can, and a fresh replay from the start) and any difference, in
decisions or in the error raised, is noted. :class:`StickyDriver` steps the real
pollers against an in-process endpoint on a :class:`~swfd.testing.ManualClock`;
besides deciding, it can lose a decision task's answer (decide, never respond: the
task times out) or have it refused (swfd's decider-error marker), and then checks
that the run's next decision did not continue an instance that was ahead of the
history. Named test_flow_sticky_* so it sits with its tests; it defines none.
"""

from __future__ import annotations

import dataclasses
import random
import traceback
from typing import Any

from test_flow_support import CLOSED, Driver

from swfd.decider import DecisionsRefused, DecisionTask
from swfd.flow.adapter import FlowWorkflow
from swfd.history_cache import HistoryCache


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return "decided", call()
    except Exception as exc:  # noqa: BLE001 - compared, then raised again by the caller
        return "raised", exc


def _same(fresh: tuple[str, Any], kept: tuple[str, Any]) -> bool:
    if fresh[0] != kept[0]:
        return False
    if fresh[0] == "decided":
        return fresh[1].data == kept[1].data
    return (type(fresh[1]), str(fresh[1])) == (type(kept[1]), str(kept[1]))


class Checked:
    """A workflow's decision logic that decides each task both ways and compares."""

    def __init__(self, adapter: FlowWorkflow, notes: dict[str, Any]) -> None:
        self.adapter = adapter
        self.notes = notes

    def __call__(self, task: Any) -> Any:
        adapter = self.adapter
        codec = task.definition.codec
        fresh = _outcome(lambda: adapter.replay(task.raw_events, task.workflow_execution,
                                                codec, task.input))
        before = dict(adapter.counts)
        kept = _outcome(lambda: adapter(task))
        way = next((k for k, v in adapter.counts.items() if v != before[k]), "raised")
        run = task.workflow_execution["runId"]
        self.notes["ways"].append(way)
        if not _same(fresh, kept):
            self.notes["mismatches"].append((run, task.started_event_id, way, fresh, kept))
        if self.notes["ahead"].pop(run, False) and way == "continued":
            self.notes["continued_ahead"].append((run, task.started_event_id))
        if kept[0] == "raised":
            raise kept[1]
        return kept[1]


class StickyDriver(Driver):
    """:class:`Driver` with the deciders' history cache on, every ``async def``
    workflow :class:`Checked`, time moved by hand, and lost or refused answers."""

    def __init__(self, tmp_path: Any, endpoint: Any, domain: str, defs: list[Any],
                 rng: random.Random, lose: float = 0.15) -> None:
        super().__init__(tmp_path, endpoint.url, endpoint.client, domain, defs, rng=rng)
        self.endpoint = endpoint
        self.lose = lose
        self.notes: dict[str, Any] = {"ways": [], "mismatches": [], "ahead": {},
                                      "continued_ahead": [], "lost": 0, "refused": 0}
        for decider in self.deciders.values():  # as DecisionPoller sets it up with the cache on
            decider.pool = dataclasses.replace(decider.pool, history_cache=True)
            decider.cache = HistoryCache(decider.pool.history_cache_mb * 2 ** 20)
        for key, definition in list(self.registry.workflows.items()):
            if isinstance(definition.func, FlowWorkflow):
                self.registry.workflows[key] = dataclasses.replace(
                    definition, func=Checked(definition.func, self.notes))

    def act(self, action: tuple[str, Any]) -> None:
        # A millisecond between actions: events stamped apart, as in SWF, so a poll with
        # startAtPreviousStartedEvent returns the events from the previous decision on
        # (with one timestamp for all, it returns the whole history, and the decider
        # takes the run as new: no kept instance).
        self.endpoint.clock.advance(0.001)
        kind, which = action
        if kind == "decide" and self.rng.random() < self.lose:
            self.decide_without_answer(which, refused=self.rng.random() < 0.5)
        else:
            super().act(action)

    def decide_without_answer(self, task_list: str, refused: bool) -> None:
        """Decide a task (the kept instance moves on) but lose the answer (the task
        times out) or have SWF refuse it (a decider-error marker and a retry timer)."""
        decider = self.deciders[task_list]
        polled = decider.poll()
        if polled is None:
            return
        response, events = polled
        kind, execution = response["workflowType"], response["workflowExecution"]
        definition = self.registry.workflow(kind["name"], kind["version"])
        view = decider.cache.view((execution["workflowId"], execution["runId"]))
        task = DecisionTask(response, events, definition, view)
        try:
            decider.decide(task, definition)
        except Exception as exc:  # noqa: BLE001 - recorded, as DecisionPoller.handle does
            decider.answer_error(task, exc, traceback.format_exc())
            return
        if view is not None and view.flow is not None:
            self.notes["ahead"][execution["runId"]] = True
        if refused:
            self.notes["refused"] += 1
            decider.answer_error(task, DecisionsRefused("refused by the test"), "refused")
        else:
            self.notes["lost"] += 1

    def skip_time(self) -> bool:
        """Move the clock to the next timer or timeout and fire it; False if none."""
        deadline = self.endpoint.next_deadline()
        if deadline is None:
            return False
        self.endpoint.clock.advance_to(deadline)
        self.endpoint.fire_due()
        return True

    def run(self, execution: dict[str, str], timeout: float = 30.0, max_steps: int = 600,
            until: Any = None) -> list[dict[str, Any]]:
        for _ in range(max_steps):
            events = self.history(execution)
            if events[-1]["eventType"] in CLOSED or (until and until(events)):
                return events
            possible = self.actions()
            if possible:
                self.act(self.rng.choice(possible))
            elif not self.skip_time():
                raise AssertionError(f"{execution['workflowId']}: nothing to do, no deadline")
        raise AssertionError(f"{execution['workflowId']} still open after {max_steps} steps")
