"""Run one activity handler on a fake task: ``run_activity(resize, {"w": 64})``.

The handler gets the very :class:`swfd.worker.ActivityTask` the daemon's
worker gives it (input decoded by the definition's codec, ``heartbeat()``,
``cancel_requested``, ``swfd.Canceled``), so what passes here behaves the same
under the daemon. No endpoint is involved: heartbeats are recorded instead of
sent, and a cancel request is simulated after a chosen number of them.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from swfd import codecs, logs
from swfd.codecs import swf_length
from swfd.errors import Canceled, CodecError
from swfd.registry import ActivityDef, activity
from swfd.worker import MAX_RESULT, ActivityTask

COMPLETED, FAILED, CANCELED = "completed", "failed", "canceled"


@dataclass
class ActivityOutcome:
    """How the handler ended: ``status`` is "completed", "failed" or "canceled".

    ``result``: what the handler returned (``encoded``: as SWF would get it);
    ``exception``: what it raised (a ``swfd.Canceled`` for "canceled");
    ``reason``/``details``: what the worker would send with RespondActivityTaskFailed
    (or the cancel details); ``heartbeats``: the details of every ``heartbeat()``
    call, decoded (``raw_heartbeats``: as sent); ``task``: the task the handler saw.
    """

    status: str
    task: ActivityTask
    result: Any = None
    encoded: str | None = None
    exception: BaseException | None = None
    reason: str | None = None
    details: str | None = None
    heartbeats: list[Any] = field(default_factory=list)
    raw_heartbeats: list[str | None] = field(default_factory=list)

    @property
    def canceled(self) -> bool:
        return self.status == CANCELED

    def unwrap(self) -> Any:
        """The result; re-raises the handler's exception if it raised one."""
        if self.exception is not None:
            raise self.exception
        return self.result


def as_activity(handler: ActivityDef | Callable[[Any], Any], name: str | None = None,
                version: str | None = None, codec: str | None = None) -> ActivityDef:
    """An ActivityDef for ``handler``: itself if it is one, else a test type around it."""
    if isinstance(handler, ActivityDef):
        return handler
    if not callable(handler):
        raise TypeError(f"run_activity needs an @swfd.activity definition or a function taking "
                        f"(task), got {type(handler).__name__} {handler!r}")
    return activity(name or getattr(handler, "__name__", "TestActivity"), version or "test",
                    codec=codec or "json")(handler)


def _decoded(codec: str, encoded: str | None) -> Any:
    if encoded is None or codec == "raw":
        return encoded
    try:
        return json.loads(encoded)
    except ValueError:
        return encoded


def run_activity(handler: ActivityDef | Callable[[Any], Any], input: Any = None, *,
                 raw_input: str | None = None, cancel_after_heartbeats: int | None = None,
                 activity_id: str = "activity-1", workflow_id: str = "test-workflow",
                 run_id: str = "test-run") -> ActivityOutcome:
    """Run ``handler`` once, in this thread, and report how it ended.

    ``input`` is encoded with the definition's codec (``raw_input``: the SWF
    string itself, e.g. to test a malformed payload). ``cancel_after_heartbeats``:
    the task reports a cancel request from the n-th ``heartbeat()`` call on (0: from
    the start), as the worker's heartbeat thread would after SWF said so. Exceptions
    never propagate: they are in the outcome (``outcome.unwrap()`` re-raises).
    """
    definition = as_activity(handler)
    if raw_input is None:
        raw_input = codecs.encode(definition.codec, input, "run_activity input")
    task = ActivityTask({
        "taskToken": f"test-token-{activity_id}", "activityId": activity_id,
        "activityType": {"name": definition.name, "version": definition.version},
        "workflowExecution": {"workflowId": workflow_id, "runId": run_id},
        "startedEventId": 2, "input": raw_input,
    }, definition)
    outcome = ActivityOutcome(status=COMPLETED, task=task)

    def record_heartbeat() -> None:
        task.beat_wanted = False
        outcome.raw_heartbeats.append(task.heartbeat_details)
        outcome.heartbeats.append(_decoded(definition.codec, task.heartbeat_details))
        if cancel_after_heartbeats is not None and len(
                outcome.heartbeats) >= cancel_after_heartbeats:
            task.cancel_requested = True

    task.wake_supervisor = record_heartbeat  # the worker's heartbeat thread, in this test
    task.cancel_requested = cancel_after_heartbeats == 0
    try:
        with logs.task_scope(task.log_context):
            outcome.result = definition.func(task)
    except Canceled as exc:
        outcome.status, outcome.exception, outcome.details = CANCELED, exc, exc.details
        return outcome
    except Exception as exc:  # noqa: BLE001 - the outcome carries it, as the worker's answer
        return _failed(outcome, exc, f"{type(exc).__name__}: {exc}", traceback.format_exc())
    try:
        outcome.encoded = codecs.encode(definition.codec, outcome.result,
                                        f"result of activity {definition.name} "
                                        f"{definition.version}")
    except CodecError as exc:
        return _failed(outcome, exc, f"swfd: result could not be encoded: {exc}", str(exc))
    size = 0 if outcome.encoded is None else swf_length(outcome.encoded)
    if size > MAX_RESULT:
        error = ValueError(f"swfd: result too large: {size} characters, SWF allows {MAX_RESULT}")
        return _failed(outcome, error, str(error), None)
    return outcome


def _failed(outcome: ActivityOutcome, exc: BaseException, reason: str,
            details: str | None) -> ActivityOutcome:
    outcome.status, outcome.exception = FAILED, exc
    outcome.reason, outcome.details = reason, details
    return outcome
