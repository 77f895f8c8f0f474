"""swfd's internal test plugin: handlers with every behaviour the daemon must survive.

Activities (version "1", task list "test", json codec unless noted) take a
JSON object as input; workflow ``RunActivity`` schedules the activities its
input describes and closes with their outcome, so a test drives any
activity with one ``StartWorkflowExecution``; workflow ``Persistent``
reschedules its activities until each has completed. Uses only swfd's public API.
"""

from __future__ import annotations

import os
import time

import swfd

TASK_LIST = "test"
VERSION = "1"


def _arg(task, key, default):
    data = task.input if isinstance(task.input, dict) else {}
    return data.get(key, default)


@swfd.activity("Echo", VERSION, task_list=TASK_LIST)
def echo(task):
    """Return the input unchanged (decoded and re-encoded)."""
    return task.input


@swfd.activity("RawEcho", VERSION, task_list=TASK_LIST, codec="raw")
def raw_echo(task):
    """Return the input string untouched (raw codec)."""
    return task.input


@swfd.activity("Raise", VERSION, task_list=TASK_LIST)
def raise_(task):
    """Raise ValueError with the input's ``message`` (``repeat`` times over)."""
    raise ValueError(_arg(task, "message", "boom") * int(_arg(task, "repeat", 1)))


@swfd.activity("Sleep", VERSION, task_list=TASK_LIST, heartbeat_timeout=10)
def sleep(task):
    """Sleep ``seconds`` (default 0.5), heartbeating; return the pid that ran it."""
    seconds = float(_arg(task, "seconds", 0.5))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        task.heartbeat(f"{deadline - time.monotonic():.1f}s left")
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
    return {"pid": os.getpid(), "activityId": task.activity_id, "slept": seconds}


@swfd.activity("Heartbeat", VERSION, task_list=TASK_LIST, heartbeat_timeout=2)
def heartbeat(task):
    """Run ``seconds`` (default 5), well past the 2 s heartbeat timeout, heartbeating."""
    seconds = float(_arg(task, "seconds", 5))
    deadline = time.monotonic() + seconds
    step = 0
    while time.monotonic() < deadline:
        step += 1
        task.heartbeat(f"step {step}")
        time.sleep(0.1)
    return f"survived {seconds}s with heartbeat_timeout 2"


@swfd.activity("Heartbeat600", VERSION, task_list=TASK_LIST, heartbeat_timeout=600)
def heartbeat_600(task):
    """Declares a 600 s heartbeat timeout; runs ``seconds`` (default 8) heartbeating every
    0.1 s, so it lives only if its calls reach SWF when a decider sets a shorter one."""
    seconds = float(_arg(task, "seconds", 8))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        task.heartbeat("working")
        time.sleep(0.1)
    return "kept alive by its own heartbeats"


@swfd.activity("WaitCancel", VERSION, task_list=TASK_LIST, heartbeat_timeout=3)
def wait_cancel(task):
    """Heartbeat until SWF reports a cancel request, then answer it (at most ``seconds``)."""
    deadline = time.monotonic() + float(_arg(task, "seconds", 30))
    while time.monotonic() < deadline:
        if task.cancel_requested:
            raise swfd.Canceled("canceled by request")
        task.heartbeat("waiting for cancel")
        time.sleep(0.05)
    return "never canceled"


@swfd.activity("BigResult", VERSION, task_list=TASK_LIST)
def big_result(task):
    """Return a result longer than SWF's 32768 characters."""
    return "x" * 40000


@swfd.activity("Unencodable", VERSION, task_list=TASK_LIST)
def unencodable(task):
    """Return something JSON cannot encode."""
    return {"a set": {1, 2}}


@swfd.activity("Overrun", VERSION, task_list=TASK_LIST, start_to_close_timeout=2,
               schedule_to_close_timeout=60, heartbeat_timeout=30)
def overrun(task):
    """Run far past its declared 2 s start-to-close timeout."""
    time.sleep(float(_arg(task, "seconds", 60)))
    return "should never be answered"


def _events_of(task, event_type):
    return [e for e in task.events if e["eventType"] == event_type]


def _attrs(event):
    key = event["eventType"][0].lower() + event["eventType"][1:] + "EventAttributes"
    return event.get(key, {})


@swfd.workflow("RunActivity", VERSION, task_list=TASK_LIST, execution_start_to_close_timeout=600,
               task_start_to_close_timeout=30)
def run_activity(task):
    """Run ``count`` activities ``activity`` (default Echo) with ``input``; close with the outcome.

    Input: ``{"activity": "Sleep", "input": {...}, "count": 1, "task_list": "test",
    "heartbeat_timeout": ..., "start_to_close_timeout": ...}``. Completes with the
    list of results when all complete; fails with the first failure's reason, or
    "timed out: <type>" on a timeout; completes with ``{"canceled": ids}`` once
    canceled activities are all closed. A signal named "cancel" asks every open
    activity to cancel.
    """
    spec = task.input or {}
    decisions = swfd.Decisions()
    scheduled = {_attrs(e)["activityId"]: e["eventId"]
                 for e in _events_of(task, "ActivityTaskScheduled")}
    if not scheduled:
        for i in range(int(spec.get("count", 1))):
            decisions.schedule_activity_task(
                f"act-{i}", spec.get("activity", "Echo"), spec.get("version", VERSION),
                task_list=spec.get("task_list", TASK_LIST),
                heartbeat_timeout=spec.get("heartbeat_timeout"),
                start_to_close_timeout=spec.get("start_to_close_timeout"),
                schedule_to_close_timeout=spec.get("schedule_to_close_timeout"),
                input=None if "input" not in spec else _json(spec["input"]),
            )
        return decisions
    by_scheduled = {event_id: activity_id for activity_id, event_id in scheduled.items()}
    closed: dict[str, tuple[str, dict]] = {}
    for event in task.events:
        attrs = _attrs(event)
        kind = event["eventType"]
        if kind.startswith("ActivityTask") and kind != "ActivityTaskStarted" and (
            "scheduledEventId" in attrs
        ):
            closed[by_scheduled[attrs["scheduledEventId"]]] = (kind, attrs)
    if any(e["eventType"] == "WorkflowExecutionSignaled" and _attrs(e)["signalName"] == "cancel"
           for e in task.events):
        requested = {_attrs(e)["activityId"]
                     for e in _events_of(task, "ActivityTaskCancelRequested")}
        for activity_id in scheduled:
            if activity_id not in closed and activity_id not in requested:
                decisions.request_cancel_activity_task(activity_id)
    if len(closed) < len(scheduled):
        return decisions
    outcomes = [closed[a] for a in sorted(scheduled)]
    for kind, attrs in outcomes:
        if kind == "ActivityTaskFailed":
            decisions.fail_workflow_execution(reason=attrs.get("reason"),
                                              details=attrs.get("details"))
            return decisions
        if kind == "ActivityTaskTimedOut":
            decisions.fail_workflow_execution(reason=f"timed out: {attrs.get('timeoutType')}")
            return decisions
    if any(kind == "ActivityTaskCanceled" for kind, _ in outcomes):
        decisions.complete_workflow_execution(result=_json({"canceled": sorted(scheduled)}))
        return decisions
    decisions.complete_workflow_execution(
        result="[" + ",".join(attrs.get("result", "null") for _, attrs in outcomes) + "]"
    )
    return decisions


@swfd.workflow("Flaky", VERSION, task_list=TASK_LIST, task_start_to_close_timeout=30)
def flaky(task):
    """Decision logic that raises while the file named by input ``fail_while_exists`` exists.

    Once it no longer exists, completes with the event types the handler was
    shown, so a test can check swfd's own markers and timers were hidden.
    """
    path = (task.input or {}).get("fail_while_exists")
    if path and os.path.exists(path):
        raise RuntimeError(f"flaky decider: {path} still exists")
    decisions = swfd.Decisions()
    decisions.complete_workflow_execution(
        result=_json({"seen": [e["eventType"] for e in task.events],
                      "history_events": len(task.history.events)})
    )
    return decisions


def _json(value):
    import json

    return json.dumps(value)


def _attempt_id(index, attempt):
    return f"act-{index}" if attempt == 1 else f"act-{index}.attempt-{attempt}"


@swfd.workflow("Persistent", VERSION, task_list=TASK_LIST, execution_start_to_close_timeout=600,
               task_start_to_close_timeout=5)
def persistent(task):
    """Run ``count`` activities to completion, rescheduling any that time out or fail.

    Input: ``{"count": 2, "seconds": 1.0 or [per activity], "activity": "Sleep",
    "heartbeat_timeout": 2, "max_attempts": 20}``. Logical activity ``i`` is first
    scheduled as ``act-i`` (input ``{"seconds": ...}``, the decision's heartbeatTimeout
    override), and after an ActivityTaskTimedOut or ActivityTaskFailed again as
    ``act-i.attempt-2``, ``act-i.attempt-3``... Completes, once every logical activity
    has a completion, with ``{"act-i": {"attempts": n, "result": ...}}``; fails when
    a schedule is refused or one activity used ``max_attempts`` attempts. The short
    task start-to-close timeout brings a decision task lost with its decider back
    within 5 s.
    """
    import json

    spec = task.input if isinstance(task.input, dict) else {}
    count = int(spec.get("count", 1))
    seconds = spec.get("seconds", 0.5)
    max_attempts = int(spec.get("max_attempts", 20))
    activities = task.history.activities
    decisions = swfd.Decisions()
    results = {}
    for index in range(count):
        attempt = 1
        while _attempt_id(index, attempt + 1) in activities:
            attempt += 1
        activity_id = _attempt_id(index, attempt)
        state = activities.get(activity_id)
        if state is not None and state.state == "completed":
            results[f"act-{index}"] = {"attempts": attempt, "result": json.loads(state.result)
                                       if state.result else None}
            continue
        if state is not None and state.is_open:
            continue
        if state is not None and state.state not in ("timed_out", "failed"):
            decisions = swfd.Decisions()
            decisions.fail_workflow_execution(
                reason=f"{activity_id} {state.state}", details=state.cause or state.reason)
            return decisions
        if state is not None:
            if attempt >= max_attempts:
                decisions = swfd.Decisions()
                decisions.fail_workflow_execution(
                    reason=f"act-{index}: {attempt} attempts, last {state.state}")
                return decisions
            activity_id = _attempt_id(index, attempt + 1)
        decisions.schedule_activity_task(
            activity_id, spec.get("activity", "Sleep"), VERSION, task_list=TASK_LIST,
            heartbeat_timeout=spec.get("heartbeat_timeout", 2),
            input=_json({"seconds": seconds[index] if isinstance(seconds, list) else seconds}),
        )
    if len(results) == count:
        decisions.complete_workflow_execution(result=_json(results))
    return decisions


@swfd.hookimpl
def swfd_activities():
    return [echo, raw_echo, raise_, sleep, heartbeat, wait_cancel, big_result, unencodable,
            overrun, heartbeat_600]


@swfd.hookimpl
def swfd_workflows():
    return [run_activity, flaky, persistent]
