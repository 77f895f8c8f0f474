"""The workflow context: what an ``async def`` workflow calls (``wf.activity`` ...).

Every call that decides something goes through :meth:`Replay.emit` with a key
(what it acts on) and the line of workflow code that asked for it; every
outcome arrives as a history event through :meth:`WorkflowContext.deliver`.
Ids are counters in call order, so the same code over the same history gets
the same ids.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import random as _random
import uuid
from collections import deque
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from swfd import codecs
from swfd.codecs import truncate
from swfd.errors import (
    ActivityFailed,
    ChildWorkflowFailed,
    CodecError,
    ContinueAsNew,
    ExternalWorkflowFailed,
    SwfdError,
)
from swfd.flow.commands import make_key
from swfd.flow.futures import CancelledError, Future, wait
from swfd.flow.retry import NO_RETRY, Retry
from swfd.history import attributes

if TYPE_CHECKING:
    from swfd.flow.replay import Replay

_FLOW_DIR = os.path.dirname(os.path.abspath(__file__))
PATCH_MARKER = "patched:"
RANDOM_MARKER = "random-seed"
CHILD_SUFFIX = "-child-"  # default child workflow ids: <parent's workflow id>-child-N
MAX_ID = 256


def caller_line() -> str:
    """``file:line in function`` of the nearest caller outside swfd.flow (the
    workflow's own code): where a decision was asked for."""
    frame = inspect.currentframe()
    while frame is not None and os.path.dirname(os.path.abspath(
            frame.f_code.co_filename)) == _FLOW_DIR:
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"


class _Outcome:
    """How one activity attempt ended, as the history says."""

    def __init__(self, kind: str, result: str | None = None, reason: str | None = None,
                 details: str | None = None) -> None:
        self.kind, self.result, self.reason, self.details = kind, result, reason, details


def _seconds(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{what} must be a number of seconds >= 0, got {value!r}")
    return int(-(-value // 1))  # whole seconds, rounded up (SWF timers take integers)


class WorkflowContext:
    """``wf``: the first argument of an ``async def`` workflow.

    Decisions: :meth:`activity`, :meth:`sleep`, :meth:`signal`, :meth:`child`,
    :meth:`signal_external`, :meth:`cancel_external`, :meth:`record_marker`,
    :meth:`continue_as_new`. Replay-safe values: :meth:`now`, :meth:`random`,
    :meth:`uuid4`, :meth:`patched`. Facts: ``workflow_id``, ``run_id``,
    ``input``, ``is_replaying``, ``cancel_requested``, ``history_length``,
    ``continue_as_new_suggested``.
    """

    def __init__(self, replay: Replay, execution: dict[str, str], codec: str,
                 continue_as_new_after: int) -> None:
        self._replay = replay
        self.workflow_id: str = execution.get("workflowId", "")
        self.run_id: str = execution.get("runId", "")
        self.codec = codec
        self.continue_as_new_after = continue_as_new_after
        self.input: Any = None
        self.cancel_requested = False
        self._counters: dict[str, int] = {}
        self._rng: _random.Random | None = None
        self._activities: dict[str, Future] = {}
        self._timers: dict[str, Future] = {}
        self._children: dict[str, Future] = {}
        self._child_runs: dict[str, str] = {}
        self._externals: dict[str, Future] = {}  # by control
        self._initiated: dict[int, str] = {}  # initiated event id -> control
        self._signals: dict[str, deque[Any]] = {}
        self._signal_waiters: dict[str, deque[Future]] = {}
        self._patches: dict[str, bool] = {}

    # -- facts --------------------------------------------------------------------

    def now(self) -> datetime:
        """The time of the current decision task (DecisionTaskStarted): the same on replay."""
        return self._replay.now

    @property
    def is_replaying(self) -> bool:
        """True while re-running decision tasks already answered."""
        return self._replay.replaying

    @property
    def history_length(self) -> int:
        """Events in the history when the current decision task started."""
        return int(self._replay.activation.started["eventId"])

    @property
    def continue_as_new_suggested(self) -> bool:
        """True once the history has ``continue_as_new_after`` events (the decorator's
        keyword, 10,000 by default; SWF's limit is 25,000)."""
        return self.history_length >= self.continue_as_new_after

    def random(self) -> _random.Random:
        """A random generator whose seed is in the history: the same draws on every replay.

        The first call records the seed (drawn from the run id) in a ``random-seed``
        marker; replays, and a replay check that knows only the events, read it back.
        """
        if self._rng is None:
            key = make_key("RecordMarker", RANDOM_MARKER)
            recorded_key, event = self._replay.next_recorded()
            if self._replay.replaying and recorded_key == key:
                seed = attributes(event).get("details") or ""
            else:
                seed = hashlib.sha256(f"swfd-flow:{self.run_id}".encode()).hexdigest()[:32]
            self._replay.emit(key, caller_line(), lambda d: d.record_marker(RANDOM_MARKER, seed),
                              payload=seed)
            self._rng = _random.Random(seed)
        return self._rng

    def uuid4(self) -> uuid.UUID:
        """A UUID drawn from :meth:`random` (replay-identical)."""
        return uuid.UUID(int=self.random().getrandbits(128), version=4)

    def patched(self, patch_id: str) -> bool:
        """True where the new code may run, False where an execution started under
        the old code must keep the old path: ``if wf.patched("fraud-check"): ...``.

        The first time new code passes here it records a ``patched:<id>`` marker;
        a replay finds that marker where the call is and returns True, and returns
        False for histories recorded before the patch (no marker there).
        """
        if patch_id in self._patches:
            return self._patches[patch_id]
        key = make_key("RecordMarker", PATCH_MARKER + patch_id)
        applies = not self._replay.replaying or self._replay.next_recorded()[0] == key
        if applies:
            self._replay.emit(key, caller_line(),
                              lambda d: d.record_marker(PATCH_MARKER + patch_id, patch_id))
        self._patches[patch_id] = applies
        return applies

    def start(self, coro: Any, name: str = "task") -> Future:
        """Run a coroutine alongside (``asyncio.create_task``); await the task later."""
        return self._replay.loop.create_task(coro, name)

    # -- decisions ----------------------------------------------------------------

    @staticmethod
    def _claim(table: dict[str, Future], key: str, future: Future, what: str,
               where: str) -> None:
        """Map ``key`` to ``future``; an id still in use would get another's outcome."""
        current = table.get(key)
        if current is not None and not current.done():
            raise ValueError(f"{where}: {what} {key!r} is already in use by one still open; "
                             "give each concurrent one its own id")
        table[key] = future

    def _next(self, counter: str) -> int:
        self._counters[counter] = self._counters.get(counter, 0) + 1
        return self._counters[counter]

    def activity(self, activity: Any, input: Any = None, *, version: str | None = None,
                 task_list: str | None = None, id: str | None = None,
                 retry: Retry | None = None, codec: str | None = None,
                 heartbeat_timeout: Any = None, start_to_close_timeout: Any = None,
                 schedule_to_start_timeout: Any = None, schedule_to_close_timeout: Any = None,
                 task_priority: int | None = None) -> Future:
        """Schedule an activity (retried per ``retry``); await its decoded result.

        ``activity`` is an ``@swfd.activity`` definition (its name, version, task
        list, codec and retry policy are the defaults) or a type name with
        ``version=`` (another plugin's type; codec defaults to the workflow's).
        Timeouts left None are the type's registered defaults. A failure that
        ends the retries raises :class:`swfd.ActivityFailed`.
        """
        where = caller_line()
        if isinstance(activity, str):
            if not version:
                raise ValueError(f"{where}: wf.activity({activity!r}) needs version=")
            name = activity
            codec = codec or self.codec
        else:
            name, version = activity.name, version or activity.version
            task_list = task_list or activity.task_list
            codec = codec or activity.codec
            retry = retry or getattr(activity, "retry", None)
        policy = retry or NO_RETRY
        if not isinstance(policy, Retry):
            raise TypeError(f"{where}: retry must be a swfd.Retry, got {type(policy).__name__}")
        base = id or f"{name}-{self._next('activity')}"
        params = {"task_list": task_list, "heartbeat_timeout": heartbeat_timeout,
                  "start_to_close_timeout": start_to_close_timeout,
                  "schedule_to_start_timeout": schedule_to_start_timeout,
                  "schedule_to_close_timeout": schedule_to_close_timeout,
                  "task_priority": task_priority,
                  "input": codecs.encode(codec, input, f"input of activity {name}")}
        return self.start(self._retrying(name, version, base, params, policy, codec, where),
                          f"activity {base}")

    async def _retrying(self, name: str, version: str, base: str, params: dict[str, Any],
                        policy: Retry, codec: str, where: str) -> Any:
        first_scheduled = self.now()
        for attempt in range(1, 1_000_000):
            activity_id = base if attempt == 1 else f"{base}#{attempt}"
            control = None
            if policy.max_attempts != 1:
                control = f"attempt {attempt} of {policy.max_attempts or 'unlimited'}"
            outcome = await self._schedule(activity_id, name, version, control, params, where)
            if outcome.kind == "completed":
                return codecs.decode(codec, outcome.result,
                                     f"result of activity {name} {activity_id}")
            error = ActivityFailed(activity_id, f"{name}/{version}", outcome.kind,
                                   outcome.reason, outcome.details, attempt)
            if (outcome.kind in ("canceled", "schedule_failed") or error.non_retryable
                    or policy.gives_up_on(error.error_type) or not policy.attempts_left(attempt)):
                raise error
            delay = policy.delay_before(attempt + 1)
            if policy.schedule_to_close is not None and (
                    (self.now() - first_scheduled).total_seconds() + delay
                    >= policy.schedule_to_close):
                raise error
            if delay:
                await self._timer(f"backoff-{base}#{attempt + 1}", delay, where)
        raise AssertionError("unreachable")

    def _schedule(self, activity_id: str, name: str, version: str, control: str | None,
                  params: dict[str, Any], where: str) -> Future:
        future = Future(f"activity {activity_id}")
        self._claim(self._activities, activity_id, future, "activity id", where)
        key = make_key("ScheduleActivityTask", activity_id, {"name": name, "version": version})
        self._replay.emit(key, where, lambda d: d.schedule_activity_task(
            activity_id, name, version, control=control, **params), payload=params["input"])
        future.on_cancel = lambda: self._replay.emit(
            make_key("RequestCancelActivityTask", activity_id), where,
            lambda d: d.request_cancel_activity_task(activity_id))
        return future

    def sleep(self, seconds: float, id: str | None = None) -> Future:
        """A durable timer: ``await wf.sleep(3600)``. Cancelling it cancels the timer."""
        where = caller_line()
        seconds = _seconds(seconds, "wf.sleep()")
        timer_id = id or f"timer-{self._next('timer')}"
        if seconds == 0:
            done = Future(f"timer {timer_id}")
            done.set_result(None)
            return done
        return self._timer(timer_id, seconds, where)

    def _timer(self, timer_id: str, seconds: int, where: str) -> Future:
        future = Future(f"timer {timer_id}")
        self._claim(self._timers, timer_id, future, "timer id", where)
        key = make_key("StartTimer", timer_id)
        self._replay.emit(key, where, lambda d: d.start_timer(seconds, timer_id))
        future.on_cancel = lambda: self._replay.emit(
            make_key("CancelTimer", timer_id), where, lambda d: d.cancel_timer(timer_id))
        return future

    def signal(self, name: str, timeout: float | None = None) -> Future:
        """The next signal ``name`` (its decoded input; signals that came earlier wait in
        order). With ``timeout`` seconds (a durable timer), None if none came in time."""
        where = caller_line()
        waiting = Future(f"signal {name}")
        queued = self._signals.get(name)
        if queued:
            _resolve(waiting, queued.popleft())
            return waiting
        self._signal_waiters.setdefault(name, deque()).append(waiting)
        if timeout is None:
            return waiting
        timer_id = f"signal-wait-{self._next('signal-wait')}"
        timer = self._timer(timer_id, _seconds(timeout, "wf.signal(timeout=)"), where)
        return self.start(self._first_of(waiting, timer), f"signal {name} or timeout")

    @staticmethod
    async def _first_of(waiting: Future, timer: Future) -> Any:
        try:
            done, _ = await wait([waiting, timer])
        except CancelledError:
            waiting.cancel()
            timer.cancel()
            raise
        if done[0] is waiting:
            timer.cancel()
            return waiting.result()
        waiting.cancel()
        return None

    def child(self, workflow: Any, input: Any = None, *, version: str | None = None,
              id: str | None = None, task_list: str | None = None, codec: str | None = None,
              child_policy: str | None = None, execution_start_to_close_timeout: Any = None,
              task_start_to_close_timeout: Any = None, tag_list: list[str] | None = None,
              task_priority: int | None = None) -> Future:
        """Start a child workflow (a definition, or a type name with ``version=``); await
        its decoded result. Anything but completion raises :class:`swfd.ChildWorkflowFailed`;
        cancelling the await asks the child to cancel."""
        where = caller_line()
        if isinstance(workflow, str):
            if not version:
                raise ValueError(f"{where}: wf.child({workflow!r}) needs version=")
            name, codec = workflow, codec or self.codec
        else:
            name, version = workflow.name, version or workflow.version
            task_list, codec = task_list or workflow.task_list, codec or workflow.codec
        workflow_id = id or f"{self.workflow_id[:200]}{CHILD_SUFFIX}{self._next('child')}"
        future = Future(f"child {workflow_id}")
        future.codec = codec  # type: ignore[attr-defined]
        self._claim(self._children, workflow_id, future, "child workflow id", where)
        key = make_key("StartChildWorkflowExecution", workflow_id,
                       {"name": name, "version": version})
        encoded = codecs.encode(codec, input, f"input of child workflow {name}")
        self._replay.emit(key, where, lambda d: d.start_child_workflow_execution(
            name, version, workflow_id, child_policy=child_policy, input=encoded,
            execution_start_to_close_timeout=execution_start_to_close_timeout,
            tag_list=tag_list, task_list=task_list, task_priority=task_priority,
            task_start_to_close_timeout=task_start_to_close_timeout), payload=encoded)
        future.on_cancel = lambda: self._cancel_external(workflow_id,
                                                         self._child_runs.get(workflow_id), where)
        return future

    def signal_external(self, workflow_id: str, name: str, input: Any = None,
                        run_id: str | None = None) -> Future:
        """Signal another execution; await to know it was delivered."""
        where = caller_line()
        control = f"signal-{self._next('external')}"
        encoded = codecs.encode(self.codec, input, f"input of signal {name}")
        self._replay.emit(make_key("SignalExternalWorkflowExecution", workflow_id, name), where,
                          lambda d: d.signal_external_workflow_execution(
                              workflow_id, name, run_id=run_id, control=control, input=encoded))
        future = Future(f"signal {name} to {workflow_id}")
        self._externals[control] = future
        return future

    def cancel_external(self, workflow_id: str, run_id: str | None = None) -> Future:
        """Ask another execution to cancel; await to know the request was delivered."""
        return self._cancel_external(workflow_id, run_id, caller_line())

    def _cancel_external(self, workflow_id: str, run_id: str | None, where: str) -> Future:
        control = f"cancel-{self._next('external')}"
        self._replay.emit(make_key("RequestCancelExternalWorkflowExecution", workflow_id), where,
                          lambda d: d.request_cancel_external_workflow_execution(
                              workflow_id, control=control, run_id=run_id))
        future = Future(f"cancel of {workflow_id}")
        self._externals[control] = future
        return future

    def record_marker(self, name: str, details: Any = None) -> None:
        """Record a marker (MarkerRecorded) with ``details`` encoded per the workflow's codec."""
        encoded = codecs.encode_field(self.codec, details, f"details of marker {name}")
        self._replay.emit(make_key("RecordMarker", name), caller_line(),
                          lambda d: d.record_marker(name, encoded))

    def continue_as_new(self, input: Any = None, **options: Any) -> None:
        """Close this run and start a fresh one (same workflow id) with ``input``.
        ``options``: task_list, execution_start_to_close_timeout,
        task_start_to_close_timeout, child_policy, tag_list, workflow_type_version."""
        raise ContinueAsNew(input, **options)

    # -- events -------------------------------------------------------------------

    def deliver(self, event: dict[str, Any]) -> None:
        """Resolve whatever waits on ``event`` (an outcome arriving in the history)."""
        handler: Callable[[dict[str, Any], dict[str, Any]], None] | None = getattr(
            self, "_on_" + event["eventType"], None)
        if handler is not None:
            handler(event, attributes(event))

    def _activity_done(self, attrs: dict[str, Any], outcome: _Outcome) -> None:
        activity_id = self._replay.activity_ids.get(attrs.get("scheduledEventId"))
        future = self._activities.get(activity_id or "")
        if future is not None:
            future.set_result(outcome)

    def _on_ActivityTaskCompleted(self, event: dict, attrs: dict) -> None:
        self._activity_done(attrs, _Outcome("completed", result=attrs.get("result")))

    def _on_ActivityTaskFailed(self, event: dict, attrs: dict) -> None:
        self._activity_done(attrs, _Outcome("failed", reason=attrs.get("reason"),
                                            details=attrs.get("details")))

    def _on_ActivityTaskTimedOut(self, event: dict, attrs: dict) -> None:
        self._activity_done(attrs, _Outcome(
            "timed_out", reason=f"timed out ({attrs.get('timeoutType')})",
            details=attrs.get("details")))

    def _on_ActivityTaskCanceled(self, event: dict, attrs: dict) -> None:
        self._activity_done(attrs, _Outcome("canceled", reason="canceled",
                                            details=attrs.get("details")))

    def _on_ScheduleActivityTaskFailed(self, event: dict, attrs: dict) -> None:
        future = self._activities.get(attrs.get("activityId", ""))
        if future is not None:
            future.set_result(_Outcome("schedule_failed", reason=attrs.get("cause")))

    def _on_TimerFired(self, event: dict, attrs: dict) -> None:
        future = self._timers.get(attrs.get("timerId", ""))
        if future is not None:
            future.set_result(None)

    def _on_StartTimerFailed(self, event: dict, attrs: dict) -> None:
        future = self._timers.get(attrs.get("timerId", ""))
        if future is not None:
            future.set_exception(SwfdError(
                f"timer {attrs.get('timerId')} could not start: {attrs.get('cause')}"))

    def _on_WorkflowExecutionSignaled(self, event: dict, attrs: dict) -> None:
        name = attrs.get("signalName", "")
        try:
            value: Any = codecs.decode(self.codec, attrs.get("input"),
                                       f"input of signal {name!r} (event {event['eventId']})")
        except CodecError as exc:  # raised where the workflow waits for the signal
            value = _Undecodable(exc)
        waiters = self._signal_waiters.get(name)
        while waiters:
            waiting = waiters.popleft()
            if not waiting.done():
                _resolve(waiting, value)
                return
        self._signals.setdefault(name, deque()).append(value)

    def _on_WorkflowExecutionCancelRequested(self, event: dict, attrs: dict) -> None:
        self.cancel_requested = True
        self._replay.root.cancel()

    def _on_ChildWorkflowExecutionStarted(self, event: dict, attrs: dict) -> None:
        execution = attrs.get("workflowExecution", {})
        self._child_runs[execution.get("workflowId", "")] = execution.get("runId", "")

    def _child_closed(self, attrs: dict, cause: str) -> None:
        execution = attrs.get("workflowExecution") or {"workflowId": attrs.get("workflowId")}
        workflow_id = execution.get("workflowId", "")
        future = self._children.get(workflow_id)
        if future is None or future.done():
            return
        if cause == "completed":
            future.set_result(codecs.decode(future.codec,  # type: ignore[attr-defined]
                                            attrs.get("result"),
                                            f"result of child workflow {workflow_id}"))
            return
        reason = attrs.get("reason") or attrs.get("cause") or attrs.get("timeoutType")
        future.set_exception(ChildWorkflowFailed(
            workflow_id, _type_name(attrs.get("workflowType")), cause, reason,
            attrs.get("details")))

    def _on_ChildWorkflowExecutionCompleted(self, event: dict, attrs: dict) -> None:
        self._child_closed(attrs, "completed")

    def _on_ChildWorkflowExecutionFailed(self, event: dict, attrs: dict) -> None:
        self._child_closed(attrs, "failed")

    def _on_ChildWorkflowExecutionTimedOut(self, event: dict, attrs: dict) -> None:
        self._child_closed(attrs, "timed_out")

    def _on_ChildWorkflowExecutionCanceled(self, event: dict, attrs: dict) -> None:
        self._child_closed(attrs, "canceled")

    def _on_ChildWorkflowExecutionTerminated(self, event: dict, attrs: dict) -> None:
        self._child_closed(attrs, "terminated")

    def _on_StartChildWorkflowExecutionFailed(self, event: dict, attrs: dict) -> None:
        self._child_closed(attrs, "start_failed")

    def _on_SignalExternalWorkflowExecutionInitiated(self, event: dict, attrs: dict) -> None:
        self._initiated[event["eventId"]] = attrs.get("control", "")

    _on_RequestCancelExternalWorkflowExecutionInitiated = (
        _on_SignalExternalWorkflowExecutionInitiated)

    def _external_done(self, attrs: dict, what: str, cause: str | None = None,
                       failed: bool = False) -> None:
        control = attrs.get("control") or self._initiated.get(attrs.get("initiatedEventId", 0))
        future = self._externals.get(control or "")
        if future is None:
            return
        if failed:
            future.set_exception(ExternalWorkflowFailed(attrs.get("workflowId", ""), what, cause))
        else:
            future.set_result(None)

    def _on_ExternalWorkflowExecutionSignaled(self, event: dict, attrs: dict) -> None:
        self._external_done(attrs, "signalling")

    def _on_SignalExternalWorkflowExecutionFailed(self, event: dict, attrs: dict) -> None:
        self._external_done(attrs, "signalling", attrs.get("cause"), failed=True)

    def _on_ExternalWorkflowExecutionCancelRequested(self, event: dict, attrs: dict) -> None:
        self._external_done(attrs, "cancelling")

    def _on_RequestCancelExternalWorkflowExecutionFailed(self, event: dict, attrs: dict
                                                         ) -> None:
        self._external_done(attrs, "cancelling", attrs.get("cause"), failed=True)


class _Undecodable:
    """A signal whose input the workflow's codec cannot decode: the error, kept in order."""

    def __init__(self, error: CodecError) -> None:
        self.error = error


def _resolve(future: Future, value: Any) -> None:
    if isinstance(value, _Undecodable):
        future.set_exception(value.error)
    else:
        future.set_result(value)


def _type_name(workflow_type: Any) -> str:
    if isinstance(workflow_type, dict):
        return f"{workflow_type.get('name')}/{workflow_type.get('version')}"
    return str(workflow_type or "?")


def failure_decision(exc: BaseException) -> tuple[str, str | None]:
    """(reason, details) of FailWorkflowExecution for a workflow-level failure."""
    if isinstance(exc, CodecError):  # as for an undecodable execution input: not retried
        return truncate(f"swfd-codec-error: {exc}", 256), truncate(str(exc), 32768)
    reason = getattr(exc, "reason", None) if not isinstance(exc, (ActivityFailed,
                                                                   ChildWorkflowFailed)) else None
    details = getattr(exc, "details", None)
    if isinstance(details, str):
        details = truncate(details, 32768, keep="tail")
    return truncate(str(reason or exc or type(exc).__name__), 256), details
