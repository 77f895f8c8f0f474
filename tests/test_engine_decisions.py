"""Engine unit tests: cancellation, signals, markers, terminate, decision failures and races."""

from __future__ import annotations

import pytest
from test_engine_support import (
    ACT,
    attrs,
    decide,
    decision,
    describe,
    history,
    make_engine,
    poll_activity,
    poll_decision,
    schedule,
    start,
    types,
)

from swfd.local.faults import SWFFault


@pytest.fixture
def engine():
    eng = make_engine()
    yield eng
    eng.close()


def test_cancel_flow_end_to_end(engine):
    run_id = start(engine)
    decide(engine, poll_decision(engine)["taskToken"], schedule())
    act = poll_activity(engine)
    engine.call("RequestCancelWorkflowExecution", {"domain": "d", "workflowId": "w1"})
    assert describe(engine, run_id)["executionInfo"]["cancelRequested"] is True
    task = poll_decision(engine)
    assert types(task["events"])[-3:] == ["WorkflowExecutionCancelRequested",
                                          "DecisionTaskScheduled", "DecisionTaskStarted"]
    decide(engine, task["taskToken"], decision("RequestCancelActivityTask", activityId="a1"))
    requested = history(engine, run_id)[-1]
    assert requested["eventType"] == "ActivityTaskCancelRequested"
    assert attrs(requested)["activityId"] == "a1"
    beat = engine.call("RecordActivityTaskHeartbeat", {"taskToken": act["taskToken"]})
    assert beat == {"cancelRequested": True}
    engine.call("RespondActivityTaskCanceled", {"taskToken": act["taskToken"], "details": "ok"})
    canceled = history(engine, run_id)[-2]
    assert attrs(canceled) == {"details": "ok", "scheduledEventId": 5, "startedEventId": 6,
                               "latestCancelRequestedEventId": requested["eventId"]}
    task = poll_decision(engine)
    decide(engine, task["taskToken"], decision("CancelWorkflowExecution", details="bye"))
    info = describe(engine, run_id)["executionInfo"]
    assert info["closeStatus"] == "CANCELED"


def test_cancel_of_a_scheduled_activity_is_immediate(engine):
    run_id = start(engine)
    decide(engine, poll_decision(engine)["taskToken"], schedule())
    engine.call("SignalWorkflowExecution", {"domain": "d", "workflowId": "w1", "signalName": "s"})
    decide(engine, poll_decision(engine)["taskToken"],
           decision("RequestCancelActivityTask", activityId="a1"),
           decision("RequestCancelActivityTask", activityId="zz"))
    assert types(history(engine, run_id))[-4:] == [
        "ActivityTaskCancelRequested", "ActivityTaskCanceled",
        "RequestCancelActivityTaskFailed", "DecisionTaskScheduled"]
    assert "taskToken" not in poll_activity(engine)
    assert attrs(history(engine, run_id)[-2])["cause"] == "ACTIVITY_ID_UNKNOWN"


def test_signals_and_markers(engine):
    run_id = start(engine)
    engine.call("SignalWorkflowExecution",
                {"domain": "d", "workflowId": "w1", "signalName": "go", "input": "payload"})
    task = poll_decision(engine)
    # The signal folded into the already scheduled decision task.
    assert types(task["events"]) == ["WorkflowExecutionStarted", "DecisionTaskScheduled",
                                     "WorkflowExecutionSignaled", "DecisionTaskStarted"]
    assert attrs(task["events"][2]) == {"signalName": "go", "input": "payload"}
    decide(engine, task["taskToken"], decision("RecordMarker", markerName="m", details="x"))
    ev = history(engine, run_id)[-1]
    assert ev["eventType"] == "MarkerRecorded"
    assert attrs(ev) == {"markerName": "m", "details": "x", "decisionTaskCompletedEventId": 5}
    with pytest.raises(SWFFault) as err:
        engine.call("SignalWorkflowExecution",
                    {"domain": "d", "workflowId": "nope", "signalName": "go"})
    assert err.value.code == "UnknownResourceFault"


def test_one_outstanding_decision_task_and_unhandled_close(engine):
    run_id = start(engine)
    task = poll_decision(engine)
    engine.call("SignalWorkflowExecution", {"domain": "d", "workflowId": "w1", "signalName": "a"})
    engine.call("SignalWorkflowExecution", {"domain": "d", "workflowId": "w1", "signalName": "b"})
    assert engine.call("CountPendingDecisionTasks",
                       {"domain": "d", "taskList": {"name": "tl"}})["count"] == 0
    decide(engine, task["taskToken"], decision("CompleteWorkflowExecution"))
    events = history(engine, run_id)
    assert types(events)[-3:] == ["DecisionTaskCompleted", "CompleteWorkflowExecutionFailed",
                                  "DecisionTaskScheduled"]
    assert attrs(events[-2]) == {"cause": "UNHANDLED_DECISION",
                                 "decisionTaskCompletedEventId": events[-3]["eventId"]}
    task = poll_decision(engine)
    assert task["previousStartedEventId"] == 3
    decide(engine, task["taskToken"], decision("CompleteWorkflowExecution", result="r"))
    assert describe(engine, run_id)["executionInfo"]["closeStatus"] == "COMPLETED"


def test_failed_decision_beside_decisions_that_apply(engine):
    run_id = start(engine)
    task = poll_decision(engine)
    decide(engine, task["taskToken"],
           schedule("a1"),
           decision("ScheduleActivityTask", activityType={"name": "A", "version": "404"},
                    activityId="a2"),
           schedule("a1"),
           decision("ScheduleLambdaFunction", id="l", name="fn"),
           schedule("a3", taskPriority="5"))
    events = history(engine, run_id)
    assert types(events)[4:] == [
        "ActivityTaskScheduled", "ScheduleActivityTaskFailed", "ScheduleActivityTaskFailed",
        "ScheduleLambdaFunctionFailed", "ActivityTaskScheduled", "DecisionTaskScheduled"]
    assert attrs(events[5])["cause"] == "ACTIVITY_TYPE_DOES_NOT_EXIST"
    assert attrs(events[6])["cause"] == "ACTIVITY_ID_ALREADY_IN_USE"
    assert attrs(events[7])["cause"] == "LAMBDA_SERVICE_NOT_AVAILABLE_IN_REGION"
    # Priority orders delivery: a3 (5) before a1 (0).
    assert poll_activity(engine)["activityId"] == "a3"
    assert poll_activity(engine)["activityId"] == "a1"


def test_schedule_activity_defaults_undefined(engine):
    engine.call("RegisterActivityType", {"domain": "d", "name": "Bare", "version": "1"})
    run_id = start(engine)
    bare = {"name": "Bare", "version": "1"}
    decide(engine, poll_decision(engine)["taskToken"],
           decision("ScheduleActivityTask", activityType=bare, activityId="x"),
           decision("ScheduleActivityTask", activityType=bare, activityId="y",
                    taskList={"name": "q"}))
    events = history(engine, run_id)
    assert attrs(events[4])["cause"] == "DEFAULT_TASK_LIST_UNDEFINED"
    assert attrs(events[5])["cause"] == "DEFAULT_SCHEDULE_TO_START_TIMEOUT_UNDEFINED"


def test_terminate_and_deprecated_activity_type(engine):
    run_id = start(engine)
    engine.call("DeprecateActivityType", {"domain": "d", "activityType": ACT})
    decide(engine, poll_decision(engine)["taskToken"], schedule())
    assert attrs(history(engine, run_id)[4])["cause"] == "ACTIVITY_TYPE_DEPRECATED"
    engine.call("TerminateWorkflowExecution",
                {"domain": "d", "workflowId": "w1", "reason": "why", "details": "d"})
    ev = history(engine, run_id)[-1]
    assert ev["eventType"] == "WorkflowExecutionTerminated"
    assert attrs(ev) == {"reason": "why", "details": "d", "childPolicy": "TERMINATE",
                         "cause": "OPERATOR_INITIATED"}
    assert describe(engine, run_id)["executionInfo"]["closeStatus"] == "TERMINATED"
    assert "taskToken" not in poll_decision(engine)
    with pytest.raises(SWFFault) as err:
        engine.call("TerminateWorkflowExecution", {"domain": "d", "workflowId": "w1"})
    assert err.value.code == "UnknownResourceFault"


def test_open_activities_limit(engine, monkeypatch):
    from swfd.local import decisions

    monkeypatch.setattr(decisions, "MAX_OPEN_ACTIVITIES", 2)
    run_id = start(engine)
    decide(engine, poll_decision(engine)["taskToken"], schedule("a"), schedule("b"),
           schedule("c"))
    assert attrs(history(engine, run_id)[6])["cause"] == "OPEN_ACTIVITIES_LIMIT_EXCEEDED"


def test_event_limit_terminates(engine, monkeypatch):
    import swfd.local.engine as engine_module

    monkeypatch.setattr(engine_module, "MAX_EVENTS", 10)
    run_id = start(engine)
    for i in range(10):
        try:
            engine.call("SignalWorkflowExecution",
                        {"domain": "d", "workflowId": "w1", "signalName": f"s{i}"})
        except SWFFault:
            break
    events = history(engine, run_id)
    assert len(events) == 10
    assert attrs(events[-1]) == {"childPolicy": "TERMINATE", "cause": "EVENT_LIMIT_EXCEEDED"}


def test_stale_and_garbage_tokens(engine):
    start(engine)
    task = poll_decision(engine)
    decide(engine, task["taskToken"])
    with pytest.raises(SWFFault) as err:
        decide(engine, task["taskToken"])
    assert err.value.code == "UnknownResourceFault"
    with pytest.raises(SWFFault) as err:
        decide(engine, "garbage!")
    assert err.value.code == "ValidationException"


def test_a_batch_crossing_the_event_quota_stops_at_it(engine, monkeypatch):
    import swfd.local.engine as engine_module

    monkeypatch.setattr(engine_module, "MAX_EVENTS", 12)
    run_id = start(engine)
    decide(engine, poll_decision(engine)["taskToken"],
           *[decision("RecordMarker", markerName=f"m{i}") for i in range(20)],
           decision("StartChildWorkflowExecution", workflowType={"name": "W", "version": "1"},
                    workflowId="never"))
    events = history(engine, run_id)
    assert len(events) == 12
    assert attrs(events[-1])["cause"] == "EVENT_LIMIT_EXCEEDED"
    assert describe(engine, run_id)["executionInfo"]["closeStatus"] == "TERMINATED"
    with pytest.raises(SWFFault):
        engine.call("DescribeWorkflowExecution",
                    {"domain": "d", "execution": {"workflowId": "never", "runId": "x"}})


def test_quota_reached_by_a_poll_or_a_continue_as_new(engine, monkeypatch):
    import swfd.local.engine as engine_module

    monkeypatch.setattr(engine_module, "MAX_EVENTS", 6)
    run_id = start(engine)
    decide(engine, poll_decision(engine)["taskToken"], schedule())  # events 3..5
    assert "taskToken" not in poll_activity(engine)  # ActivityTaskStarted would be the 6th
    assert attrs(history(engine, run_id)[-1])["cause"] == "EVENT_LIMIT_EXCEEDED"
    run_id = start(engine, "w2")
    task = next(t for t in (poll_decision(engine), poll_decision(engine)) if t["taskToken"])
    engine.call("SignalWorkflowExecution", {"domain": "d", "workflowId": "w2", "signalName": "s"})
    decide(engine, task["taskToken"], decision("ContinueAsNewWorkflowExecution"))
    events = history(engine, run_id, "w2")
    assert len(events) == 6 and events[-1]["eventType"] == "WorkflowExecutionTerminated"
    assert describe(engine, run_id, "w2")["executionInfo"]["closeStatus"] == "TERMINATED"
