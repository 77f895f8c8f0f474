"""What :func:`swfd.testing.run_workflow` returns: a :class:`WorkflowRun`.

The history it recorded (the last run's, every run's through continue-as-new,
the children's) and the questions a test asks of it: how it closed, with what
result, which activities and timers, which markers and decider errors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from swfd import codecs
from swfd.admin import CLOSE_STATUS_OF
from swfd.decider import ERROR_MARKER, is_swfd_event
from swfd.errors import CodecError
from swfd.history import CLOSE_EVENTS, attributes
from swfd.registry import WorkflowDef


@dataclass
class WorkflowRun:
    """One workflow driven by :func:`run_workflow`: its history and how it closed.

    ``events`` is the last run's whole history (swfd's own markers and timers
    included); ``runs`` every run followed through continue-as-new, oldest
    first, as ``(execution, events)``; ``children`` the histories of child
    workflows by workflowId; ``heartbeats`` each activityId's heartbeat details
    as sent; ``elapsed`` the virtual seconds the clock moved; ``steps`` the
    tasks handled.
    """

    workflow: WorkflowDef
    execution: dict[str, str]
    events: list[dict[str, Any]] = field(default_factory=list)
    runs: list[tuple[dict[str, str], list[dict[str, Any]]]] = field(default_factory=list)
    children: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    heartbeats: dict[str, list[str | None]] = field(default_factory=dict)
    elapsed: float = 0.0
    steps: int = 0
    wall_seconds: float = 0.0

    # -- how it closed --------------------------------------------------------------

    @property
    def close_event(self) -> dict[str, Any] | None:
        last = self.events[-1] if self.events else None
        return last if last is not None and last["eventType"] in CLOSE_EVENTS else None

    @property
    def status(self) -> str:
        """COMPLETED, FAILED, CANCELED, TIMED_OUT, TERMINATED, CONTINUED_AS_NEW, or OPEN."""
        close = self.close_event
        return CLOSE_STATUS_OF[close["eventType"]] if close else "OPEN"

    @property
    def result(self) -> Any:
        """The completed result, decoded with the workflow's codec (None otherwise).

        A string the decision logic gave as the result is sent unchanged (the decider
        takes a ``str`` as already encoded), so one that is not JSON comes back as is.
        """
        close = self.close_event
        if close is None or close["eventType"] != "WorkflowExecutionCompleted":
            return None
        raw = attributes(close).get("result")
        try:
            return codecs.decode(self.workflow.codec, raw,
                                 f"result of workflow {self.workflow.name}")
        except CodecError:
            return raw

    @property
    def reason(self) -> str | None:
        return attributes(self.close_event).get("reason") if self.close_event else None

    @property
    def details(self) -> str | None:
        return attributes(self.close_event).get("details") if self.close_event else None

    def assert_completed(self) -> Any:
        """The result; an AssertionError with the history if the workflow did not complete."""
        if self.status != "COMPLETED":
            raise AssertionError(f"workflow {self.workflow.name} {self.workflow.version} "
                                 f"closed {self.status} (reason {self.reason!r}):\n"
                                 f"{self.table()}")
        return self.result

    # -- the history ------------------------------------------------------------------

    @property
    def history(self) -> Any:
        """A :class:`swfd.history.History` of the last run, as a decider sees it."""
        from swfd.history import History

        return History([e for e in self.events if not is_swfd_event(e)])

    def event_types(self) -> list[str]:
        return [e["eventType"] for e in self.events]

    def events_of(self, event_type: str) -> list[dict[str, Any]]:
        """The events of one type, each as its attributes plus ``eventId``."""
        return [{"eventId": e["eventId"], **attributes(e)} for e in self.events
                if e["eventType"] == event_type]

    def activities(self) -> list[str]:
        """Names of the activities scheduled, in order (retries included)."""
        return [a["activityType"]["name"] for a in self.events_of("ActivityTaskScheduled")]

    def timers(self) -> list[tuple[str, int]]:
        """``(timerId, seconds)`` of every timer the workflow started (not swfd's own)."""
        return [(t["timerId"], int(t["startToFireTimeout"]))
                for t in self.events_of("TimerStarted") if not t["timerId"].startswith("swfd-")]

    def markers(self, name: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.events_of("MarkerRecorded")
                if name is None or m["markerName"] == name]

    def decider_errors(self) -> list[dict[str, Any]]:
        """The ``swfd:decider-error`` markers' details (attempt, error, traceback)."""
        return [json.loads(m.get("details") or "{}") for m in self.markers(ERROR_MARKER)]

    def save_history(self, path: Any) -> None:
        """Write the last run's history as ``swfd history --json`` would, e.g. to replay
        it with :func:`swfd.testing.check_replay` after the code changes."""
        from pathlib import Path

        from swfd.testing.replay import dump_history

        Path(path).write_text(dump_history(self.events))

    def table(self) -> str:
        """The history as ``swfd history`` prints it."""
        from swfd.admin import history_table

        return history_table(self.events)
