"""An indexed view of a workflow execution's history, built in one pass.

Deciders ask the same questions of every history: what happened to activity
X, which timers are running, which signals came in, what is new since the last
decision. :class:`History` answers them from indexes built while walking the
events once, so a 25,000-event history (SWF's maximum) costs one linear pass
and every question after it is a dictionary lookup.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

Event = dict[str, Any]
Handler = Callable[["History", Event, dict], None]

#: Event types that close an execution.
CLOSE_EVENTS = frozenset(
    {
        "WorkflowExecutionCompleted",
        "WorkflowExecutionFailed",
        "WorkflowExecutionCanceled",
        "WorkflowExecutionTimedOut",
        "WorkflowExecutionTerminated",
        "WorkflowExecutionContinuedAsNew",
    }
)


def attributes(event: Event) -> dict[str, Any]:
    """The ``<eventType>EventAttributes`` member of an event ({} if absent)."""
    event_type = event["eventType"]
    return event.get(event_type[0].lower() + event_type[1:] + "EventAttributes", {})


@dataclass
class ActivityState:
    """Where one activityId stands; a reschedule with the same id starts a new attempt."""

    activity_id: str
    activity_type: dict[str, str]
    state: str  # scheduled|schedule_failed|started|completed|failed|timed_out|
    #             cancel_requested|canceled
    attempts: int = 0
    input: str | None = None
    control: str | None = None
    result: str | None = None
    reason: str | None = None
    details: str | None = None
    timeout_type: str | None = None
    cause: str | None = None  # ScheduleActivityTaskFailed / RequestCancelActivityTaskFailed
    scheduled_event_id: int | None = None
    started_event_id: int | None = None
    closed_event_id: int | None = None
    cancel_requested_event_id: int | None = None

    @property
    def is_open(self) -> bool:
        return self.state in ("scheduled", "started", "cancel_requested")


@dataclass
class TimerState:
    """Where one timerId stands: started, fired, canceled or start_failed."""

    timer_id: str
    state: str
    control: str | None = None
    start_to_fire_timeout: str | None = None
    started_event_id: int | None = None
    closed_event_id: int | None = None
    cause: str | None = None


@dataclass
class ChildWorkflowState:
    """Where one child workflowId stands.

    state: initiated, start_failed, started, completed, failed, timed_out,
    canceled or terminated.
    """

    workflow_id: str
    workflow_type: dict[str, str]
    state: str
    run_id: str | None = None
    input: str | None = None
    control: str | None = None
    result: str | None = None
    reason: str | None = None
    details: str | None = None
    timeout_type: str | None = None
    cause: str | None = None
    initiated_event_id: int | None = None
    started_event_id: int | None = None
    closed_event_id: int | None = None


@dataclass
class LambdaState:
    """Where one Lambda function id stands (same states as activities, no cancel)."""

    function_id: str
    name: str
    state: str
    attempts: int = 0
    input: str | None = None
    control: str | None = None
    result: str | None = None
    reason: str | None = None
    details: str | None = None
    timeout_type: str | None = None
    cause: str | None = None
    scheduled_event_id: int | None = None
    started_event_id: int | None = None
    closed_event_id: int | None = None


class Signal(NamedTuple):
    name: str
    input: str | None
    event: Event


class Marker(NamedTuple):
    name: str
    details: str | None
    event: Event


@dataclass
class _Index:
    activities: dict[str, ActivityState] = field(default_factory=dict)
    activity_by_scheduled: dict[int, ActivityState] = field(default_factory=dict)
    timers: dict[str, TimerState] = field(default_factory=dict)
    children: dict[str, ChildWorkflowState] = field(default_factory=dict)
    children_by_initiated: dict[int, ChildWorkflowState] = field(default_factory=dict)
    lambdas: dict[str, LambdaState] = field(default_factory=dict)
    lambda_by_scheduled: dict[int, LambdaState] = field(default_factory=dict)


class History:
    """Indexes over one execution's events (all pages, oldest first or newest first).

    Attributes built in the single pass:
      events, started_event, workflow_type, input, activities, timers, signals,
      markers, child_workflows, lambda_functions, cancel_requested (the
      WorkflowExecutionCancelRequested event or None), closed (the close event
      or None), failures (every ``*Failed`` decision event, oldest first),
      execution_context (of the last completed decision task),
      last_decision_started_event_id, previous_started_event_id.
    """

    def __init__(self, events: Iterable[Event]):
        events = list(events)
        if len(events) > 1 and events[0]["eventId"] > events[-1]["eventId"]:
            events.reverse()  # from a reverseOrder=True poll or GetWorkflowExecutionHistory
        if any(a["eventId"] >= b["eventId"] for a, b in zip(events, events[1:])):
            events.sort(key=lambda e: e["eventId"])
        self.events: list[Event] = events
        self._by_id: dict[int, Event] = {}
        self._ids: list[int] = []
        self.started_event: Event | None = None
        self.workflow_type: dict[str, str] | None = None
        self.input: str | None = None
        self.signals: list[Signal] = []
        self.markers: dict[str, list[Marker]] = {}
        self.cancel_requested: Event | None = None
        self.closed: Event | None = None
        self.failures: list[Event] = []
        self.execution_context: str | None = None
        self.last_decision_started_event_id: int | None = None
        self.previous_started_event_id: int | None = None
        self._index = _Index()
        self._absorb(events)

    def extend(self, events: list[Event]) -> None:
        """Add events that follow the last one (ids ascending), as if the history had
        been built with them: a decider's history cache (swfd.history_cache) extends
        the run's History with a decision's new events instead of rebuilding it.
        The History is then the same object for the run's next decision in this
        process: like ``task.events``, it is for reading only."""
        if not events:
            return
        last = self._ids[-1] if self._ids else 0
        ids = [e["eventId"] for e in events]
        if ids[0] <= last or any(a >= b for a, b in zip(ids, ids[1:])):
            raise ValueError(f"History.extend: events {ids[0]}..{ids[-1]} do not follow "
                             f"event {last} in ascending order")
        self.events.extend(events)
        self._absorb(events)

    def _absorb(self, events: list[Event]) -> None:
        """The one pass: index each event and update the states it changes."""
        handlers = _HANDLERS
        for event in events:
            event_id = event["eventId"]
            self._by_id[event_id] = event
            self._ids.append(event_id)
            event_type = event["eventType"]
            handler = handlers.get(event_type)
            if handler is not None:
                handler(self, event, attributes(event))
            elif event_type.endswith("Failed") and _is_decision_failure(event_type):
                self.failures.append(event)

    # -- queries ------------------------------------------------------------------

    @property
    def activities(self) -> dict[str, ActivityState]:
        return self._index.activities

    @property
    def timers(self) -> dict[str, TimerState]:
        return self._index.timers

    @property
    def child_workflows(self) -> dict[str, ChildWorkflowState]:
        return self._index.children

    @property
    def lambda_functions(self) -> dict[str, LambdaState]:
        return self._index.lambdas

    def by_id(self, event_id: int) -> Event:
        """The event with this eventId; KeyError names the id if there is none."""
        try:
            return self._by_id[event_id]
        except KeyError:
            raise KeyError(f"no event with eventId {event_id} in this history") from None

    def new_events(self, previous_started_event_id: int | None) -> list[Event]:
        """Events after the previous decision task's DecisionTaskStarted event.

        Pass the poll response's ``previousStartedEventId`` (0 or None: all events).
        """
        start = bisect.bisect_right(self._ids, previous_started_event_id or 0)
        return self.events[start:]

    def __len__(self) -> int:
        return len(self.events)

    def __repr__(self) -> str:
        kind = self.workflow_type["name"] if self.workflow_type else "?"
        return f"History({kind}, {len(self.events)} events)"

    # -- one handler per event type --------------------------------------------------

    def _execution_started(self, event: Event, attrs: dict[str, Any]) -> None:
        self.started_event = event
        self.workflow_type = attrs.get("workflowType")
        self.input = attrs.get("input")

    def _closed(self, event: Event, attrs: dict[str, Any]) -> None:
        self.closed = event

    def _cancel_requested(self, event: Event, attrs: dict[str, Any]) -> None:
        self.cancel_requested = event

    def _decision_started(self, event: Event, attrs: dict[str, Any]) -> None:
        self.last_decision_started_event_id = event["eventId"]

    def _decision_completed(self, event: Event, attrs: dict[str, Any]) -> None:
        self.previous_started_event_id = attrs.get("startedEventId")
        if "executionContext" in attrs:
            self.execution_context = attrs["executionContext"]

    def _signaled(self, event: Event, attrs: dict[str, Any]) -> None:
        self.signals.append(Signal(attrs.get("signalName", ""), attrs.get("input"), event))

    def _marker(self, event: Event, attrs: dict[str, Any]) -> None:
        name = attrs.get("markerName", "")
        self.markers.setdefault(name, []).append(Marker(name, attrs.get("details"), event))

    def _activity_scheduled(self, event: Event, attrs: dict[str, Any]) -> None:
        activity_id = attrs["activityId"]
        previous = self._index.activities.get(activity_id)
        state = ActivityState(
            activity_id=activity_id,
            activity_type=attrs.get("activityType", {}),
            state="scheduled",
            attempts=(previous.attempts if previous else 0) + 1,
            input=attrs.get("input"),
            control=attrs.get("control"),
            scheduled_event_id=event["eventId"],
        )
        self._index.activities[activity_id] = state
        self._index.activity_by_scheduled[event["eventId"]] = state

    def _activity_schedule_failed(self, event: Event, attrs: dict[str, Any]) -> None:
        self.failures.append(event)
        activity_id = attrs["activityId"]
        previous = self._index.activities.get(activity_id)
        if previous is not None and previous.is_open:
            return  # e.g. ACTIVITY_ID_ALREADY_IN_USE: the open attempt is what matters
        self._index.activities[activity_id] = ActivityState(
            activity_id=activity_id,
            activity_type=attrs.get("activityType", {}),
            state="schedule_failed",
            attempts=previous.attempts if previous else 0,
            cause=attrs.get("cause"),
            closed_event_id=event["eventId"],
        )

    @staticmethod
    def _activity_event(new_state: str) -> Handler:
        """A handler for events that carry scheduledEventId."""

        def handle(self: History, event: Event, attrs: dict[str, Any]) -> None:
            state = self._index.activity_by_scheduled.get(attrs.get("scheduledEventId"))
            if state is None:
                return  # history fragment without the scheduling event
            if new_state == "started":
                state.started_event_id = event["eventId"]
                if state.state == "scheduled":
                    state.state = "started"
                return
            state.state = new_state
            state.closed_event_id = event["eventId"]
            state.result = attrs.get("result", state.result)
            state.reason = attrs.get("reason", state.reason)
            state.details = attrs.get("details", state.details)
            state.timeout_type = attrs.get("timeoutType", state.timeout_type)

        return handle

    def _activity_cancel_requested(self, event: Event, attrs: dict[str, Any]) -> None:
        state = self._index.activities.get(attrs.get("activityId"))
        if state is not None:
            state.cancel_requested_event_id = event["eventId"]
            if state.is_open:
                state.state = "cancel_requested"

    def _activity_cancel_failed(self, event: Event, attrs: dict[str, Any]) -> None:
        self.failures.append(event)
        state = self._index.activities.get(attrs.get("activityId"))
        if state is not None:
            state.cause = attrs.get("cause")

    def _timer_started(self, event: Event, attrs: dict[str, Any]) -> None:
        self._index.timers[attrs["timerId"]] = TimerState(
            timer_id=attrs["timerId"],
            state="started",
            control=attrs.get("control"),
            start_to_fire_timeout=attrs.get("startToFireTimeout"),
            started_event_id=event["eventId"],
        )

    @staticmethod
    def _timer_closed(new_state: str) -> Handler:
        def handle(self: History, event: Event, attrs: dict[str, Any]) -> None:
            state = self._index.timers.get(attrs.get("timerId"))
            if state is not None and state.started_event_id == attrs.get("startedEventId"):
                state.state = new_state
                state.closed_event_id = event["eventId"]

        return handle

    def _timer_start_failed(self, event: Event, attrs: dict[str, Any]) -> None:
        self.failures.append(event)
        timer_id = attrs["timerId"]
        current = self._index.timers.get(timer_id)
        if current is not None and current.state == "started":
            return  # TIMER_ID_ALREADY_IN_USE: the running timer is what matters
        self._index.timers[timer_id] = TimerState(
            timer_id=timer_id,
            state="start_failed",
            cause=attrs.get("cause"),
            closed_event_id=event["eventId"],
        )

    def _timer_cancel_failed(self, event: Event, attrs: dict[str, Any]) -> None:
        self.failures.append(event)
        state = self._index.timers.get(attrs.get("timerId"))
        if state is not None:
            state.cause = attrs.get("cause")

    def _child_initiated(self, event: Event, attrs: dict[str, Any]) -> None:
        state = ChildWorkflowState(
            workflow_id=attrs["workflowId"],
            workflow_type=attrs.get("workflowType", {}),
            state="initiated",
            input=attrs.get("input"),
            control=attrs.get("control"),
            initiated_event_id=event["eventId"],
        )
        self._index.children[state.workflow_id] = state
        self._index.children_by_initiated[event["eventId"]] = state

    def _child_start_failed(self, event: Event, attrs: dict[str, Any]) -> None:
        self.failures.append(event)
        state = self._index.children_by_initiated.get(attrs.get("initiatedEventId"))
        if state is None:
            state = ChildWorkflowState(
                workflow_id=attrs["workflowId"],
                workflow_type=attrs.get("workflowType", {}),
                state="start_failed",
            )
            self._index.children[state.workflow_id] = state
        state.state = "start_failed"
        state.cause = attrs.get("cause")
        state.closed_event_id = event["eventId"]

    @staticmethod
    def _child_event(new_state: str) -> Handler:
        def handle(self: History, event: Event, attrs: dict[str, Any]) -> None:
            state = self._index.children_by_initiated.get(attrs.get("initiatedEventId"))
            if state is None:
                return
            execution = attrs.get("workflowExecution", {})
            state.run_id = execution.get("runId", state.run_id)
            state.state = new_state
            if new_state == "started":
                state.started_event_id = event["eventId"]
                return
            state.closed_event_id = event["eventId"]
            state.result = attrs.get("result", state.result)
            state.reason = attrs.get("reason", state.reason)
            state.details = attrs.get("details", state.details)
            state.timeout_type = attrs.get("timeoutType", state.timeout_type)

        return handle

    def _lambda_scheduled(self, event: Event, attrs: dict[str, Any]) -> None:
        function_id = attrs["id"]
        previous = self._index.lambdas.get(function_id)
        state = LambdaState(
            function_id=function_id,
            name=attrs.get("name", ""),
            state="scheduled",
            attempts=(previous.attempts if previous else 0) + 1,
            input=attrs.get("input"),
            control=attrs.get("control"),
            scheduled_event_id=event["eventId"],
        )
        self._index.lambdas[function_id] = state
        self._index.lambda_by_scheduled[event["eventId"]] = state

    def _lambda_schedule_failed(self, event: Event, attrs: dict[str, Any]) -> None:
        self.failures.append(event)
        function_id = attrs["id"]
        previous = self._index.lambdas.get(function_id)
        if previous is not None and previous.state in ("scheduled", "started"):
            return
        self._index.lambdas[function_id] = LambdaState(
            function_id=function_id,
            name=attrs.get("name", ""),
            state="schedule_failed",
            attempts=previous.attempts if previous else 0,
            cause=attrs.get("cause"),
            closed_event_id=event["eventId"],
        )

    @staticmethod
    def _lambda_event(new_state: str) -> Handler:
        def handle(self: History, event: Event, attrs: dict[str, Any]) -> None:
            state = self._index.lambda_by_scheduled.get(attrs.get("scheduledEventId"))
            if state is None:
                return
            if new_state == "started":
                state.state = "started"
                state.started_event_id = event["eventId"]
                return
            if new_state == "start_failed":
                self.failures.append(event)
                state.cause = attrs.get("cause")
            state.state = new_state
            state.closed_event_id = event["eventId"]
            state.result = attrs.get("result", state.result)
            state.reason = attrs.get("reason", state.reason)
            state.details = attrs.get("details", state.details)
            state.timeout_type = attrs.get("timeoutType", state.timeout_type)

        return handle


def _is_decision_failure(event_type: str) -> bool:
    """``*Failed`` events SWF records when it could not carry out a decision."""
    return event_type in _DECISION_FAILURES


_DECISION_FAILURES = frozenset(
    {
        "CompleteWorkflowExecutionFailed",
        "FailWorkflowExecutionFailed",
        "CancelWorkflowExecutionFailed",
        "ContinueAsNewWorkflowExecutionFailed",
        "RecordMarkerFailed",
        "SignalExternalWorkflowExecutionFailed",
        "RequestCancelExternalWorkflowExecutionFailed",
    }
)

_HANDLERS: dict[str, Handler] = {
    "WorkflowExecutionStarted": History._execution_started,
    "WorkflowExecutionCancelRequested": History._cancel_requested,
    "DecisionTaskStarted": History._decision_started,
    "DecisionTaskCompleted": History._decision_completed,
    "WorkflowExecutionSignaled": History._signaled,
    "MarkerRecorded": History._marker,
    "ActivityTaskScheduled": History._activity_scheduled,
    "ScheduleActivityTaskFailed": History._activity_schedule_failed,
    "ActivityTaskStarted": History._activity_event("started"),
    "ActivityTaskCompleted": History._activity_event("completed"),
    "ActivityTaskFailed": History._activity_event("failed"),
    "ActivityTaskTimedOut": History._activity_event("timed_out"),
    "ActivityTaskCanceled": History._activity_event("canceled"),
    "ActivityTaskCancelRequested": History._activity_cancel_requested,
    "RequestCancelActivityTaskFailed": History._activity_cancel_failed,
    "TimerStarted": History._timer_started,
    "TimerFired": History._timer_closed("fired"),
    "TimerCanceled": History._timer_closed("canceled"),
    "StartTimerFailed": History._timer_start_failed,
    "CancelTimerFailed": History._timer_cancel_failed,
    "StartChildWorkflowExecutionInitiated": History._child_initiated,
    "StartChildWorkflowExecutionFailed": History._child_start_failed,
    "ChildWorkflowExecutionStarted": History._child_event("started"),
    "ChildWorkflowExecutionCompleted": History._child_event("completed"),
    "ChildWorkflowExecutionFailed": History._child_event("failed"),
    "ChildWorkflowExecutionTimedOut": History._child_event("timed_out"),
    "ChildWorkflowExecutionCanceled": History._child_event("canceled"),
    "ChildWorkflowExecutionTerminated": History._child_event("terminated"),
    "LambdaFunctionScheduled": History._lambda_scheduled,
    "ScheduleLambdaFunctionFailed": History._lambda_schedule_failed,
    "LambdaFunctionStarted": History._lambda_event("started"),
    "StartLambdaFunctionFailed": History._lambda_event("start_failed"),
    "LambdaFunctionCompleted": History._lambda_event("completed"),
    "LambdaFunctionFailed": History._lambda_event("failed"),
    "LambdaFunctionTimedOut": History._lambda_event("timed_out"),
}
for _close in CLOSE_EVENTS:
    _HANDLERS[_close] = History._closed
