"""The timeline model: an execution's history as lanes of bars, ready to draw.

One lane per activity id, timer id, child workflow id and Lambda function id,
in the order they first appear. An activity scheduled again under the same id
(a retry) is one more *attempt* on the same lane, so retries read left to
right. Each attempt knows when it was scheduled (or initiated), started and
closed, and how it ended; an attempt still open at the history's end has no
close time. Decision tasks are *ticks* (started to closed), and the workflow's
own events that are points in time (signals, markers, cancel requests) are
*marks*.

Pure functions of an event list, so the tests build histories by hand. Times
are seconds since the epoch (floats), as boto3's datetimes converted once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from swfd.admin import event_attributes as attributes

Event = dict[str, Any]


@dataclass
class Attempt:
    """One try of an activity (or timer, child, Lambda): its times and outcome."""

    number: int
    scheduled: float
    started: float | None = None
    closed: float | None = None
    outcome: str = "open"  # open | completed | failed | timed_out | canceled | terminated | fired
    detail: str = ""       # reason, timeout type or cause, shown in the bar's tooltip
    first_event_id: int = 0

    @property
    def is_open(self) -> bool:
        return self.closed is None


@dataclass
class Lane:
    """Everything that happened to one activity, timer, child workflow or Lambda id."""

    kind: str  # activity | timer | child | lambda
    id: str
    name: str
    attempts: list[Attempt] = field(default_factory=list)
    cancel_requested: float | None = None
    run_id: str | None = None  # a child workflow's run, once started

    @property
    def last(self) -> Attempt:
        return self.attempts[-1]

    @property
    def outcome(self) -> str:
        return self.last.outcome

    @property
    def retried(self) -> bool:
        return len(self.attempts) > 1


@dataclass
class Tick:
    """A decision task: scheduled, started, and completed (or timed out)."""

    scheduled: float
    started: float | None = None
    closed: float | None = None
    outcome: str = "open"  # open | completed | timed_out
    started_event_id: int = 0


@dataclass
class Mark:
    """A point in the workflow's own life: a signal, a marker, a cancel request."""

    at: float
    kind: str
    label: str
    event_id: int


@dataclass
class Timeline:
    start: float
    end: float  # the close event's time, else the last event's (or ``now`` while open)
    lanes: list[Lane]
    ticks: list[Tick]
    marks: list[Mark]
    closed: bool
    close_status: str | None = None

    @property
    def span(self) -> float:
        return max(self.end - self.start, 0.001)


def seconds(value: Any) -> float:
    """An event timestamp as epoch seconds (boto3 gives datetimes; tests may give floats)."""
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


_CLOSE_STATUSES = {
    "WorkflowExecutionCompleted": "COMPLETED",
    "WorkflowExecutionFailed": "FAILED",
    "WorkflowExecutionTimedOut": "TIMED_OUT",
    "WorkflowExecutionCanceled": "CANCELED",
    "WorkflowExecutionTerminated": "TERMINATED",
    "WorkflowExecutionContinuedAsNew": "CONTINUED_AS_NEW",
}

_MARKS = {
    "WorkflowExecutionSignaled": ("signal", "signalName"),
    "MarkerRecorded": ("marker", "markerName"),
    "WorkflowExecutionCancelRequested": ("cancel-requested", "cause"),
    "RecordMarkerFailed": ("failure", "markerName"),
    "SignalExternalWorkflowExecutionInitiated": ("signal-out", "signalName"),
    "RequestCancelExternalWorkflowExecutionInitiated": ("cancel-out", "workflowId"),
}


def _type_name(attrs: dict[str, Any], key: str) -> str:
    value = attrs.get(key) or {}
    return f"{value.get('name', '?')}/{value.get('version', '?')}" if value else ""


def _why(attrs: dict[str, Any]) -> str:
    """A closing event's short explanation: reason, timeout type or cause."""
    for key in ("reason", "timeoutType", "cause"):
        if attrs.get(key):
            return str(attrs[key])
    return ""


class _Builder:
    """One pass over the events; ``by_event`` maps an opening event id to its attempt."""

    def __init__(self) -> None:
        self.lanes: dict[tuple[str, str], Lane] = {}
        self.by_event: dict[int, tuple[Lane, Attempt]] = {}
        self.ticks: list[Tick] = []
        self.ticks_by_event: dict[int, Tick] = {}
        self.marks: list[Mark] = []
        self.close_status: str | None = None
        self.close_time: float | None = None

    def lane(self, kind: str, lane_id: str, name: str) -> Lane:
        key = (kind, lane_id)
        if key not in self.lanes:
            self.lanes[key] = Lane(kind, lane_id, name)
        return self.lanes[key]

    def open(self, kind: str, lane_id: str, name: str, at: float, event_id: int) -> None:
        lane = self.lane(kind, lane_id, name)
        attempt = Attempt(len(lane.attempts) + 1, at, first_event_id=event_id)
        lane.attempts.append(attempt)
        self.by_event[event_id] = (lane, attempt)

    def failed_to_open(self, kind: str, lane_id: str, name: str, at: float, event_id: int,
                       why: str) -> None:
        """A decision the service refused (ScheduleActivityTaskFailed, ...): a zero-length
        failed attempt, so the lane shows it was tried."""
        self.open(kind, lane_id, name, at, event_id)
        _, attempt = self.by_event[event_id]
        attempt.closed, attempt.outcome, attempt.detail = at, "failed", why

    def started(self, opening_id: Any, at: float) -> None:
        found = self.by_event.get(int(opening_id or 0))
        if found:
            found[1].started = at

    def closed(self, opening_id: Any, at: float, outcome: str, why: str = "") -> None:
        found = self.by_event.get(int(opening_id or 0))
        if found:
            attempt = found[1]
            attempt.closed, attempt.outcome, attempt.detail = at, outcome, why

    def add(self, event: Event) -> None:
        kind = event["eventType"]
        at = seconds(event["eventTimestamp"])
        event_id = int(event.get("eventId", 0))
        attrs = attributes(event)
        handler = getattr(self, "on_" + kind, None)
        if handler is not None:
            handler(attrs, at, event_id)
        elif kind in _MARKS:
            mark_kind, key = _MARKS[kind]
            self.marks.append(Mark(at, mark_kind, str(attrs.get(key) or kind), event_id))
        elif kind in _CLOSE_STATUSES:
            self.close_status, self.close_time = _CLOSE_STATUSES[kind], at
        else:
            self.generic_close(kind, attrs, at)

    def generic_close(self, kind: str, attrs: dict[str, Any], at: float) -> None:
        """ActivityTask{Completed,Failed,TimedOut,Canceled}, ChildWorkflowExecution...,
        LambdaFunction...: the outcome is the event type's last word."""
        for prefix, opening in (("ActivityTask", "scheduledEventId"),
                                ("LambdaFunction", "scheduledEventId"),
                                ("ChildWorkflowExecution", "initiatedEventId")):
            if not kind.startswith(prefix):
                continue
            outcome = _OUTCOMES.get(kind[len(prefix):])
            if outcome:
                self.closed(attrs.get(opening), at, outcome, _why(attrs))
            elif kind[len(prefix):] == "Started":
                self.started(attrs.get(opening), at)
                found = self.by_event.get(int(attrs.get(opening) or 0))
                if found and prefix == "ChildWorkflowExecution":
                    found[0].run_id = (attrs.get("workflowExecution") or {}).get("runId")
            elif kind == "ActivityTaskCancelRequested":
                lane = self.lanes.get(("activity", str(attrs.get("activityId"))))
                if lane:
                    lane.cancel_requested = at
            return

    # -- openings and the events that do not follow the generic pattern --------

    def on_ActivityTaskScheduled(self, attrs: dict[str, Any], at: float, event_id: int) -> None:
        self.open("activity", str(attrs.get("activityId")),
                  _type_name(attrs, "activityType"), at, event_id)

    def on_ScheduleActivityTaskFailed(self, attrs: dict[str, Any], at: float,
                                      event_id: int) -> None:
        self.failed_to_open("activity", str(attrs.get("activityId")),
                            _type_name(attrs, "activityType"), at, event_id, _why(attrs))

    def on_LambdaFunctionScheduled(self, attrs: dict[str, Any], at: float, event_id: int) -> None:
        self.open("lambda", str(attrs.get("id")), str(attrs.get("name", "")), at, event_id)

    def on_ScheduleLambdaFunctionFailed(self, attrs: dict[str, Any], at: float,
                                        event_id: int) -> None:
        self.failed_to_open("lambda", str(attrs.get("id")), str(attrs.get("name", "")), at,
                            event_id, _why(attrs))

    def on_StartLambdaFunctionFailed(self, attrs: dict[str, Any], at: float,
                                     event_id: int) -> None:
        self.closed(attrs.get("scheduledEventId"), at, "failed", _why(attrs))

    def on_TimerStarted(self, attrs: dict[str, Any], at: float, event_id: int) -> None:
        timeout = attrs.get("startToFireTimeout")
        self.open("timer", str(attrs.get("timerId")), f"timer {timeout}s" if timeout else "timer",
                  at, event_id)
        self.started(event_id, at)  # a timer runs from the moment it starts

    def on_TimerFired(self, attrs: dict[str, Any], at: float, event_id: int) -> None:
        self.closed(attrs.get("startedEventId"), at, "fired")

    def on_TimerCanceled(self, attrs: dict[str, Any], at: float, event_id: int) -> None:
        self.closed(attrs.get("startedEventId"), at, "canceled")

    def on_StartTimerFailed(self, attrs: dict[str, Any], at: float, event_id: int) -> None:
        self.failed_to_open("timer", str(attrs.get("timerId")), "timer", at, event_id,
                            _why(attrs))

    def on_StartChildWorkflowExecutionInitiated(self, attrs: dict[str, Any], at: float,
                                                event_id: int) -> None:
        self.open("child", str(attrs.get("workflowId")), _type_name(attrs, "workflowType"),
                  at, event_id)

    def on_StartChildWorkflowExecutionFailed(self, attrs: dict[str, Any], at: float,
                                             event_id: int) -> None:
        if int(attrs.get("initiatedEventId") or 0) in self.by_event:
            self.closed(attrs.get("initiatedEventId"), at, "failed", _why(attrs))
        else:
            self.failed_to_open("child", str(attrs.get("workflowId")),
                                _type_name(attrs, "workflowType"), at, event_id, _why(attrs))

    def on_DecisionTaskScheduled(self, attrs: dict[str, Any], at: float, event_id: int) -> None:
        tick = Tick(at)
        self.ticks.append(tick)
        self.ticks_by_event[event_id] = tick

    def on_DecisionTaskStarted(self, attrs: dict[str, Any], at: float, event_id: int) -> None:
        tick = self.ticks_by_event.get(int(attrs.get("scheduledEventId") or 0))
        if tick:
            tick.started, tick.started_event_id = at, event_id

    def on_DecisionTaskCompleted(self, attrs: dict[str, Any], at: float, event_id: int) -> None:
        self.close_tick(attrs, at, "completed")

    def on_DecisionTaskTimedOut(self, attrs: dict[str, Any], at: float, event_id: int) -> None:
        self.close_tick(attrs, at, "timed_out")

    def close_tick(self, attrs: dict[str, Any], at: float, outcome: str) -> None:
        tick = self.ticks_by_event.get(int(attrs.get("scheduledEventId") or 0))
        if tick:
            tick.closed, tick.outcome = at, outcome


_OUTCOMES = {
    "Completed": "completed",
    "Failed": "failed",
    "TimedOut": "timed_out",
    "Canceled": "canceled",
    "Terminated": "terminated",
}


def build(events: list[Event], now: float | None = None) -> Timeline:
    """The timeline of ``events`` (a whole history, oldest first). ``now`` ends the
    bars of what is still open in an open execution (default: the last event)."""
    builder = _Builder()
    for event in events:
        builder.add(event)
    if not events:
        start = now or 0.0
        return Timeline(start, start, [], [], [], closed=False)
    start = seconds(events[0]["eventTimestamp"])
    last = seconds(events[-1]["eventTimestamp"])
    closed = builder.close_time is not None
    end = builder.close_time if closed else max(last, now or last)
    return Timeline(start, end, list(builder.lanes.values()), builder.ticks, builder.marks,
                    closed=closed, close_status=builder.close_status)
