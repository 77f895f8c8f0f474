"""In-memory state of open workflow executions, and its JSON form for SQLite.

Why in memory: every call on an open execution (poll, respond, heartbeat)
touches only open state, so keeping it in Python objects makes a call cost
independent of how many closed executions the database holds. Every change is
written through to SQLite in the same call (see ``store.py``), and this module
is the one place that says how an execution is serialised, so a restart
rebuilds exactly what was acknowledged.
"""

from __future__ import annotations

import base64
import binascii
import json
import json.encoder
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from swfd.local.faults import SWFFault

# SWF's quotas ("Amazon SWF Quotas" in the developer guide).
MAX_EVENTS = 25_000
MAX_OPEN_ACTIVITIES = 1_000
MAX_OPEN_TIMERS = 1_000
MAX_OPEN_CHILDREN = 1_000
MAX_OPEN_EXECUTIONS_PER_DOMAIN = 100_000
MAX_TAGS = 50


def now() -> float:
    return round(time.time(), 3)


def new_run_id() -> str:
    return uuid.uuid4().hex


def seconds(timeout: str | None) -> float | None:
    """An SWF duration string as seconds; ``None`` for ``"NONE"`` (no timer) or absent."""
    if timeout is None or timeout == "NONE":
        return None
    try:
        return float(int(timeout))
    except ValueError:
        raise SWFFault("ValidationException", f"invalid duration {timeout!r}") from None


def priority(value: str | None) -> int:
    try:
        return int(value) if value is not None else 0
    except ValueError:
        raise SWFFault("ValidationException", f"invalid taskPriority {value!r}") from None


def attributes_key(event_type: str) -> str:
    """``ActivityTaskScheduled`` -> ``activityTaskScheduledEventAttributes``."""
    return event_type[0].lower() + event_type[1:] + "EventAttributes"


def _not_serializable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _compact_encoder() -> Callable[[Any], str]:
    """``json.dumps(value, separators=(",", ":"))``, made once for the hot path (every
    call writes its execution's state, its events, a token and the answer).

    ``JSONEncoder.encode`` builds a new C encoder object and a dict for its
    circular-reference check on every call (1-2 us of a 2-6 us encode); this one
    is built once and checks no cycles (the engine's values are plain trees).
    Without json's C accelerator, the plain encoder."""
    make = json.encoder.c_make_encoder
    if make is None:
        return json.JSONEncoder(separators=(",", ":")).encode
    encode = make(None, _not_serializable, json.encoder.encode_basestring_ascii, None, ":", ",",
                  False, False, True)

    def dumps(value: Any) -> str:
        return "".join(encode(value, 0))

    return dumps


dumps_compact = _compact_encoder()


def encode_token(data: Any) -> str:
    return base64.urlsafe_b64encode(dumps_compact(data).encode()).decode()


# base64.urlsafe_b64decode, without its checks of what it is given (a token is a str)
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def decode_token(token: str, what: str) -> Any:
    try:
        return json.loads(binascii.a2b_base64(token.encode().translate(_FROM_URLSAFE)))
    except (ValueError, TypeError, UnicodeError):  # garbage is the client's error
        raise SWFFault("ValidationException", f"invalid {what}: {token[:64]!r}") from None


def decode_task_token(token: str, kind: str) -> tuple[str, int, int]:
    """(runId, scheduledEventId, startedEventId) of a task token of ``kind`` ("A" activity,
    "D" decision); ValidationException for anything else, never an error of ours."""
    data = decode_token(token, "taskToken")
    if not (isinstance(data, list) and len(data) == 4 and data[0] == kind
            and isinstance(data[1], str) and type(data[2]) is int and type(data[3]) is int
            and 0 <= data[2] <= MAX_EVENTS and 0 <= data[3] <= MAX_EVENTS):
        what = "an activity" if kind == "A" else "a decision"
        raise SWFFault("ValidationException", f"taskToken is not {what} task token")
    return data[1], data[2], data[3]


def compact(attrs: dict) -> dict:
    """Drop absent (None) members: SWF omits them from events and responses."""
    return {k: v for k, v in attrs.items() if v is not None}


class Event(dict):
    """A history event: a dict, plus its compact JSON once it is written to SQLite
    (``json``), so the answers that carry it (decision task pages, history pages)
    send those bytes instead of encoding the event again, page after page. An event
    never changes once recorded."""

    __slots__ = ("json",)


class EventList(list):
    """A page of events (a list) that the server writes from their stored JSON; an
    event without it (not written yet) is encoded here."""

    __slots__ = ()

    def to_json(self) -> str:
        return "[" + ",".join([getattr(e, "json", None) or dumps_compact(e)
                               for e in self]) + "]"


_NOT_IN_STATE = ("events", "persisted", "activities", "by_scheduled", "stored_state",
                 "fixed_json")
# An execution's members that never change once it has started (set in
# ``create_execution``; a reload builds a new object): ``to_json`` encodes them once
# per execution and every later state write only the rest (the state of a small
# execution is about half these; a call writes it once, at commit). Every member is in
# exactly one of these three or is timers, children or decision (a test checks):
# a member that can change must not be in _FIXED_IN_STATE (task_list changes with a
# decision's task list override).
_FIXED_IN_STATE = ("run_id", "workflow_id", "domain", "workflow_type", "priority",
                   "execution_timeout", "task_timeout", "child_policy", "lambda_role", "tags",
                   "start_ts", "parent", "parent_initiated_id", "seq")
_CHANGING_IN_STATE = ("task_list", "close_ts", "close_status", "cancel_requested",
                      "decision_pending", "previous_started", "latest_context",
                      "latest_activity_ts", "override")


def activity_json(act: Activity) -> str:
    return dumps_compact(vars(act))


def activity_from_json(text: str) -> Activity:
    return Activity(**json.loads(text))


@dataclass
class Activity:
    activity_id: str
    scheduled_id: int
    activity_type: dict
    task_list: str
    priority: int
    input: str | None
    schedule_to_start: str
    schedule_to_close: str
    start_to_close: str
    heartbeat: str
    scheduled_at: float
    started_id: int = 0
    started_at: float = 0.0
    identity: str | None = None
    heartbeat_deadline: float | None = None
    details: str | None = None
    cancel_requested_id: int = 0

    def deadlines(self) -> list[tuple[float, str]]:
        """Every timeout deadline still relevant, as (epoch, timeoutType)."""
        out = []
        s2c = seconds(self.schedule_to_close)
        if s2c is not None:
            out.append((self.scheduled_at + s2c, "SCHEDULE_TO_CLOSE"))
        if not self.started_id:
            s2s = seconds(self.schedule_to_start)
            if s2s is not None:
                out.append((self.scheduled_at + s2s, "SCHEDULE_TO_START"))
        else:
            st2c = seconds(self.start_to_close)
            if st2c is not None:
                out.append((self.started_at + st2c, "START_TO_CLOSE"))
            if self.heartbeat_deadline is not None:
                out.append((self.heartbeat_deadline, "HEARTBEAT"))
        return out


@dataclass
class Timer:
    timer_id: str
    started_id: int
    fire_at: float


@dataclass
class Child:
    workflow_id: str
    run_id: str
    workflow_type: dict
    initiated_id: int
    started_id: int


@dataclass
class DecisionTask:
    scheduled_id: int
    task_list: str
    priority: int
    start_to_close: str
    schedule_to_start: str | None
    scheduled_at: float
    started_id: int = 0
    started_at: float = 0.0


@dataclass
class Execution:
    run_id: str
    workflow_id: str
    domain: str
    workflow_type: dict
    task_list: str
    priority: str | None
    execution_timeout: str
    task_timeout: str
    child_policy: str
    lambda_role: str | None
    tags: list
    start_ts: float
    close_ts: float | None = None
    close_status: str | None = None
    parent: dict | None = None
    parent_initiated_id: int = 0
    cancel_requested: bool = False
    seq: int = 0  # start order: ties on start/close timestamps list in this order
    activities: dict[str, Activity] = field(default_factory=dict)
    timers: dict[str, Timer] = field(default_factory=dict)
    children: dict[str, Child] = field(default_factory=dict)
    decision: DecisionTask | None = None
    decision_pending: bool = False
    previous_started: int = 0
    latest_context: str | None = None
    latest_activity_ts: float | None = None
    # RespondDecisionTaskCompleted's taskList override: {"name", "timeout"} or None.
    override: dict | None = None
    # Not serialised: the history and how much of it SQLite already has.
    events: list[dict] = field(default_factory=list, repr=False)
    persisted: int = 0
    # Not serialised: open activities by scheduledEventId (task tokens name that id).
    by_scheduled: dict[int, Activity] = field(default_factory=dict, repr=False)
    # Not serialised: the state JSON its SQLite row holds (None: no row written or read
    # yet), so a call that changed only events or activities does not rewrite the row.
    stored_state: str | None = field(default=None, repr=False)
    # Not serialised: the JSON of its _FIXED_IN_STATE members, '{...' (see to_json).
    fixed_json: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.by_scheduled = {a.scheduled_id: a for a in self.activities.values()}

    @property
    def is_open(self) -> bool:
        return self.close_status is None

    @property
    def ref(self) -> dict:
        return {"workflowId": self.workflow_id, "runId": self.run_id}

    def activity_by_scheduled(self, scheduled_id: int) -> Activity | None:
        return self.by_scheduled.get(scheduled_id)

    def clear_activities(self) -> None:
        self.activities.clear()
        self.by_scheduled.clear()

    def deadline(self) -> float | None:
        limit = seconds(self.execution_timeout)
        return None if limit is None else self.start_ts + limit

    def to_json(self) -> str:
        """The execution without its history and activities (stored in their own tables).

        Built from the live ``__dict__`` of each part, not ``dataclasses.asdict``
        (which deep-copies): a call's cost must not grow with the history. The
        members that never change are encoded once (``fixed_json``) and spliced in
        front of the rest: the same JSON object, with its keys in another order.
        """
        own = vars(self)
        fixed = self.fixed_json
        if fixed is None:
            fixed = self.fixed_json = dumps_compact({k: own[k] for k in _FIXED_IN_STATE})[:-1]
        data = {k: own[k] for k in _CHANGING_IN_STATE}
        data["timers"] = {k: vars(v) for k, v in self.timers.items()}
        data["children"] = {k: vars(v) for k, v in self.children.items()}
        data["decision"] = vars(self.decision) if self.decision is not None else None
        return f"{fixed},{dumps_compact(data)[1:]}"

    @classmethod
    def from_json(cls, text: str, activities: list[Activity] | None = None) -> Execution:
        data = json.loads(text)
        data.pop("activities", None)
        data["activities"] = {a.activity_id: a for a in activities or ()}
        data["timers"] = {k: Timer(**v) for k, v in data["timers"].items()}
        data["children"] = {k: Child(**v) for k, v in data["children"].items()}
        if data["decision"] is not None:
            data["decision"] = DecisionTask(**data["decision"])
        return cls(**data)

    def info(self) -> dict:
        """The WorkflowExecutionInfo shape."""
        return compact(
            {
                "execution": self.ref,
                "workflowType": self.workflow_type,
                "startTimestamp": self.start_ts,
                "closeTimestamp": self.close_ts,
                "executionStatus": "OPEN" if self.is_open else "CLOSED",
                "closeStatus": self.close_status,
                "parent": self.parent,
                "tagList": self.tags or None,
                "cancelRequested": self.cancel_requested,
            }
        )
