"""A history cut into activations, and the keys that match decisions to events.

An *activation* is one decision task as the workflow saw it: the events that
had arrived before its DecisionTaskStarted, and the decisions its answer
recorded (the events carrying its DecisionTaskCompleted's id). Replaying an
``async def`` workflow feeds it the activations in order and checks, decision
by decision, that the code decides what the history recorded.

A decision task whose answer was swfd's own decider-error marker (the code
raised) recorded nothing of the workflow's: its events fold into the next
activation, as they did when the retried decision task ran. The decider's
own markers and timers are left out altogether; the engine's own (patch
markers, backoff and signal-wait timers) are ordinary events.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from swfd.decider import ERROR_MARKER, is_swfd_event
from swfd.history import attributes

Key = tuple[str, ...]

# Event type -> (the decision type it records, the attributes that identify it).
_RECORDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ActivityTaskScheduled": ("ScheduleActivityTask", ("activityId", "activityType")),
    "ScheduleActivityTaskFailed": ("ScheduleActivityTask", ("activityId", "activityType")),
    "ActivityTaskCancelRequested": ("RequestCancelActivityTask", ("activityId",)),
    "RequestCancelActivityTaskFailed": ("RequestCancelActivityTask", ("activityId",)),
    "TimerStarted": ("StartTimer", ("timerId",)),
    "StartTimerFailed": ("StartTimer", ("timerId",)),
    "TimerCanceled": ("CancelTimer", ("timerId",)),
    "CancelTimerFailed": ("CancelTimer", ("timerId",)),
    "MarkerRecorded": ("RecordMarker", ("markerName",)),
    "RecordMarkerFailed": ("RecordMarker", ("markerName",)),
    "StartChildWorkflowExecutionInitiated": ("StartChildWorkflowExecution",
                                             ("workflowId", "workflowType")),
    "StartChildWorkflowExecutionFailed": ("StartChildWorkflowExecution",
                                          ("workflowId", "workflowType")),
    "SignalExternalWorkflowExecutionInitiated": ("SignalExternalWorkflowExecution",
                                                 ("workflowId", "signalName")),
    "SignalExternalWorkflowExecutionFailed": ("SignalExternalWorkflowExecution",
                                              ("workflowId", "signalName")),
    "RequestCancelExternalWorkflowExecutionInitiated": (
        "RequestCancelExternalWorkflowExecution", ("workflowId",)),
    "RequestCancelExternalWorkflowExecutionFailed": (
        "RequestCancelExternalWorkflowExecution", ("workflowId",)),
    "WorkflowExecutionCompleted": ("CompleteWorkflowExecution", ()),
    "CompleteWorkflowExecutionFailed": ("CompleteWorkflowExecution", ()),
    "WorkflowExecutionFailed": ("FailWorkflowExecution", ()),
    "FailWorkflowExecutionFailed": ("FailWorkflowExecution", ()),
    "WorkflowExecutionCanceled": ("CancelWorkflowExecution", ()),
    "CancelWorkflowExecutionFailed": ("CancelWorkflowExecution", ()),
    "WorkflowExecutionContinuedAsNew": ("ContinueAsNewWorkflowExecution", ()),
    "ContinueAsNewWorkflowExecutionFailed": ("ContinueAsNewWorkflowExecution", ()),
}
# "...Failed" events that follow an "...Initiated" one are outcomes, not records.
_OUTCOME_IF_INITIATED = frozenset({
    "StartChildWorkflowExecutionFailed", "SignalExternalWorkflowExecutionFailed",
    "RequestCancelExternalWorkflowExecutionFailed"})
_DECISION_TASK_EVENTS = frozenset({"DecisionTaskScheduled", "DecisionTaskStarted",
                                   "DecisionTaskCompleted", "DecisionTaskTimedOut"})


def _flat(value: Any) -> str:
    if isinstance(value, dict) and "name" in value:
        return f"{value['name']}/{value.get('version', '')}".rstrip("/")
    return str(value)


def make_key(decision_type: str, *parts: Any) -> Key:
    """The identity of a decision: its type and the ids that name what it acts on."""
    return (decision_type, *(_flat(p) for p in parts))


def describe(key: Key) -> str:
    return key[0] + ("(" + ", ".join(repr(p) for p in key[1:]) + ")" if len(key) > 1 else "")


def recorded_key(event: dict[str, Any], ids: Container[Any]) -> Key | None:
    """The key of the decision ``event`` records, or None if it records none."""
    kind = event["eventType"]
    record = _RECORDS.get(kind)
    if record is None:
        return None
    attrs = attributes(event)
    if kind in _OUTCOME_IF_INITIATED and attrs.get("initiatedEventId") in ids:
        return None
    decision_type, names = record
    return make_key(decision_type, *(attrs.get(n, "") for n in names))


def timestamp(event: dict[str, Any]) -> datetime:
    """An event's time as an aware datetime (boto3 gives datetimes, ``swfd history
    --json`` ISO strings, the raw protocol epoch seconds)."""
    value = event.get("eventTimestamp")
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    raise ValueError(f"event {event.get('eventId')} ({event.get('eventType')}) has no "
                     f"usable eventTimestamp: {value!r:.60}")


@dataclass
class Activation:
    """One decision task: what it saw (``events``), when (``started``), and what its
    answer recorded (``recorded``; None for the decision task being decided now)."""

    started: dict[str, Any]
    events: list[dict[str, Any]]
    completed_event_id: int | None = None
    recorded: list[tuple[Key, dict[str, Any]]] | None = field(default=None)


def normalised(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events sorted by id with integer ids (JSON round trips keep them, but be sure)."""
    return sorted(events, key=lambda e: int(e["eventId"]))


def activations(raw_events: list[dict[str, Any]], live: bool = True) -> list[Activation]:
    """The history as activations, oldest first; with ``live``, a last one for a
    decision task started but not answered (the one being decided)."""
    raw_events = normalised(raw_events)
    ids = {e["eventId"] for e in raw_events if not is_swfd_event(e)}
    return Cutter().cut(raw_events, ids, live)


class KnownIds:
    """``event_id in KnownIds(events)``: whether ``events`` (a whole history, ids 1..N
    in order) holds a non-swfd event ``event_id``, as a set of those ids would say,
    without building one over the whole history."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    def __contains__(self, event_id: object) -> bool:
        if not isinstance(event_id, int) or not 1 <= event_id <= len(self.events):
            return False
        event = self.events[event_id - 1]
        return event["eventId"] == event_id and not is_swfd_event(event)


class Cutter:
    """Cuts a history into activations, a batch of events at a time.

    Between two calls it keeps the events not yet handed to an answered activation
    and the decision task started last, so cutting a history in two batches (the
    events up to one decision task, then the ones after) gives the activations one
    pass over the whole would give, provided no batch ends between a
    DecisionTaskCompleted and the decisions recorded with it (SWF writes those
    together, and a decision task's history ends at its DecisionTaskStarted).
    """

    def __init__(self) -> None:
        self.pending: list[dict[str, Any]] = []
        self.started: dict[str, Any] | None = None
        self.seen = 0  # how many of ``pending`` the started decision task saw

    def cut(self, raw_events: list[dict[str, Any]], known_ids: Container[Any],
            live: bool = True) -> list[Activation]:
        """The activations answered within ``raw_events`` (the next events of the
        history, in order); with ``live``, a last one for a decision task started but
        not answered. ``known_ids``: the ids of the history's non-swfd events (an
        "...Failed" event is an outcome when its initiated event is among them)."""
        failed_tasks = {attributes(e).get("decisionTaskCompletedEventId") for e in raw_events
                        if e["eventType"] == "MarkerRecorded"
                        and attributes(e).get("markerName") == ERROR_MARKER}
        events = [e for e in raw_events if not is_swfd_event(e)]
        recorded: dict[int, list[tuple[Key, dict[str, Any]]]] = {}
        for event in events:
            key = recorded_key(event, known_ids)
            if key is not None:
                task = attributes(event).get("decisionTaskCompletedEventId")
                recorded.setdefault(task, []).append((key, event))
        result: list[Activation] = []
        for event in events:
            kind = event["eventType"]
            if kind == "DecisionTaskStarted":
                self.started, self.seen = event, len(self.pending)
            elif kind == "DecisionTaskCompleted":
                if event["eventId"] in failed_tasks or self.started is None:
                    continue
                seen = self.seen
                result.append(Activation(self.started, self.pending[:seen], event["eventId"],
                                         recorded.get(event["eventId"], [])))
                self.pending, self.started, self.seen = self.pending[seen:], None, 0
            elif kind not in _DECISION_TASK_EVENTS:
                self.pending.append(event)
        if live and self.started is not None:
            result.append(Activation(self.started, self.pending[:self.seen]))
        return result
