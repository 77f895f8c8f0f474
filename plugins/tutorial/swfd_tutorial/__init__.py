"""boto's SWF tutorial (seed 001) as a swfd plugin, written like the tutorial's deciders.

The decision logic is the tutorial's own "look at the last non-decision
event" style, on ``task.events`` (swfd hides its own retry markers and timers
from it, so this style keeps working). One addition the tutorial lacks: an
activity that fails or times out is scheduled again, up to
``MAX_ATTEMPTS`` times, then the workflow fails with the activity's reason;
so a worker killed mid-task, or stopped fast with ``swfd-shutdown``, delays
the workflow instead of stalling it. On the happy path the histories are the
tutorial's (HelloWorkflow: the same 11 events).

``swfd_tutorial.as_code`` has the same three workflows as ``async def``
(``HelloWorkflowAsync``, ``SerialWorkflowAsync``, ``ParallelWorkflowAsync``).
"""

from __future__ import annotations

import logging
import time

import swfd

log = logging.getLogger(__name__)

VERSION = "1.0"
MAX_ATTEMPTS = 3
SCHED_COUNT = 5
SAMBUCA = "Now don't be givin him sambuca!"


# -- activities ---------------------------------------------------------------------


@swfd.activity("HelloWorld", VERSION, task_list="default", codec="raw")
def hello_world(task):
    """Greet; the tutorial's worker printed this and completed with no result."""
    log.info("Hello, World!")


@swfd.activity("ActivityA", VERSION, task_list="a_tasks", codec="raw")
def activity_a(task):
    """The serial workflow's first step; its result becomes ActivityB's input."""
    log.info("working on activity %s at %i", task.activity_id, time.time())
    return SAMBUCA


@swfd.activity("ActivityB", VERSION, task_list="b_tasks", codec="raw")
def activity_b(task):
    log.info("working on activity %s at %i", task.activity_id, time.time())


@swfd.activity("ActivityC", VERSION, task_list="c_tasks", codec="raw")
def activity_c(task):
    log.info("working on activity %s at %i", task.activity_id, time.time())


# -- workflows ------------------------------------------------------------------------


def _workflow_events(task):
    """The tutorial's filter: events not related to decision scheduling."""
    return [e for e in task.events if not e["eventType"].startswith("Decision")]


def _retry_failed(task, decisions):
    """Schedule failed or timed-out activities again; False once one used up its attempts."""
    for activity in task.history.activities.values():
        if activity.state not in ("failed", "timed_out"):
            continue
        if activity.attempts >= MAX_ATTEMPTS:
            reason = activity.reason or f"timed out ({activity.timeout_type})"
            decisions.fail_workflow_execution(
                reason=f"{activity.activity_type['name']} {activity.activity_id} failed "
                       f"{activity.attempts} times: {reason}"[:256],
                details=activity.details,
            )
            return False
        scheduled = task.history.by_id(activity.scheduled_event_id)
        attrs = scheduled["activityTaskScheduledEventAttributes"]
        decisions.schedule_activity_task(
            activity.activity_id, activity.activity_type["name"],
            activity.activity_type["version"], task_list=attrs["taskList"]["name"],
            input=activity.input,
        )
    return True


@swfd.workflow("HelloWorkflow", VERSION, task_list="default", codec="raw")
def hello_workflow(task):
    """Schedule HelloWorld once; complete when it has completed."""
    decisions = swfd.Decisions()
    last_event = _workflow_events(task)[-1]
    if last_event["eventType"] == "WorkflowExecutionStarted":
        decisions.schedule_activity_task("saying_hi", "HelloWorld", VERSION, task_list="default")
    elif last_event["eventType"] == "ActivityTaskCompleted":
        decisions.complete_workflow_execution()
    else:
        _retry_failed(task, decisions)
    return decisions


@swfd.workflow("SerialWorkflow", VERSION, task_list="default_tasks", codec="raw")
def serial_workflow(task):
    """ActivityA, then ActivityB with A's result as input, then ActivityC; then complete."""
    decisions = swfd.Decisions()
    last_event = _workflow_events(task)[-1]
    last_event_type = last_event["eventType"]
    if last_event_type == "WorkflowExecutionStarted":
        decisions.schedule_activity_task(
            f"ActivityA-{int(time.time())}", "ActivityA", VERSION, task_list="a_tasks"
        )
    elif last_event_type == "ActivityTaskCompleted":
        last_event_attrs = last_event["activityTaskCompletedEventAttributes"]
        scheduled = task.history.by_id(last_event_attrs["scheduledEventId"])
        activity_name = scheduled["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        result = last_event_attrs.get("result")
        if activity_name == "ActivityA":
            decisions.schedule_activity_task(
                f"ActivityB-{int(time.time())}", "ActivityB", VERSION,
                task_list="b_tasks", input=result,
            )
        elif activity_name == "ActivityB":
            decisions.schedule_activity_task(
                f"ActivityC-{int(time.time())}", "ActivityC", VERSION,
                task_list="c_tasks", input=result,
            )
        elif activity_name == "ActivityC":
            decisions.complete_workflow_execution()
    else:
        _retry_failed(task, decisions)
    return decisions


@swfd.workflow("ParallelWorkflow", VERSION, task_list="default", codec="raw")
def parallel_workflow(task):
    """Schedule five ActivityA at once on ``default``; complete when all five completed."""
    decisions = swfd.Decisions()
    last_event = _workflow_events(task)[-1]
    if last_event["eventType"] == "WorkflowExecutionStarted":
        for i in range(SCHED_COUNT):
            decisions.schedule_activity_task(
                f"activity{i}", "ActivityA", VERSION, task_list="default"
            )
        return decisions
    completed_count = sum(1 for e in task.events if e["eventType"] == "ActivityTaskCompleted")
    log.info("%i/%i", completed_count, SCHED_COUNT)
    if completed_count == SCHED_COUNT:
        decisions.complete_workflow_execution()
    else:
        _retry_failed(task, decisions)
    return decisions


@swfd.hookimpl
def swfd_activities():
    return [hello_world, activity_a, activity_b, activity_c]


@swfd.hookimpl
def swfd_workflows():
    from . import as_code

    return [hello_workflow, serial_workflow, parallel_workflow, *as_code.WORKFLOWS]
