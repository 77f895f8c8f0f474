"""Every SWF timeout on the local endpoint, with 1-2 s values, and NONE meaning no timer.

Timeouts fire on the endpoint's timer schedule; the tests wait on the history
with deadlines (swfd.testing.wait_for), never on fixed sleeps, except the NONE
case, which must show that nothing happens over a span longer than the short
timeouts used elsewhere.
"""

from __future__ import annotations

import time

import pytest
from test_local_support import (  # noqa: F401 (no_internal_failures is autouse)
    attributes,
    decision,
    event_types,
    find,
    history,
    is_closed,
    no_internal_failures,
    poll_activity,
    poll_decision,
    register_activity_type,
    register_workflow_type,
    respond,
    schedule_activity,
    start,
)

from swfd.testing import wait_for


def _setup(client, domain, **workflow_defaults):
    register_workflow_type(client, domain, "W", **workflow_defaults)
    register_activity_type(client, domain, "A")
    return start(client, domain, "W", taskList={"name": "decide"})


def _schedule(client, domain, **timeouts):
    """Answer the first decision task with one activity on task list ``work``."""
    task = poll_decision(client, domain, "decide")
    assert task["taskToken"]
    respond(client, task, [schedule_activity("a1", "A", task_list="work", **timeouts)])


def _timed_out(client, domain, execution, event_type="ActivityTaskTimedOut"):
    def check():
        events = find(history(client, domain, execution), event_type)
        return attributes(events[0]) if events else None

    return wait_for(check, timeout=10, message=f"{event_type} in the history")


@pytest.mark.parametrize(
    "timeout_type, timeouts, take_task",
    [
        ("SCHEDULE_TO_START", {"scheduleToStartTimeout": "1"}, False),
        ("START_TO_CLOSE", {"startToCloseTimeout": "1"}, True),
        (
            "SCHEDULE_TO_CLOSE",
            {
                "scheduleToCloseTimeout": "2",
                "scheduleToStartTimeout": "NONE",
                "startToCloseTimeout": "NONE",
            },
            True,
        ),
        ("HEARTBEAT", {"heartbeatTimeout": "1"}, True),
    ],
)
def test_activity_timeouts(swf_client, domain, timeout_type, timeouts, take_task):
    execution = _setup(swf_client, domain)
    _schedule(swf_client, domain, **timeouts)
    token = None
    if take_task:
        task = poll_activity(swf_client, domain, "work")
        assert task["activityId"] == "a1"
        token = task["taskToken"]
        if timeout_type == "HEARTBEAT":
            # A heartbeat inside the window keeps it alive; then silence.
            beat = swf_client.record_activity_task_heartbeat(taskToken=token, details="1")
            assert beat["cancelRequested"] is False
    started = time.monotonic()
    timed_out = _timed_out(swf_client, domain, execution)
    assert time.monotonic() - started < 8
    assert timed_out["timeoutType"] == timeout_type
    events = history(swf_client, domain, execution)
    scheduled_id = find(events, "ActivityTaskScheduled")[0]["eventId"]
    assert timed_out["scheduledEventId"] == scheduled_id
    if take_task:
        assert timed_out["startedEventId"] == find(events, "ActivityTaskStarted")[0]["eventId"]
        if timeout_type == "HEARTBEAT":
            assert timed_out.get("details") == "1"
    else:
        assert timed_out["startedEventId"] == 0
    # The decider hears about it, and the dead task's token is refused.
    assert event_types(events)[-1] == "DecisionTaskScheduled"
    if token:
        with pytest.raises(swf_client.exceptions.UnknownResourceFault):
            swf_client.respond_activity_task_completed(taskToken=token)
    # A timed-out task is not handed out any more.
    assert "taskToken" not in poll_activity(swf_client, domain, "work")


def test_heartbeats_keep_a_task_alive_past_its_heartbeat_timeout(swf_client, domain):
    execution = _setup(swf_client, domain)
    _schedule(swf_client, domain, heartbeatTimeout="1", startToCloseTimeout="30")
    task = poll_activity(swf_client, domain, "work")
    deadline = time.monotonic() + 2.5
    beats = 0
    while time.monotonic() < deadline and beats < 50:
        assert not swf_client.record_activity_task_heartbeat(taskToken=task["taskToken"])[
            "cancelRequested"
        ]
        beats += 1
        time.sleep(0.3)  # pacing the heartbeats is the scenario, not synchronisation
    swf_client.respond_activity_task_completed(taskToken=task["taskToken"], result="ok")
    assert "ActivityTaskTimedOut" not in event_types(history(swf_client, domain, execution))
    assert find(history(swf_client, domain, execution), "ActivityTaskCompleted")


def test_decision_start_to_close_timeout(swf_client, domain):
    execution = _setup(swf_client, domain)
    execution = start(
        swf_client, domain, "W", taskList={"name": "decide2"}, taskStartToCloseTimeout="1"
    )
    task = poll_decision(swf_client, domain, "decide2")
    timed_out = _timed_out(swf_client, domain, execution, "DecisionTaskTimedOut")
    assert timed_out["timeoutType"] == "START_TO_CLOSE"
    events = history(swf_client, domain, execution)
    assert event_types(events)[-2:] == ["DecisionTaskTimedOut", "DecisionTaskScheduled"]
    with pytest.raises(swf_client.exceptions.UnknownResourceFault):
        respond(swf_client, task, [])
    # The new decision task goes out and can be answered.
    again = poll_decision(swf_client, domain, "decide2")
    assert again["taskToken"] and again["taskToken"] != task["taskToken"]
    respond(swf_client, again, [decision("CompleteWorkflowExecution")])
    assert is_closed(swf_client, domain, execution) == "COMPLETED"


def test_decision_schedule_to_start_timeout_on_task_list_override(swf_client, domain):
    execution = _setup(swf_client, domain)
    task = poll_decision(swf_client, domain, "decide")
    swf_client.respond_decision_task_completed(
        taskToken=task["taskToken"],
        decisions=[],
        taskList={"name": "nobody-polls"},
        taskListScheduleToStartTimeout="1",
    )
    swf_client.signal_workflow_execution(domain=domain, signalName="wake", **execution)
    timed_out = _timed_out(swf_client, domain, execution, "DecisionTaskTimedOut")
    assert timed_out["timeoutType"] == "SCHEDULE_TO_START"
    # SWF reverts the override: the next decision task is on the original list.
    retry = wait_for(
        lambda: poll_decision(swf_client, domain, "decide")["taskToken"] or None,
        timeout=10,
        message="decision task back on the original task list",
    )
    assert retry


def test_workflow_execution_start_to_close_timeout(swf_client, domain):
    _setup(swf_client, domain)
    execution = start(
        swf_client, domain, "W", taskList={"name": "decide3"}, executionStartToCloseTimeout="1"
    )
    timed_out = _timed_out(swf_client, domain, execution, "WorkflowExecutionTimedOut")
    assert timed_out["timeoutType"] == "START_TO_CLOSE"
    assert timed_out["childPolicy"] == "TERMINATE"
    assert is_closed(swf_client, domain, execution) == "TIMED_OUT"
    # The pending decision task is gone with the execution.
    assert "taskToken" not in poll_decision(swf_client, domain, "decide3")


def test_none_means_no_timer(swf_client, domain):
    execution = _setup(swf_client, domain)
    _schedule(
        swf_client,
        domain,
        heartbeatTimeout="NONE",
        scheduleToStartTimeout="NONE",
        scheduleToCloseTimeout="NONE",
        startToCloseTimeout="NONE",
    )
    task = poll_activity(swf_client, domain, "work")
    assert task["activityId"] == "a1"
    # A probe activity with a 1 s timeout shows the timer wheel is running meanwhile.
    swf_client.signal_workflow_execution(domain=domain, signalName="tick", **execution)
    second = poll_decision(swf_client, domain, "decide")
    respond(
        swf_client,
        second,
        [schedule_activity("probe", "A", task_list="probe", scheduleToStartTimeout="1")],
    )
    probe = _timed_out(swf_client, domain, execution)
    assert probe["timeoutType"] == "SCHEDULE_TO_START"
    time.sleep(1.0)  # NONE must still not have fired a second after a 1 s timeout did
    timed_out = find(history(swf_client, domain, execution), "ActivityTaskTimedOut")
    assert len(timed_out) == 1
    swf_client.respond_activity_task_completed(taskToken=task["taskToken"], result="late")
    assert find(history(swf_client, domain, execution), "ActivityTaskCompleted")
