"""Replaying an ``async def`` workflow against its history, one activation at a time.

For each decision task already answered, :class:`Replay` delivers the events
that task saw, runs the coroutine until it waits on something the history
does not hold yet, and checks every decision the code makes against those the
task recorded, in order. A disagreement is a :class:`swfd.NonDeterminismError`
naming the history's event and the workflow's line, never a silent wrong
decision. Then it does the same for the decision task being decided now,
and the decisions made there that are not in the history yet are the answer.

A replay run with ``keep`` can stay suspended after the live decision task
and :meth:`Replay.resume` with the run's next history (swfd.flow.sticky): it
then takes only the events after those it consumed, once they show that the
decision task it answered was completed with exactly the decisions it made.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from asyncio import CancelledError
from datetime import datetime
from typing import Any, Callable

from swfd import codecs
from swfd.decider import is_swfd_event
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
from swfd.flow.commands import (
    Activation,
    Cutter,
    Key,
    KnownIds,
    describe,
    make_key,
    normalised,
    timestamp,
)
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
        events = normalised(events)
        self.cutter = Cutter()
        self.activations = self.cutter.cut(
            events, {e["eventId"] for e in events if not is_swfd_event(e)}, live)
        self.activity_ids: dict[int, str | None] = {}
        self.note_scheduled(events)
        self.activation: Activation = self.activations[0] if self.activations else None  # type: ignore[assignment]
        self.replaying = True
        self.now: datetime | None = None
        self.matched = 0
        self.context = WorkflowContext(self, execution, codec, continue_as_new_after)
        self.context.input = input
        self.finished = False
        self.error: NonDeterminismError | None = None
        # For resume(): how many events were consumed (the history must be ids 1..N),
        # the last of them, the live decision task's DecisionTaskStarted id, and the
        # (key, payload) of each decision made in it, in order.
        contiguous = bool(events) and all(e["eventId"] == i for i, e in enumerate(events, 1))
        self.consumed = len(events) if contiguous else 0
        self.tail = _identity(events[-1]) if contiguous else None
        self.live_started: int | None = None
        self.emitted: list[tuple[Key, str | None]] = []
        args = (self.context, input) if _takes_input(func) else (self.context,)
        self.root = self.loop.create_task(func(*args), f"workflow {func.__qualname__}")

    def note_scheduled(self, events: list[dict[str, Any]]) -> None:
        """Remember which activity each ActivityTaskScheduled event scheduled."""
        for event in events:
            if event["eventType"] == "ActivityTaskScheduled":
                self.activity_ids[event["eventId"]] = attributes(event).get("activityId")

    # -- driving --------------------------------------------------------------------

    def run(self, keep: bool = False) -> Decisions:
        """Replay every activation; return the decisions of the live one (if any).

        With ``keep``, a replay that ends waiting in a live decision task is left
        suspended (see :meth:`resumable`) instead of closed."""
        played = False
        try:
            self.play(self.activations)
            played = True
        finally:
            if not (keep and played and self.resumable()):
                self.finish()
            self.activations = []  # played: not kept with a suspended replay
        return self.decisions

    def play(self, activations: list[Activation]) -> None:
        """Deliver each activation's events and run the coroutine until it waits."""
        self.live_started = None
        for activation in activations:
            self.activation = activation
            self.replaying = activation.recorded is not None
            self.now = timestamp(activation.started)
            self.matched = 0
            if not self.replaying:
                self.emitted = []
            for event in activation.events:
                self.context.deliver(event)
            self.loop.run_until_blocked()
            if self.error is not None:  # raised where user code might have caught it
                raise self.error
            self.close_if_done()
            if self.replaying:
                self.check_all_matched()
        if activations and activations[-1].recorded is None:
            self.live_started = int(activations[-1].started["eventId"])

    def resumable(self) -> bool:
        """True when this replay waits in a live decision task of a run still open, over
        a history of ids 1..N: :meth:`resume` can take the run's next history."""
        return (not self.finished and self.live_started is not None and self.tail is not None
                and not self.root.done())

    def resume(self, raw_events: list[dict[str, Any]]) -> Decisions | None:
        """The decisions for ``raw_events`` (the run's whole history, ids 1..N, as a
        decision task has it), taking only the events after those consumed.

        None, with this replay closed, when they do not continue what it consumed and
        decided: another prefix, a gap, or the decision task it answered not completed
        with exactly its decisions (the answer was lost and the task timed out, or SWF
        refused it and swfd recorded a decider error). A full replay is then the answer.
        Raises what a full replay would raise, and is then closed too.
        """
        new = self.next_events(raw_events)
        activations = None if new is None else self.cutter.cut(new, KnownIds(raw_events))
        if not activations or not self.confirms(activations[0]):
            self.finish()
            return None
        self.note_scheduled(new or [])
        self.consumed, self.tail = len(raw_events), _identity(raw_events[-1])
        self.decisions = Decisions()
        played = False
        try:
            self.play(activations[1:])
            played = True
        finally:
            if not (played and self.resumable()):
                self.finish()
        return self.decisions

    def next_events(self, raw_events: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """The events after those consumed, if ``raw_events`` begins with them (checked
        at the last one: a run's history only grows) and its ids run on to N = its
        length without a gap; else None."""
        consumed = self.consumed
        if (self.tail is None or len(raw_events) <= consumed
                or _identity(raw_events[consumed - 1]) != self.tail
                or raw_events[-1]["eventId"] != len(raw_events)):
            return None
        new = raw_events[consumed:]
        if any(e["eventId"] != i for i, e in enumerate(new, consumed + 1)):
            return None
        return new

    def confirms(self, activation: Activation) -> bool:
        """True when ``activation`` is the decision task this replay answered live,
        completed, recording exactly the decisions it made (what a full replay would
        check them against): its state is then the one a full replay reaches."""
        recorded = activation.recorded
        if (recorded is None or activation.started["eventId"] != self.live_started
                or len(recorded) != len(self.emitted)):
            return False
        for (key, event), (made, payload) in zip(recorded, self.emitted):
            if key != made:
                return False
            if key[0] in _WITH_INPUT and attributes(event).get("input") != payload:
                return False
            if key[0] == "RecordMarker" and payload is not None and (
                    attributes(event).get("details") != payload):
                return False
        return True

    def finish(self) -> None:
        """Close the coroutines still waiting, deciding nothing more: they are
        rebuilt from the history at the next decision task. Their ``finally`` blocks
        run now, with this replay's loop as the current one (never another
        workflow's running meanwhile)."""
        if self.finished:
            return
        self.finished = True
        with self.loop.entered():
            for task in list(self.loop.tasks):
                if not task.done():
                    with contextlib.suppress(BaseException):  # code ignoring GeneratorExit
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
        decision task. (A ``random-seed`` marker's payload is the seed: checked only
        by :meth:`confirms`, since it decides the draws.)"""
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
            self.emitted.append((key, payload))
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


def _identity(event: dict[str, Any]) -> tuple[Any, ...]:
    """What tells a run's event apart (a run's history never changes, only grows; a
    timestamp would differ between parsers, a datetime or epoch seconds)."""
    return event["eventId"], event["eventType"]


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
