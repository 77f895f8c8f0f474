"""Replaying an ``async def`` workflow against its history, one activation at a time.

For each decision task already answered, :class:`Replay` delivers the events
that task saw, runs the coroutine until it waits on something the history
does not hold yet, and checks every decision the code makes against those the
task recorded, in order. A disagreement is a :class:`swfd.NonDeterminismError`
naming the history's event and the workflow's line, never a silent wrong
decision. Then it does the same for the decision task being decided now,
and the decisions made there that are not in the history yet are the answer.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from asyncio import CancelledError
from datetime import datetime
from typing import Any, Callable

from swfd import codecs
from swfd.decisions import Decisions
from swfd.errors import (
    ActivityFailed,
    ChildWorkflowFailed,
    CodecError,
    ContinueAsNew,
    NonDeterminismError,
    WorkflowFailed,
)
from swfd.flow.adapter import FlowWorkflow
from swfd.flow.commands import Activation, Key, activations, describe, make_key, timestamp
from swfd.flow.context import CHILD_SUFFIX, WorkflowContext, failure_decision
from swfd.flow.futures import Loop
from swfd.history import attributes

_FLOW_DIR = os.path.dirname(os.path.abspath(__file__))
#: Exceptions that close the workflow as failed; any other is a bug in the decision logic.
#: A payload the codec cannot decode (a signal's input, an activity's result) will not
#: decode on a retry either: it fails the execution with reason ``swfd-codec-error``.
WORKFLOW_FAILURES = (WorkflowFailed, ActivityFailed, ChildWorkflowFailed, CodecError)
#: Decisions whose input is compared on replay: the same ids with other inputs would
#: hand recorded results to the wrong call.
_WITH_INPUT = frozenset({"ScheduleActivityTask", "StartChildWorkflowExecution"})


class Replay:
    """One run of a workflow coroutine over one history (one decision task's worth)."""

    def __init__(self, func: Callable[..., Any], events: list[dict[str, Any]],
                 execution: dict[str, str], codec: str, continue_as_new_after: int,
                 input: Any = None, live: bool = True) -> None:
        self.func = func
        self.codec = codec
        self.loop = Loop()
        self.decisions = Decisions()
        self.activations = activations(events, live=live)
        self.activity_ids = {e["eventId"]: attributes(e).get("activityId")
                             for e in events if e["eventType"] == "ActivityTaskScheduled"}
        self.activation: Activation = self.activations[0] if self.activations else None  # type: ignore[assignment]
        self.replaying = True
        self.now: datetime | None = None
        self.matched = 0
        self.context = WorkflowContext(self, execution, codec, continue_as_new_after)
        self.context.input = input
        self.finished = False
        self.error: NonDeterminismError | None = None
        args = (self.context, input) if _takes_input(func) else (self.context,)
        self.root = self.loop.create_task(func(*args), f"workflow {func.__qualname__}")

    # -- driving --------------------------------------------------------------------

    def run(self) -> Decisions:
        """Replay every activation; return the decisions of the live one (if any)."""
        try:
            for activation in self.activations:
                self.activation = activation
                self.replaying = activation.recorded is not None
                self.now = timestamp(activation.started)
                self.matched = 0
                for event in activation.events:
                    self.context.deliver(event)
                self.loop.run_until_blocked()
                if self.error is not None:  # raised where user code might have caught it
                    raise self.error
                self.close_if_done()
                if self.replaying:
                    self.check_all_matched()
        finally:
            self.finish()
        return self.decisions

    def finish(self) -> None:
        """Close the coroutines still waiting, deciding nothing more: they are
        rebuilt from the history at the next decision task."""
        self.finished = True
        for task in self.loop.tasks:
            if not task.done():
                with contextlib.suppress(BaseException):  # code that ignores GeneratorExit
                    task.coro.close()

    def close_if_done(self) -> None:
        """Once the coroutine has ended, decide the close (again, if SWF refused it)."""
        root = self.root
        if not root.done():
            return
        where = f"the end of {self.func.__qualname__}"
        if root.cancelled():
            if self.context.cancel_requested:
                self.emit(make_key("CancelWorkflowExecution"), where,
                          lambda d: d.cancel_workflow_execution())
            else:
                self.emit(make_key("FailWorkflowExecution"), where,
                          lambda d: d.fail_workflow_execution(reason="canceled"))
            return
        error = root.exception()
        if error is None:
            result = codecs.encode(self.codec, root.result(),
                                   f"result of workflow {self.func.__qualname__}")
            self.emit(make_key("CompleteWorkflowExecution"), where,
                      lambda d: d.complete_workflow_execution(result))
        elif isinstance(error, ContinueAsNew):
            self.continue_as_new(error, where)
        elif isinstance(error, WORKFLOW_FAILURES):
            reason, details = failure_decision(error)
            self.emit(make_key("FailWorkflowExecution"), where,
                      lambda d: d.fail_workflow_execution(reason=reason, details=details))
        else:
            raise error

    def continue_as_new(self, request: ContinueAsNew, where: str) -> None:
        options = dict(request.options)
        encoded = codecs.encode(self.codec, request.input, "input of continue-as-new")
        renamed = {"task_start_to_close_timeout": "start_to_close_timeout"}
        options = {renamed.get(k, k): v for k, v in options.items()}
        self.emit(make_key("ContinueAsNewWorkflowExecution"), where,
                  lambda d: d.continue_as_new_workflow_execution(input=encoded, **options))

    # -- matching -------------------------------------------------------------------

    def next_recorded(self) -> tuple[Key | None, dict[str, Any]]:
        """The key and event of the next decision the current (past) activation recorded."""
        recorded = self.activation.recorded or []
        return recorded[self.matched] if self.matched < len(recorded) else (None, {})

    def emit(self, key: Key, where: str, build: Callable[[Decisions], None],
             payload: str | None = None) -> None:
        """A decision the code makes: checked against the history while replaying
        (``payload``, the input it carries, too), added to the answer in the live
        decision task."""
        if self.finished:
            return
        try:
            self.match(key, where, build, payload)
        except NonDeterminismError as exc:
            self.error = self.error or exc
            raise

    def match(self, key: Key, where: str, build: Callable[[Decisions], None],
              payload: str | None) -> None:
        if not self.replaying:
            build(self.decisions)
            return
        recorded = self.activation.recorded or []
        if self.matched >= len(recorded):
            raise NonDeterminismError(
                f"{where}: the code decides {describe(key)}, but the decision task completed "
                f"at event {self.activation.completed_event_id} recorded no more decisions "
                f"({len(recorded)} in all): the workflow's code changed under this "
                "execution (use wf.patched() to branch safely)")
        expected, event = recorded[self.matched]
        if expected != key:
            raise NonDeterminismError(
                f"{where}: the code decides {describe(key)}, but the history recorded "
                f"{describe(expected)} at event {event['eventId']} ({event['eventType']}): the "
                "workflow's code changed under this execution (use wf.patched() to branch "
                "safely)")
        if key[0] in _WITH_INPUT and attributes(event).get("input") != payload:
            raise NonDeterminismError(
                f"{where}: the code decides {describe(key)} with another input than the "
                f"history recorded at event {event['eventId']} ({event['eventType']}) (inputs "
                "not shown: they are payloads): the workflow's code changed under this "
                "execution (use wf.patched() to branch safely)")
        self.matched += 1

    def check_all_matched(self) -> None:
        recorded = self.activation.recorded or []
        if self.matched < len(recorded):
            key, event = recorded[self.matched]
            raise NonDeterminismError(
                f"{waiting_line(self.root)}: the history recorded {describe(key)} at event "
                f"{event['eventId']} ({event['eventType']}), but the code now waits here "
                "without deciding it: the workflow's code changed under this execution "
                "(use wf.patched() to branch safely)")


def _takes_input(func: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return True
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in parameters)


def waiting_line(task: Any) -> str:
    """Where the innermost workflow coroutine awaited by ``task`` is suspended."""
    found = "<the workflow's current await>"
    seen = 0
    while task is not None and seen < 1000:
        seen += 1
        coro = getattr(task, "coro", None)
        while coro is not None and seen < 1000:
            seen += 1
            frame = getattr(coro, "cr_frame", None)
            if frame is not None and os.path.dirname(os.path.abspath(
                    frame.f_code.co_filename)) != _FLOW_DIR:
                found = f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
            coro = getattr(coro, "cr_await", None)
        task = getattr(task, "waiting_on", None)
    return found


def _input(events: list[dict[str, Any]], codec: str, name: str) -> Any:
    started = next((e for e in events if e["eventType"] == "WorkflowExecutionStarted"), None)
    raw = attributes(started).get("input") if started else None
    return codecs.decode(codec, raw, f"input of workflow {name}")


def check_history(definition: Any, events: list[dict[str, Any]],
                  execution: dict[str, str] | None = None) -> None:
    """Replay ``definition`` (an ``async def`` workflow) against a recorded history
    (boto3's events, or ``swfd history --json``'s); raise
    :class:`swfd.NonDeterminismError` where the code would decide otherwise.

    A history does not hold its own workflow id and run id: give ``execution``
    when the code reads ``wf.workflow_id``/``wf.run_id``. Without it the workflow
    id is read back from default child ids (``<id>-child-N``) if there are any.
    """
    adapter = getattr(definition, "func", definition)
    if not isinstance(adapter, FlowWorkflow):
        raise TypeError(f"{definition!r} is not an async def workflow: only those replay")
    adapter.replay(events, execution or _execution_of(events), codec=definition.codec,
                   input=_input(events, definition.codec, definition.name), live=False)


def _execution_of(events: list[dict[str, Any]]) -> dict[str, str]:
    for event in events:
        if event["eventType"] == "StartChildWorkflowExecutionInitiated":
            head, sep, tail = attributes(event).get("workflowId", "").rpartition(CHILD_SUFFIX)
            if sep and tail.isdigit():
                return {"workflowId": head, "runId": ""}
    return {"workflowId": "", "runId": ""}


__all__ = ["CancelledError", "Replay", "check_history"]
