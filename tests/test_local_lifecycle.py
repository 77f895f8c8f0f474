"""Execution lifecycle on the local endpoint: cancellation, child workflows and their
policies, continue-as-new, signals, timers, markers, external signal and cancel."""

from __future__ import annotations

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
    unique,
)

from swfd.testing import wait_for


def _types(client, domain):
    register_workflow_type(client, domain, "Parent", task_list="parent")
    register_workflow_type(client, domain, "Child", task_list="child")
    register_activity_type(client, domain, "A", task_list="work")


def _wait_event(client, domain, execution, event_type, timeout=10):
    def check():
        events = find(history(client, domain, execution), event_type)
        return events[-1] if events else None

    return wait_for(check, timeout=timeout, message=f"{event_type} in {execution}")


def test_cancel_flow_end_to_end(swf_client, domain):
    _types(swf_client, domain)
    execution = start(swf_client, domain, "Parent")
    task = poll_decision(swf_client, domain, "parent")
    respond(swf_client, task, [schedule_activity("long", "A", heartbeatTimeout="30")])
    work = poll_activity(swf_client, domain, "work")
    assert not swf_client.record_activity_task_heartbeat(taskToken=work["taskToken"])[
        "cancelRequested"
    ]

    swf_client.request_cancel_workflow_execution(domain=domain, **execution)
    info = swf_client.describe_workflow_execution(domain=domain, execution=execution)
    assert info["executionInfo"]["cancelRequested"] is True
    task = poll_decision(swf_client, domain, "parent")
    assert workflow_last(task) == "WorkflowExecutionCancelRequested"
    respond(swf_client, task, [decision("RequestCancelActivityTask", activityId="long")])

    events = history(swf_client, domain, execution)
    assert event_types(events)[-1] == "ActivityTaskCancelRequested"
    assert attributes(events[-1])["activityId"] == "long"
    assert swf_client.record_activity_task_heartbeat(taskToken=work["taskToken"])["cancelRequested"]
    swf_client.respond_activity_task_canceled(taskToken=work["taskToken"], details="stopped")

    task = poll_decision(swf_client, domain, "parent")
    assert workflow_last(task) == "ActivityTaskCanceled"
    canceled = find(task["events"], "ActivityTaskCanceled")[0]
    assert attributes(canceled)["details"] == "stopped"
    respond(swf_client, task, [decision("CancelWorkflowExecution", details="bye")])
    events = history(swf_client, domain, execution)
    assert event_types(events)[-1] == "WorkflowExecutionCanceled"
    assert attributes(events[-1])["details"] == "bye"
    assert is_closed(swf_client, domain, execution) == "CANCELED"
    with pytest.raises(swf_client.exceptions.UnknownResourceFault):
        swf_client.request_cancel_workflow_execution(domain=domain, **execution)


def test_cancel_of_a_scheduled_activity_not_yet_started(swf_client, domain):
    _types(swf_client, domain)
    execution = start(swf_client, domain, "Parent")
    task = poll_decision(swf_client, domain, "parent")
    respond(swf_client, task, [schedule_activity("queued", "A")])
    task = None
    swf_client.signal_workflow_execution(domain=domain, signalName="go", **execution)
    task = poll_decision(swf_client, domain, "parent")
    respond(swf_client, task, [decision("RequestCancelActivityTask", activityId="queued")])
    events = history(swf_client, domain, execution)
    # A task not yet started is canceled at once; nobody receives it any more.
    assert event_types(events)[-3:-1] == ["ActivityTaskCancelRequested", "ActivityTaskCanceled"]
    assert "taskToken" not in poll_activity(swf_client, domain, "work")


def workflow_last(task) -> str:
    return [e for e in task["events"] if not e["eventType"].startswith("Decision")][-1]["eventType"]


def _start_parent_with_child(client, domain, child_policy, **parent_extra):
    parent = start(client, domain, "Parent", childPolicy=child_policy, **parent_extra)
    child_id = unique("child")
    task = poll_decision(client, domain, "parent")
    respond(
        client,
        task,
        [
            decision(
                "StartChildWorkflowExecution",
                workflowId=child_id,
                workflowType={"name": "Child", "version": "1.0"},
                input="child input",
            )
        ],
    )
    started = _wait_event(client, domain, parent, "ChildWorkflowExecutionStarted")
    child = attributes(started)["workflowExecution"]
    assert child["workflowId"] == child_id
    child_start = history(client, domain, child)[0]
    parent_info = attributes(child_start)["parentWorkflowExecution"]
    assert parent_info == parent
    assert attributes(child_start)["input"] == "child input"
    return parent, child


@pytest.mark.parametrize("policy", ["TERMINATE", "REQUEST_CANCEL", "ABANDON"])
def test_child_policy_on_terminated_parent(swf_client, domain, policy):
    _types(swf_client, domain)
    parent, child = _start_parent_with_child(swf_client, domain, policy)
    swf_client.terminate_workflow_execution(domain=domain, reason="test", **parent)
    assert is_closed(swf_client, domain, parent) == "TERMINATED"
    _check_child(swf_client, domain, child, policy)


@pytest.mark.parametrize("policy", ["TERMINATE", "REQUEST_CANCEL", "ABANDON"])
def test_child_policy_on_timed_out_parent(swf_client, domain, policy):
    _types(swf_client, domain)
    parent, child = _start_parent_with_child(
        swf_client, domain, policy, executionStartToCloseTimeout="2"
    )
    _wait_event(swf_client, domain, parent, "WorkflowExecutionTimedOut")
    assert is_closed(swf_client, domain, parent) == "TIMED_OUT"
    _check_child(swf_client, domain, child, policy)


def test_terminate_child_policy_override(swf_client, domain):
    _types(swf_client, domain)
    parent, child = _start_parent_with_child(swf_client, domain, "ABANDON")
    swf_client.terminate_workflow_execution(domain=domain, childPolicy="TERMINATE", **parent)
    _check_child(swf_client, domain, child, "TERMINATE")


def _check_child(client, domain, child, policy):
    if policy == "TERMINATE":
        terminated = _wait_event(client, domain, child, "WorkflowExecutionTerminated")
        assert attributes(terminated)["cause"] == "CHILD_POLICY_APPLIED"
        assert is_closed(client, domain, child) == "TERMINATED"
    elif policy == "REQUEST_CANCEL":
        requested = _wait_event(client, domain, child, "WorkflowExecutionCancelRequested")
        assert attributes(requested)["cause"] == "CHILD_POLICY_APPLIED"
        assert is_closed(client, domain, child) is None
        task = poll_decision(client, domain, "child")
        assert workflow_last(task) == "WorkflowExecutionCancelRequested"
        respond(client, task, [decision("CancelWorkflowExecution")])
        assert is_closed(client, domain, child) == "CANCELED"
    else:
        assert is_closed(client, domain, child) is None
        types = event_types(history(client, domain, child))
        assert "WorkflowExecutionCancelRequested" not in types
        task = poll_decision(client, domain, "child")
        respond(client, task, [decision("CompleteWorkflowExecution", result="alone")])
        assert is_closed(client, domain, child) == "COMPLETED"


def test_child_completion_reaches_parent(swf_client, domain):
    _types(swf_client, domain)
    parent, child = _start_parent_with_child(swf_client, domain, "TERMINATE")
    # The parent's decision task for ChildWorkflowExecutionStarted is answered first.
    task = poll_decision(swf_client, domain, "parent")
    respond(swf_client, task, [])
    task = poll_decision(swf_client, domain, "child")
    respond(swf_client, task, [decision("CompleteWorkflowExecution", result="done")])
    task = poll_decision(swf_client, domain, "parent")
    assert workflow_last(task) == "ChildWorkflowExecutionCompleted"
    completed = find(task["events"], "ChildWorkflowExecutionCompleted")[0]
    assert attributes(completed)["result"] == "done"
    assert attributes(completed)["workflowExecution"] == child
    respond(swf_client, task, [decision("CompleteWorkflowExecution")])
    assert is_closed(swf_client, domain, parent) == "COMPLETED"


def test_continue_as_new(swf_client, domain):
    _types(swf_client, domain)
    first = start(swf_client, domain, "Parent", input="round 1")
    task = poll_decision(swf_client, domain, "parent")
    respond(swf_client, task, [decision("ContinueAsNewWorkflowExecution", input="round 2")])
    assert is_closed(swf_client, domain, first) == "CONTINUED_AS_NEW"
    continued = attributes(history(swf_client, domain, first)[-1])
    new_run = continued["newExecutionRunId"]
    assert new_run != first["runId"]
    second = {"workflowId": first["workflowId"], "runId": new_run}
    started = attributes(history(swf_client, domain, second)[0])
    assert started["continuedExecutionRunId"] == first["runId"]
    assert started["input"] == "round 2"
    assert started["workflowType"] == {"name": "Parent", "version": "1.0"}
    task = poll_decision(swf_client, domain, "parent")
    assert task["workflowExecution"] == second
    respond(swf_client, task, [decision("CompleteWorkflowExecution")])
    assert is_closed(swf_client, domain, second) == "COMPLETED"
    # The workflowId's latest run is the one a runId-less call reaches.
    info = swf_client.describe_workflow_execution(domain=domain, execution=second)
    assert info["executionInfo"]["execution"] == second


def test_signals_timers_and_markers(swf_client, domain):
    _types(swf_client, domain)
    execution = start(swf_client, domain, "Parent")
    task = poll_decision(swf_client, domain, "parent")
    respond(
        swf_client,
        task,
        [
            decision("RecordMarker", markerName="checkpoint", details="step 1"),
            decision("StartTimer", timerId="short", startToFireTimeout="1", control="c"),
            decision("StartTimer", timerId="long", startToFireTimeout="3600"),
        ],
    )
    swf_client.signal_workflow_execution(
        domain=domain, signalName="hello", input="payload", **execution
    )
    fired = _wait_event(swf_client, domain, execution, "TimerFired")
    assert attributes(fired)["timerId"] == "short"
    task = poll_decision(swf_client, domain, "parent")
    signaled = find(task["events"], "WorkflowExecutionSignaled")[0]
    assert attributes(signaled)["signalName"] == "hello"
    assert attributes(signaled)["input"] == "payload"
    marker = attributes(find(task["events"], "MarkerRecorded")[0])
    assert (marker["markerName"], marker["details"]) == ("checkpoint", "step 1")
    respond(swf_client, task, [decision("CancelTimer", timerId="long")])
    events = history(swf_client, domain, execution)
    assert attributes(find(events, "TimerCanceled")[0])["timerId"] == "long"
    info = swf_client.describe_workflow_execution(domain=domain, execution=execution)
    assert info["openCounts"]["openTimers"] == 0


def test_signal_and_cancel_external(swf_client, domain):
    _types(swf_client, domain)
    sender = start(swf_client, domain, "Parent")
    target = start(swf_client, domain, "Child")
    task = poll_decision(swf_client, domain, "parent")
    respond(
        swf_client,
        task,
        [
            decision(
                "SignalExternalWorkflowExecution",
                workflowId=target["workflowId"],
                runId=target["runId"],
                signalName="ping",
                input="from sender",
            ),
            decision("RequestCancelExternalWorkflowExecution", workflowId=target["workflowId"]),
            decision("SignalExternalWorkflowExecution", workflowId="nobody", signalName="x"),
        ],
    )
    target_events = history(swf_client, domain, target)
    signaled = attributes(find(target_events, "WorkflowExecutionSignaled")[0])
    assert signaled["signalName"] == "ping" and signaled["input"] == "from sender"
    assert signaled["externalWorkflowExecution"] == sender
    assert find(target_events, "WorkflowExecutionCancelRequested")
    sender_events = history(swf_client, domain, sender)
    assert len(find(sender_events, "ExternalWorkflowExecutionSignaled")) == 1
    assert find(sender_events, "ExternalWorkflowExecutionCancelRequested")
    failed = attributes(find(sender_events, "SignalExternalWorkflowExecutionFailed")[0])
    assert failed["cause"] == "UNKNOWN_EXTERNAL_WORKFLOW_EXECUTION"


@pytest.mark.parametrize("policy", ["TERMINATE", "REQUEST_CANCEL", "ABANDON"])
def test_child_policy_on_parent_that_completes(swf_client, domain, policy):
    _types(swf_client, domain)
    parent, child = _start_parent_with_child(swf_client, domain, policy)
    task = poll_decision(swf_client, domain, "parent")
    respond(swf_client, task, [decision("CompleteWorkflowExecution")])
    assert is_closed(swf_client, domain, parent) == "COMPLETED"
    _check_child(swf_client, domain, child, policy)
