"""Engine unit tests: child workflows and policies, continue-as-new, external signal/cancel."""

from __future__ import annotations

import pytest
from test_engine_support import (
    WF,
    attrs,
    decide,
    decision,
    describe,
    history,
    make_engine,
    poll_decision,
    start,
    types,
)


@pytest.fixture
def engine():
    eng = make_engine()
    yield eng
    eng.close()


def parent_with_child(engine, policy=None):
    """Start parent "p" and its child "c"; returns (parent run, child run)."""
    extra = {"childPolicy": policy} if policy else {}
    parent = start(engine, "p")
    decide(engine, poll_decision(engine)["taskToken"],
           decision("StartChildWorkflowExecution", workflowType=WF, workflowId="c",
                    control="ctl", input="child-in", **extra))
    events = history(engine, parent, "p")
    assert types(events)[4:] == ["StartChildWorkflowExecutionInitiated",
                                 "ChildWorkflowExecutionStarted", "DecisionTaskScheduled"]
    child_run = attrs(events[5])["workflowExecution"]["runId"]
    child_start = history(engine, child_run, "c")[0]
    assert attrs(child_start)["parentWorkflowExecution"] == {"workflowId": "p", "runId": parent}
    assert attrs(child_start)["parentInitiatedEventId"] == 5
    assert describe(engine, parent, "p")["openCounts"]["openChildWorkflowExecutions"] == 1
    return parent, child_run


def test_child_completion_is_reported_to_the_parent(engine):
    parent, child = parent_with_child(engine)
    # Two decision tasks are queued: the parent's (child started) and the child's first.
    tasks = [poll_decision(engine), poll_decision(engine)]
    child_task = next(t for t in tasks if t["workflowExecution"]["workflowId"] == "c")
    parent_task = next(t for t in tasks if t["workflowExecution"]["workflowId"] == "p")
    decide(engine, parent_task["taskToken"])
    decide(engine, child_task["taskToken"], decision("CompleteWorkflowExecution", result="ok"))
    ev = history(engine, parent, "p")[-2]
    assert ev["eventType"] == "ChildWorkflowExecutionCompleted"
    assert attrs(ev) == {"workflowExecution": {"workflowId": "c", "runId": child},
                         "workflowType": WF, "result": "ok", "initiatedEventId": 5,
                         "startedEventId": 6}


@pytest.mark.parametrize("policy,child_event,status", [
    ("TERMINATE", "WorkflowExecutionTerminated", "TERMINATED"),
    ("REQUEST_CANCEL", "WorkflowExecutionCancelRequested", None),
    ("ABANDON", "DecisionTaskScheduled", None),
])
def test_child_policies_on_parent_terminate(engine, policy, child_event, status):
    _parent, child = parent_with_child(engine)
    engine.call("TerminateWorkflowExecution",
                {"domain": "d", "workflowId": "p", "childPolicy": policy})
    last = history(engine, child, "c")
    assert child_event in types(last)
    info = describe(engine, child, "c")["executionInfo"]
    assert info.get("closeStatus") == status
    if policy == "TERMINATE":
        assert attrs(last[-1])["cause"] == "CHILD_POLICY_APPLIED"
    if policy == "REQUEST_CANCEL":
        requested = [e for e in last if e["eventType"] == "WorkflowExecutionCancelRequested"]
        assert attrs(requested[0]) == {"cause": "CHILD_POLICY_APPLIED"}
        assert info["cancelRequested"] is True


def test_child_policy_on_parent_timeout():
    engine = make_engine(wf_exec="1")
    try:
        parent, child = parent_with_child(engine, policy="TERMINATE")
        from swfd.testing import wait_for

        wait_for(lambda: describe(engine, child, "c")["executionInfo"].get("closeStatus"),
                 timeout=4, interval=0.02, message="child closed")
        assert describe(engine, parent, "p")["executionInfo"]["closeStatus"] == "TIMED_OUT"
        assert describe(engine, child, "c")["executionInfo"]["closeStatus"] in (
            "TERMINATED", "TIMED_OUT")
    finally:
        engine.close()


def test_child_already_running_and_unknown_type(engine):
    parent = start(engine, "p")
    start(engine, "busy")
    task = next(t for t in (poll_decision(engine), poll_decision(engine))
                if t["workflowExecution"]["workflowId"] == "p")
    decide(engine, task["taskToken"],
           decision("StartChildWorkflowExecution", workflowType=WF, workflowId="busy"),
           decision("StartChildWorkflowExecution", workflowType={"name": "W", "version": "0"},
                    workflowId="c2"))
    events = history(engine, parent, "p")
    kinds = types(events)
    assert kinds[-4:] == ["StartChildWorkflowExecutionInitiated",
                          "StartChildWorkflowExecutionFailed",
                          "StartChildWorkflowExecutionFailed", "DecisionTaskScheduled"]
    assert attrs(events[-3])["cause"] == "WORKFLOW_ALREADY_RUNNING"
    assert attrs(events[-3])["initiatedEventId"] == events[-4]["eventId"]
    assert attrs(events[-2])["cause"] == "WORKFLOW_TYPE_DOES_NOT_EXIST"


def test_continue_as_new(engine):
    first = start(engine, input="1", tagList=["t"])
    decide(engine, poll_decision(engine)["taskToken"],
           decision("ContinueAsNewWorkflowExecution", input="2", tagList=["t"]))
    closing = history(engine, first)[-1]
    assert closing["eventType"] == "WorkflowExecutionContinuedAsNew"
    new_run = attrs(closing)["newExecutionRunId"]
    assert attrs(closing)["input"] == "2" and attrs(closing)["workflowType"] == WF
    assert describe(engine, first)["executionInfo"]["closeStatus"] == "CONTINUED_AS_NEW"
    started = history(engine, new_run)[0]
    assert attrs(started)["continuedExecutionRunId"] == first
    assert attrs(started)["input"] == "2"
    task = poll_decision(engine)
    assert task["workflowExecution"] == {"workflowId": "w1", "runId": new_run}


def test_signal_and_cancel_external(engine):
    a = start(engine, "a")
    b = start(engine, "b")
    tasks = {t["workflowExecution"]["workflowId"]: t
             for t in (poll_decision(engine), poll_decision(engine))}
    decide(engine, tasks["b"]["taskToken"])
    decide(engine, tasks["a"]["taskToken"],
           decision("SignalExternalWorkflowExecution", workflowId="b", signalName="hey",
                    input="i"),
           decision("SignalExternalWorkflowExecution", workflowId="zz", signalName="x"),
           decision("RequestCancelExternalWorkflowExecution", workflowId="b", runId=b))
    events = history(engine, a, "a")
    assert types(events)[4:] == [
        "SignalExternalWorkflowExecutionInitiated", "ExternalWorkflowExecutionSignaled",
        "SignalExternalWorkflowExecutionInitiated", "SignalExternalWorkflowExecutionFailed",
        "RequestCancelExternalWorkflowExecutionInitiated",
        "ExternalWorkflowExecutionCancelRequested", "DecisionTaskScheduled"]
    assert attrs(events[7])["cause"] == "UNKNOWN_EXTERNAL_WORKFLOW_EXECUTION"
    b_events = history(engine, b, "b")
    signaled = next(e for e in b_events if e["eventType"] == "WorkflowExecutionSignaled")
    assert attrs(signaled) == {"signalName": "hey", "input": "i",
                               "externalWorkflowExecution": {"workflowId": "a", "runId": a},
                               "externalInitiatedEventId": 5}
    requested = next(e for e in b_events if e["eventType"] == "WorkflowExecutionCancelRequested")
    assert attrs(requested) == {"externalWorkflowExecution": {"workflowId": "a", "runId": a},
                                "externalInitiatedEventId": 9}


def test_child_policy_reaches_a_child_whose_started_event_hit_the_quota(engine, monkeypatch):
    import swfd.local.engine as engine_module

    monkeypatch.setattr(engine_module, "MAX_EVENTS", 6)  # ChildWorkflowExecutionStarted = 6th
    parent = start(engine, "p")
    decide(engine, poll_decision(engine)["taskToken"],
           decision("StartChildWorkflowExecution", workflowType=WF, workflowId="c"))
    events = history(engine, parent, "p")
    assert types(events)[-2:] == ["StartChildWorkflowExecutionInitiated",
                                  "WorkflowExecutionTerminated"]
    child = engine.call("ListClosedWorkflowExecutions", {
        "domain": "d", "startTimeFilter": {"oldestDate": 0},
        "executionFilter": {"workflowId": "c"}})["executionInfos"]
    assert child[0]["closeStatus"] == "TERMINATED"


def test_child_timeout_is_reported_to_the_parent(engine):
    from swfd.testing import wait_for

    parent = start(engine, "p")
    decide(engine, poll_decision(engine)["taskToken"],
           decision("StartChildWorkflowExecution", workflowType=WF, workflowId="c",
                    executionStartToCloseTimeout="1"))

    def timed_out():
        found = [e for e in history(engine, parent, "p")
                 if e["eventType"] == "ChildWorkflowExecutionTimedOut"]
        return found[0] if found else None

    ev = wait_for(timed_out, timeout=4, interval=0.02, message="ChildWorkflowExecutionTimedOut")
    assert attrs(ev)["timeoutType"] == "START_TO_CLOSE"
    assert attrs(ev)["initiatedEventId"] == 5 and attrs(ev)["startedEventId"] == 6
    assert describe(engine, parent, "p")["openCounts"]["openChildWorkflowExecutions"] == 0
