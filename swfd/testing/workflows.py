"""Run one workflow to completion in-process, with time skipping: ``run_workflow``.

What runs is what the daemon runs: an in-process local endpoint (real HTTP on
127.0.0.1, plain boto3), the decider's :class:`~swfd.decider.DecisionPoller` and
the worker's :class:`~swfd.worker.ActivityPoller` handling one task at a time in
this thread, with their error handling (a decision that raises becomes the
``swfd:decider-error`` marker and a backoff timer; an activity that raises
becomes ActivityTaskFailed). Only the loop around them is the kit's: pending
tasks are found with CountPending*Tasks, so no poll waits, and when nothing is
runnable the endpoint's :class:`~swfd.testing.clock.ManualClock` jumps to the
next timer, timeout or scheduled signal. A workflow that sleeps an hour runs in
milliseconds; one that never closes reaches its execution timeout, or the
kit's step and wall-time bounds, which raise :class:`WorkflowDidNotClose`.

Two things differ from the daemon, on purpose: the pollers set no process
title (this is the test process), and heartbeats are sent at once from the
handler's thread (no heartbeat thread, which could end the test process on a
timeout); a cancel request still reaches the handler through the heartbeat's
answer.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable, Union

from swfd import codecs
from swfd.config import PoolSettings
from swfd.decider import ERROR_MARKER, DecisionPoller
from swfd.history import CLOSE_EVENTS, attributes
from swfd.lifecycle import Lifecycle
from swfd.registry import ActivityDef, Registry, WorkflowDef, activity
from swfd.swf.retry import call
from swfd.testing.clock import ManualClock
from swfd.testing.endpoint import InProcessEndpoint, fetch_history
from swfd.testing.runs import WorkflowRun
from swfd.worker import ActivityPoller, TaskSupervisor

When = Union[float, int, Callable[["WorkflowRun"], bool]]
"""Virtual seconds after the start, or a predicate on the run so far."""

_UNKNOWN_TYPE_EVENTS = frozenset({"ScheduleActivityTaskFailed",
                                  "StartChildWorkflowExecutionFailed"})
IDENTITY = "swfd-testing"
DOMAIN = "swfd-testing"


class WorkflowDidNotClose(AssertionError):
    """The workflow was still open when the kit's step or wall-time bound ran out."""


class MissingDefinition(LookupError):
    """The workflow scheduled an activity (or started a child workflow) of a type the
    run was not given."""


class DeciderFailed(AssertionError):
    """The workflow's decision logic raised (``stop_on_decider_error``): the marker's
    error and traceback, and the run so far in ``.run``."""

    def __init__(self, message: str, run: WorkflowRun) -> None:
        super().__init__(message)
        self.run = run



@dataclass
class _Scheduled:
    """A signal or cancel request the test asked for, sent once ``when`` holds."""

    when: When
    name: str | None  # None: RequestCancelWorkflowExecution
    input: Any = None
    sent: bool = False

    def at(self, start: float) -> float | None:
        return None if callable(self.when) else start + float(self.when)


class _InlineSupervisor(TaskSupervisor):
    """The worker's heartbeat sender without its thread: each ``task.heartbeat()``
    is sent at once (``TaskSupervisor.beat``), and SWF's cancelRequested answer
    sets ``task.cancel_requested`` as under the daemon."""

    def __init__(self, worker: ActivityPoller, record: dict[str, list[str | None]]) -> None:
        super().__init__(worker)
        self.record = record

    def watch(self, task: Any) -> None:
        self._task = task
        task.wake_supervisor = lambda: self.beat_now(task)

    def release(self, task: Any) -> None:
        self._task = None

    def beat_now(self, task: Any) -> None:
        task.beat_wanted = False
        self.record.setdefault(task.activity_id, []).append(task.heartbeat_details)
        self.beat(task, 10.0)


class _InlineWorker(ActivityPoller):
    def __init__(self, *args: Any, record: dict[str, list[str | None]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.supervisor = _InlineSupervisor(self, record)

    def show_task(self, type_name: str, ids: dict[str, Any]) -> None:
        """No process title: this is the test's process."""


class _InlineDecider(DecisionPoller):
    def show_task(self, type_name: str, ids: dict[str, Any]) -> None:
        """No process title: this is the test's process."""


def build_registry(workflow: WorkflowDef, activities: Any = None,
                   fakes: dict[Any, Callable[[Any], Any]] | None = None) -> Registry:
    """The definitions a run uses: ``activities`` (a Registry, an iterable of
    definitions, or None for every installed plugin's), the workflow itself, and
    ``fakes`` standing in for activity types by ``(name, version)`` or definition."""
    if activities is None:
        from swfd.plugins import load_plugins

        activities = load_plugins()
    if isinstance(activities, Registry):
        defs: list[Any] = [*activities.activities.values(), *activities.workflows.values()]
    else:
        defs = list(activities)
    defs = [d for d in defs if not (isinstance(d, WorkflowDef) and d.key == workflow.key)]
    defs.append(workflow)
    by_key = {d.key: d for d in defs if isinstance(d, ActivityDef)}
    for target, fake in (fakes or {}).items():
        key = target.key if isinstance(target, ActivityDef) else tuple(target)
        if len(key) != 2 or not callable(fake):
            raise TypeError(f"fakes: expected {{(name, version): callable(task)}}, got "
                            f"{target!r}: {fake!r}")
        real = by_key.get(key) or (target if isinstance(target, ActivityDef) else None)
        by_key[key] = dataclasses.replace(real, func=fake) if real is not None else activity(
            key[0], key[1])(fake)
    defs = [d for d in defs if not isinstance(d, ActivityDef)] + list(by_key.values())
    return Registry.from_defs(defs, plugin="swfd.testing")


class _Driver:
    """The loop: handle what is pending, else move the clock; see the module docstring."""

    def __init__(self, endpoint: Any, clock: ManualClock, registry: Registry, domain: str,
                 run: WorkflowRun, scheduled: list[_Scheduled], *, follow: bool,
                 stop_on_decider_error: bool, decider_max_attempts: int | None) -> None:
        self.endpoint, self.clock, self.registry, self.domain = endpoint, clock, registry, domain
        self.client = endpoint.client
        self.run, self.scheduled, self.follow = run, scheduled, follow
        self.stop_on_decider_error = stop_on_decider_error
        self.decider_max_attempts = decider_max_attempts
        self.settings = SimpleNamespace(domain=domain, identity=IDENTITY, proctitle_tasks=False)
        self.lifecycle = Lifecycle()
        self.deciders: dict[str, _InlineDecider] = {}
        self.workers: dict[str, _InlineWorker] = {}
        self.histories: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.errors_seen = 0

    def poller(self, kind: str, task_list: str) -> Any:
        table: dict[str, Any] = self.deciders if kind == "decider" else self.workers
        if task_list not in table:
            pool = PoolSettings(kind=kind, name="test", task_list=task_list,
                                section=f"{kind}:test",
                                decider_max_attempts=self.decider_max_attempts)
            args = (self.settings, pool, self.registry, self.lifecycle, self.client, IDENTITY)
            table[task_list] = (_InlineDecider(*args) if kind == "decider"
                                else _InlineWorker(*args, record=self.run.heartbeats))
        return table[task_list]

    def refresh(self) -> None:
        """Fetch the histories of the runs still open (the workflow's and its children's),
        following continue-as-new and newly started children."""
        main = self.run.execution
        todo = [main] + [{"workflowId": w, "runId": r} for (w, r), ev in self.histories.items()
                         if (w, r) != (main["workflowId"], main["runId"]) and not _closed(ev)]
        seen: set[tuple[str, str]] = set()
        while todo:
            execution = todo.pop()
            key = (execution["workflowId"], execution["runId"])
            if key in seen:
                continue
            seen.add(key)
            events = fetch_history(self.client, self.domain, execution)
            self.histories[key] = events
            for event in events:
                if event["eventType"] == "ChildWorkflowExecutionStarted":
                    child = attributes(event)["workflowExecution"]
                    ckey = (child["workflowId"], child["runId"])
                    if ckey not in self.histories or not _closed(self.histories[ckey]):
                        todo.append(child)
            close = events[-1] if events else None
            if close is not None and close["eventType"] == "WorkflowExecutionContinuedAsNew" \
                    and (key != (main["workflowId"], main["runId"]) or self.follow):
                new = {"workflowId": key[0],
                       "runId": attributes(close)["newExecutionRunId"]}
                if key == (main["workflowId"], main["runId"]):
                    self.run.runs.append((dict(main), events))
                    self.run.execution = main = new
                todo.append(new)
        self.run.events = self.histories[(main["workflowId"], main["runId"])]
        self.run.children = {w: ev for (w, _r), ev in self.histories.items()
                             if w != main["workflowId"]}

    def task_lists(self) -> tuple[set[str], set[str]]:
        """(decision task lists, activity task lists) named in the open runs' histories."""
        deciding: set[str] = set()
        acting: set[str] = set()
        for events in self.histories.values():
            if _closed(events):
                continue
            for event in events:
                kind = event["eventType"]
                task_list = attributes(event).get("taskList", {}).get("name")
                if task_list and kind in ("WorkflowExecutionStarted", "DecisionTaskScheduled"):
                    deciding.add(task_list)
                elif task_list and kind == "ActivityTaskScheduled":
                    acting.add(task_list)
        return deciding, acting

    def handle_pending(self) -> bool:
        """Handle every task pending now (decisions first); True if there was one."""
        handled = False
        deciding, acting = self.task_lists()
        for kind, operation, lists in (("decider", "CountPendingDecisionTasks", deciding),
                                       ("worker", "CountPendingActivityTasks", acting)):
            for task_list in sorted(lists):
                for _ in range(1000):
                    count = call(self.client, operation, max_attempts=1, domain=self.domain,
                                 taskList={"name": task_list})["count"]
                    if not count:
                        break
                    poller = self.poller(kind, task_list)
                    polled = poller.poll()
                    if polled is None:
                        break
                    poller.handle(polled)
                    self.run.steps += 1
                    handled = True
        return handled

    def send_due(self) -> bool:
        """Send the signals and cancel requests whose time has come; True if any was."""
        sent = False
        for item in self.scheduled:
            if item.sent:
                continue
            at = item.at(self.clock.start)
            due = self.clock() >= at if at is not None else bool(item.when(self.run))
            if not due:
                continue
            item.sent = sent = True
            target = {"domain": self.domain, "workflowId": self.run.execution["workflowId"]}
            if item.name is None:
                call(self.client, "RequestCancelWorkflowExecution", max_attempts=1, **target)
            else:
                payload = codecs.encode_field(self.run.workflow.codec, item.input,
                                              f"input of signal {item.name}")
                call(self.client, "SignalWorkflowExecution", max_attempts=1, **target,
                     signalName=item.name, **({} if payload is None else {"input": payload}))
        return sent

    def check_types_exist(self) -> None:
        """A decision naming a type the endpoint does not know (never registered: the run
        was not given it) fails with *_TYPE_DOES_NOT_EXIST; say which, and how to fix it."""
        for events in self.histories.values():
            for event in events:
                if event["eventType"] not in _UNKNOWN_TYPE_EVENTS:
                    continue
                found = attributes(event)
                if found.get("cause") not in ("ACTIVITY_TYPE_DOES_NOT_EXIST",
                                              "WORKFLOW_TYPE_DOES_NOT_EXIST"):
                    continue
                kind = found.get("activityType") or found.get("workflowType") or {}
                noun = "activity" if "activityType" in found else "workflow"
                raise MissingDefinition(
                    f"the run scheduled {noun} type {kind.get('name')} {kind.get('version')}, "
                    f"which it has no definition for ({event['eventType']}, event "
                    f"{event['eventId']}): pass it in activities= (or a fake in fakes=); the "
                    f"run has {self.registry.describe()}")

    def check_decider_errors(self) -> None:
        errors = sum(len([e for e in events if e["eventType"] == "MarkerRecorded"
                          and attributes(e).get("markerName") == ERROR_MARKER])
                     for events in self.histories.values())
        if self.stop_on_decider_error and errors > self.errors_seen:
            found = [json.loads(attributes(e).get("details") or "{}")
                     for events in self.histories.values() for e in events
                     if e["eventType"] == "MarkerRecorded"
                     and attributes(e).get("markerName") == ERROR_MARKER]
            last = found[-1]
            raise DeciderFailed(f"the decision logic raised: {last.get('error')}\n"
                                f"{last.get('traceback', '')}", self.run)
        self.errors_seen = errors

    def skip_time(self) -> bool:
        """Move the clock to the next deadline (timer, timeout, signal); False if none."""
        times = [t for t in (s.at(self.clock.start) for s in self.scheduled if not s.sent)
                 if t is not None]
        deadline = self.endpoint.next_deadline()
        if deadline is not None:
            times.append(deadline)
        if not times:
            return False
        self.clock.advance_to(min(times))
        self.endpoint.fire_due()
        return True

    def drive(self, max_steps: int, timeout_seconds: float) -> None:
        started = time.monotonic()
        for _ in range(max_steps):
            if time.monotonic() - started > timeout_seconds:
                raise WorkflowDidNotClose(
                    f"workflow {self.run.workflow.name} still open after {timeout_seconds:g} s "
                    f"of wall time ({self.run.steps} tasks handled, clock moved "
                    f"{self.clock.elapsed:g} s):\n{self.run.table()}")
            self.refresh()
            self.run.elapsed = self.clock.elapsed
            self.check_decider_errors()
            self.check_types_exist()
            if _closed(self.run.events):
                return
            if self.send_due() or self.handle_pending():
                continue
            if not self.skip_time():
                raise WorkflowDidNotClose(f"workflow {self.run.workflow.name} is open with "
                                          f"nothing pending or scheduled:\n{self.run.table()}")
        raise WorkflowDidNotClose(f"workflow {self.run.workflow.name} still open after "
                                  f"{max_steps} steps:\n{self.run.table()}")


def _closed(events: list[dict[str, Any]]) -> bool:
    return bool(events) and events[-1]["eventType"] in CLOSE_EVENTS


def run_workflow(
    workflow: WorkflowDef,
    input: Any = None,
    *,
    activities: Registry | Iterable[Any] | None = None,
    fakes: dict[Any, Callable[[Any], Any]] | None = None,
    signals: Iterable[tuple[When, str, Any]] = (),
    cancel_at: When | None = None,
    workflow_id: str | None = None,
    raw_input: str | None = None,
    start_time: float | None = None,
    execution_timeout: int | None = None,
    timeout_seconds: float = 60.0,
    max_steps: int = 10_000,
    stop_on_decider_error: bool = True,
    decider_max_attempts: int | None = None,
    follow_continue_as_new: bool = True,
) -> WorkflowRun:
    """Start ``workflow`` on a fresh in-process endpoint and drive it until it closes.

    ``activities``: the activity (and child workflow) definitions to run, as a
    Registry or an iterable; None loads every installed plugin. ``fakes``:
    ``{(name, version): handler}`` replacing or adding activity types (a handler
    takes the task, like a real one). ``signals``: ``(when, name, input)``, sent
    when ``when`` holds: virtual seconds after the start, or a predicate on the
    :class:`WorkflowRun` so far (``lambda run: "Booked" in run.activities()``).
    ``cancel_at``: when to request the workflow's cancellation. Time skips to the
    next timer or timeout whenever nothing is runnable; ``start_time`` (epoch
    seconds) sets the clock's start. ``stop_on_decider_error``: raise
    :class:`DeciderFailed` at the first decision that raised (False: let the
    daemon's marker-and-retry-timer handling run, ``decider_max_attempts`` as the
    pool's). Bounded by ``max_steps`` loop turns and ``timeout_seconds`` of wall
    time (:class:`WorkflowDidNotClose`); a handler that never returns is not
    interrupted. Returns the :class:`WorkflowRun`, however it closed.
    """
    from swfd.swf.registration import register_all

    if not isinstance(workflow, WorkflowDef):
        raise TypeError(f"run_workflow needs an @swfd.workflow definition, got {workflow!r}")
    registry = build_registry(workflow, activities, fakes)
    clock = ManualClock(start_time)
    scheduled = [_Scheduled(when, name, value) for when, name, value in signals]
    if cancel_at is not None:
        scheduled.append(_Scheduled(cancel_at, None))
    begun = time.monotonic()
    endpoint = InProcessEndpoint(clock=clock, poll_timeout=0.5).start()
    try:
        client = endpoint.client
        register_all(client, DOMAIN, registry, 1)
        if raw_input is None:
            raw_input = codecs.encode(workflow.codec, input, f"input of workflow {workflow.name}")
        execution = {"workflowId": workflow_id or f"test-{uuid.uuid4().hex[:12]}"}
        started = call(client, "StartWorkflowExecution", max_attempts=1, domain=DOMAIN,
                       workflowType={"name": workflow.name, "version": workflow.version},
                       **execution, **({} if raw_input is None else {"input": raw_input}),
                       **({} if execution_timeout is None else
                          {"executionStartToCloseTimeout": str(execution_timeout)}))
        execution["runId"] = started["runId"]
        run = WorkflowRun(workflow=workflow, execution=execution)
        driver = _Driver(endpoint, clock, registry, DOMAIN, run, scheduled,
                         follow=follow_continue_as_new,
                         stop_on_decider_error=stop_on_decider_error,
                         decider_max_attempts=decider_max_attempts)
        try:
            driver.drive(max_steps, timeout_seconds)
        finally:
            run.wall_seconds = time.monotonic() - begun
            run.elapsed = clock.elapsed
        run.runs.append((dict(run.execution), run.events))
    finally:
        endpoint.stop()
    return run
