"""Decision outcomes: each decision's event or *Failed event with the documented cause.

Sources: the API reference's Decision page and the *DecisionAttributes /
*FailedEventAttributes pages (the cause enums and when each applies),
StartChildWorkflowExecutionFailedEventAttributes.initiatedEventId ("When the
cause is WORKFLOW_ALREADY_RUNNING, initiatedEventId is the ID of the
StartChildWorkflowExecutionInitiated event ... When the cause isn't
WORKFLOW_ALREADY_RUNNING, initiatedEventId is set to 0"), and the developer
guide's "Cancelling activity tasks" ("If the activity task has not yet been
acquired by an activity worker, the service will cancel the task").
"""

from __future__ import annotations

import pytest
from test_local_support import (  # noqa: F401 (no_internal_failures is autouse)
    attributes,
    complete_workflow,
    decision,
    event_types,
    find,
    history,
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

W = {"name": "W", "version": "1.0"}


@pytest.fixture
def setup(swf_client, domain):
    register_workflow_type(swf_client, domain, "W")
    register_activity_type(swf_client, domain, "A")
    return swf_client, domain


def first_task(client, domain):
    """A started execution and its first decision task."""
    tl = unique("tl")
    ex = start(client, domain, "W", taskList={"name": tl})
    task = poll_decision(client, domain, tl)
    assert task["taskToken"]
    return ex, tl, task


def after(events, event_id):
    return [e for e in events if e["eventId"] > event_id]


def completed_id(events) -> int:
    return find(events, "DecisionTaskCompleted")[-1]["eventId"]


def failure(events, event_type) -> dict:
    found = find(events, event_type)
    assert len(found) == 1, (event_type, event_types(events))
    return attributes(found[0])


def test_timer_and_activity_decision_failures(setup):
    client, domain = setup
    register_activity_type(client, domain, "Old")
    client.deprecate_activity_type(domain=domain, activityType={"name": "Old", "version": "1.0"})
    client.register_activity_type(domain=domain, name="NoList", version="1",
                                  defaultTaskStartToCloseTimeout="60")
    ex, tl, task = first_task(client, domain)
    respond(client, task, [
        decision("StartTimer", timerId="t", startToFireTimeout="600"),
        decision("StartTimer", timerId="t", startToFireTimeout="600"),
        decision("CancelTimer", timerId="never-started"),
        decision("RequestCancelActivityTask", activityId="never-scheduled"),
        schedule_activity("a", "A", task_list=tl + "-a"),
        schedule_activity("a", "A", task_list=tl + "-a"),
        schedule_activity("b", "Nope"),
        schedule_activity("c", "Old"),
        schedule_activity("d", "NoList", version="1"),
    ])
    events = history(client, domain, ex)
    done = completed_id(events)
    assert failure(events, "StartTimerFailed")["cause"] == "TIMER_ID_ALREADY_IN_USE"
    assert failure(events, "CancelTimerFailed")["cause"] == "TIMER_ID_UNKNOWN"
    cancel = failure(events, "RequestCancelActivityTaskFailed")
    assert (cancel["cause"], cancel["activityId"]) == ("ACTIVITY_ID_UNKNOWN", "never-scheduled")
    causes = {attributes(e)["activityId"]: attributes(e)["cause"]
              for e in find(events, "ScheduleActivityTaskFailed")}
    assert causes == {
        "a": "ACTIVITY_ID_ALREADY_IN_USE",
        "b": "ACTIVITY_TYPE_DOES_NOT_EXIST",
        "c": "ACTIVITY_TYPE_DEPRECATED",
        "d": "DEFAULT_TASK_LIST_UNDEFINED",
    }
    failed = [e for e in events if e["eventType"].endswith("Failed")]
    assert {attributes(e)["decisionTaskCompletedEventId"] for e in failed} == {done}
    # The decisions that could be carried out were: one timer, one activity.
    assert len(find(events, "TimerStarted")) == 1
    assert len(find(events, "ActivityTaskScheduled")) == 1
    # A failed decision is news for the decider: a new decision task is scheduled.
    assert find(after(events, done), "DecisionTaskScheduled")
    assert poll_decision(client, domain, tl)["taskToken"]


def test_start_child_failures_and_their_initiated_event_ids(setup):
    client, domain = setup
    register_workflow_type(client, domain, "Old")
    client.deprecate_workflow_type(domain=domain, workflowType={"name": "Old", "version": "1.0"})
    running = start(client, domain, "W", taskList={"name": unique("other")})
    ex, tl, task = first_task(client, domain)
    respond(client, task, [
        decision("StartChildWorkflowExecution", workflowId=unique("c"),
                 workflowType={"name": "Nope", "version": "1"}),
        decision("StartChildWorkflowExecution", workflowId=unique("c"),
                 workflowType={"name": "Old", "version": "1.0"}),
        decision("StartChildWorkflowExecution", workflowId=running["workflowId"],
                 workflowType=W, taskList={"name": tl + "-child"}),
    ])
    events = history(client, domain, ex)
    failed = {attributes(e)["cause"]: attributes(e)
              for e in find(events, "StartChildWorkflowExecutionFailed")}
    assert set(failed) == {"WORKFLOW_TYPE_DOES_NOT_EXIST", "WORKFLOW_TYPE_DEPRECATED",
                           "WORKFLOW_ALREADY_RUNNING"}
    assert failed["WORKFLOW_TYPE_DOES_NOT_EXIST"]["initiatedEventId"] == 0
    assert failed["WORKFLOW_TYPE_DEPRECATED"]["initiatedEventId"] == 0
    initiated = find(events, "StartChildWorkflowExecutionInitiated")
    assert len(initiated) == 1
    assert attributes(initiated[0])["workflowId"] == running["workflowId"]
    assert failed["WORKFLOW_ALREADY_RUNNING"]["initiatedEventId"] == initiated[0]["eventId"]
    assert failed["WORKFLOW_ALREADY_RUNNING"]["workflowId"] == running["workflowId"]
    assert poll_decision(client, domain, tl)["taskToken"]


@pytest.mark.parametrize("decision_type", ["SignalExternalWorkflowExecution",
                                           "RequestCancelExternalWorkflowExecution"])
def test_external_decision_to_an_unknown_execution(setup, decision_type):
    """Initiated, then *Failed UNKNOWN_EXTERNAL_WORKFLOW_EXECUTION naming it, and a new
    decision task that shows the failure to the decider."""
    client, domain = setup
    ex, tl, task = first_task(client, domain)
    extra = {"signalName": "s"} if decision_type.startswith("Signal") else {}
    target = unique("nobody")
    respond(client, task, [decision(decision_type, workflowId=target, control="c", **extra)])
    next_task = poll_decision(client, domain, tl)
    assert next_task["taskToken"]
    seen = {e["eventType"]: e for e in next_task["events"]}
    initiated = seen[f"{decision_type}Initiated"]
    failed = attributes(seen[f"{decision_type}Failed"])
    assert failed["cause"] == "UNKNOWN_EXTERNAL_WORKFLOW_EXECUTION"
    assert failed["initiatedEventId"] == initiated["eventId"]
    assert failed["workflowId"] == target
    assert failed["control"] == "c"
    assert failed["decisionTaskCompletedEventId"] == completed_id(next_task["events"])
    assert seen[f"{decision_type}Failed"]["eventId"] < next_task["startedEventId"]
    respond(client, next_task, [complete_workflow()])
    assert history(client, domain, ex)[-1]["eventType"] == "WorkflowExecutionCompleted"


def test_external_decisions_reach_the_target(setup):
    """Signaled/CancelRequested in the target name the initiating event and execution."""
    client, domain = setup
    target_tl = unique("target")
    target = start(client, domain, "W", taskList={"name": target_tl})
    ex, _tl, task = first_task(client, domain)
    respond(client, task, [
        decision("SignalExternalWorkflowExecution", workflowId=target["workflowId"],
                 runId=target["runId"], signalName="go", input="payload"),
        decision("RequestCancelExternalWorkflowExecution", workflowId=target["workflowId"]),
    ])
    source = history(client, domain, ex)
    sig_init = find(source, "SignalExternalWorkflowExecutionInitiated")[0]
    cancel_init = find(source, "RequestCancelExternalWorkflowExecutionInitiated")[0]
    signaled_back = attributes(find(source, "ExternalWorkflowExecutionSignaled")[0])
    assert signaled_back["initiatedEventId"] == sig_init["eventId"]
    assert signaled_back["workflowExecution"] == target
    cancel_back = attributes(find(source, "ExternalWorkflowExecutionCancelRequested")[0])
    assert cancel_back["initiatedEventId"] == cancel_init["eventId"]
    assert cancel_back["workflowExecution"] == target

    events = history(client, domain, target)
    signaled = attributes(find(events, "WorkflowExecutionSignaled")[0])
    assert signaled["signalName"] == "go" and signaled["input"] == "payload"
    assert signaled["externalWorkflowExecution"] == ex
    assert signaled["externalInitiatedEventId"] == sig_init["eventId"]
    requested = attributes(find(events, "WorkflowExecutionCancelRequested")[0])
    assert requested["externalWorkflowExecution"] == ex
    assert requested["externalInitiatedEventId"] == cancel_init["eventId"]
    assert client.describe_workflow_execution(
        domain=domain, execution=target)["executionInfo"]["cancelRequested"] is True


def test_cancel_of_an_activity_no_worker_has_is_immediate(setup):
    client, domain = setup
    ex, tl, task = first_task(client, domain)
    respond(client, task, [schedule_activity("a", "A", task_list=tl + "-a")])
    # A signal makes a decision task while the activity waits for a worker.
    client.signal_workflow_execution(domain=domain, workflowId=ex["workflowId"], signalName="s")
    task = poll_decision(client, domain, tl)
    respond(client, task, [decision("RequestCancelActivityTask", activityId="a")])
    events = history(client, domain, ex)
    requested = find(events, "ActivityTaskCancelRequested")
    canceled = find(events, "ActivityTaskCanceled")
    assert len(requested) == 1 and len(canceled) == 1
    scheduled = find(events, "ActivityTaskScheduled")[0]
    assert attributes(canceled[0])["scheduledEventId"] == scheduled["eventId"]
    assert attributes(canceled[0])["latestCancelRequestedEventId"] == requested[0]["eventId"]
    assert client.count_pending_activity_tasks(
        domain=domain, taskList={"name": tl + "-a"})["count"] == 0
    assert "taskToken" not in poll_activity(client, domain, tl + "-a")
    assert attributes(canceled[0])["startedEventId"] == 0  # it never started
    # The cancellation is news for the decider.
    task = poll_decision(client, domain, tl)
    assert "ActivityTaskCanceled" in event_types(task["events"])


def test_cancel_of_a_started_activity_goes_through_its_heartbeat(setup):
    client, domain = setup
    ex, tl, task = first_task(client, domain)
    respond(client, task, [schedule_activity("a", "A", task_list=tl + "-a")])
    work = poll_activity(client, domain, tl + "-a")
    assert client.record_activity_task_heartbeat(taskToken=work["taskToken"],
                                                 details="10%")["cancelRequested"] is False
    client.signal_workflow_execution(domain=domain, workflowId=ex["workflowId"], signalName="s")
    task = poll_decision(client, domain, tl)
    respond(client, task, [decision("RequestCancelActivityTask", activityId="a")])
    assert not find(history(client, domain, ex), "ActivityTaskCanceled")
    assert client.record_activity_task_heartbeat(taskToken=work["taskToken"])["cancelRequested"]
    client.respond_activity_task_canceled(taskToken=work["taskToken"], details="undone")
    events = history(client, domain, ex)
    canceled = attributes(find(events, "ActivityTaskCanceled")[0])
    assert canceled["details"] == "undone"
    assert canceled["startedEventId"] == work["startedEventId"]
    assert canceled["latestCancelRequestedEventId"] == find(
        events, "ActivityTaskCancelRequested")[0]["eventId"]


def test_close_decision_with_unseen_events_fails_unhandled(setup):
    """A close decision while new events arrived: *Failed UNHANDLED_DECISION and a new task;
    the other decisions of the batch still apply."""
    client, domain = setup
    for close in [complete_workflow("r"), decision("FailWorkflowExecution", reason="x"),
                  decision("CancelWorkflowExecution"),
                  decision("ContinueAsNewWorkflowExecution")]:
        ex, tl, task = first_task(client, domain)
        client.signal_workflow_execution(domain=domain, workflowId=ex["workflowId"],
                                         signalName="meanwhile")
        respond(client, task, [decision("RecordMarker", markerName="m"), close])
        events = history(client, domain, ex)
        failed = attributes(find(events, close["decisionType"] + "Failed")[0])
        assert failed["cause"] == "UNHANDLED_DECISION"
        assert find(events, "MarkerRecorded")
        assert client.describe_workflow_execution(
            domain=domain, execution=ex)["executionInfo"]["executionStatus"] == "OPEN"
        task = poll_decision(client, domain, tl)
        assert "WorkflowExecutionSignaled" in event_types(task["events"])
        respond(client, task, [complete_workflow()])


def test_continue_as_new_of_a_deprecated_type_fails(setup):
    client, domain = setup
    ex, tl, task = first_task(client, domain)
    client.deprecate_workflow_type(domain=domain, workflowType=W)
    respond(client, task, [decision("ContinueAsNewWorkflowExecution", taskList={"name": tl})])
    events = history(client, domain, ex)
    failed = attributes(find(events, "ContinueAsNewWorkflowExecutionFailed")[0])
    assert failed["cause"] == "WORKFLOW_TYPE_DEPRECATED"
    assert failed["decisionTaskCompletedEventId"] == completed_id(events)


def test_continue_as_new_starts_a_linked_run(setup):
    client, domain = setup
    ex, tl, task = first_task(client, domain)
    respond(client, task, [decision("ContinueAsNewWorkflowExecution", input="round 2",
                                    taskList={"name": tl}, tagList=["again"],
                                    taskPriority="2")])
    events = history(client, domain, ex)
    continued = attributes(events[-1])
    assert events[-1]["eventType"] == "WorkflowExecutionContinuedAsNew"
    assert continued["decisionTaskCompletedEventId"] == completed_id(events)
    new_run = {"workflowId": ex["workflowId"], "runId": continued["newExecutionRunId"]}
    assert new_run["runId"] != ex["runId"]
    old = client.describe_workflow_execution(domain=domain, execution=ex)["executionInfo"]
    assert old["closeStatus"] == "CONTINUED_AS_NEW"
    started = attributes(history(client, domain, new_run)[0])
    assert started["continuedExecutionRunId"] == ex["runId"]
    assert started["input"] == "round 2"
    assert started["tagList"] == ["again"]
    assert started["taskPriority"] == "2"
    assert started["taskList"] == {"name": tl}
    task = poll_decision(client, domain, tl)
    assert task["workflowExecution"] == new_run
    assert task["previousStartedEventId"] == 0
    # Signals by workflowId alone go to the open run.
    client.signal_workflow_execution(domain=domain, workflowId=ex["workflowId"], signalName="s")
    assert find(history(client, domain, new_run), "WorkflowExecutionSignaled")
    respond(client, task, [complete_workflow()])


def test_timer_events_name_their_start(setup):
    client, domain = setup
    ex, tl, task = first_task(client, domain)
    respond(client, task, [decision("StartTimer", timerId="now", startToFireTimeout="0",
                                    control="ctl"),
                           decision("StartTimer", timerId="later", startToFireTimeout="600")])
    task = poll_decision(client, domain, tl)
    fired = attributes(find(task["events"], "TimerFired")[0])
    started = {attributes(e)["timerId"]: e for e in find(task["events"], "TimerStarted")}
    assert fired == {"timerId": "now", "startedEventId": started["now"]["eventId"]}
    assert attributes(started["now"])["control"] == "ctl"
    respond(client, task, [decision("CancelTimer", timerId="later"),
                           # a fired timer's id may be used again
                           decision("StartTimer", timerId="now", startToFireTimeout="600")])
    events = history(client, domain, ex)
    canceled = attributes(find(events, "TimerCanceled")[0])
    assert canceled["timerId"] == "later"
    assert canceled["startedEventId"] == started["later"]["eventId"]
    assert canceled["decisionTaskCompletedEventId"] == completed_id(events)
    assert len(find(events, "TimerStarted")) == 3
    assert not find(events, "StartTimerFailed")
