"""Engine unit tests: the vertical slice (registration, HelloWorld, polls, faults)."""

from __future__ import annotations

import threading
import time

import pytest
from test_engine_support import (
    ACT,
    WF,
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
from swfd.testing import wait_for

HELLO = [
    "WorkflowExecutionStarted", "DecisionTaskScheduled", "DecisionTaskStarted",
    "DecisionTaskCompleted", "ActivityTaskScheduled", "ActivityTaskStarted",
    "ActivityTaskCompleted", "DecisionTaskScheduled", "DecisionTaskStarted",
    "DecisionTaskCompleted", "WorkflowExecutionCompleted",
]


@pytest.fixture
def engine():
    eng = make_engine()
    yield eng
    eng.close()


def test_hello_world_history_matches_the_seed(engine):
    run_id = start(engine, input="in")
    task = poll_decision(engine)
    assert types(task["events"]) == HELLO[:3]
    assert task["previousStartedEventId"] == 0 and task["startedEventId"] == 3
    assert task["workflowType"] == WF
    decide(engine, task["taskToken"], schedule(input="x"))
    act = poll_activity(engine)
    assert act["activityId"] == "a1" and act["input"] == "x" and act["activityType"] == ACT
    assert act["workflowExecution"] == {"workflowId": "w1", "runId": run_id}
    assert engine.call("RecordActivityTaskHeartbeat", {"taskToken": act["taskToken"]}) == {
        "cancelRequested": False}
    engine.call("RespondActivityTaskCompleted", {"taskToken": act["taskToken"], "result": "Hi"})
    task = poll_decision(engine)
    assert task["previousStartedEventId"] == 3 and task["startedEventId"] == 9
    decide(engine, task["taskToken"], decision("CompleteWorkflowExecution", result="done"))
    events = history(engine, run_id)
    assert types(events) == HELLO
    assert [e["eventId"] for e in events] == list(range(1, 12))
    assert attrs(events[4])["decisionTaskCompletedEventId"] == 4
    assert attrs(events[6]) == {"result": "Hi", "scheduledEventId": 5, "startedEventId": 6}
    assert attrs(events[10]) == {"result": "done", "decisionTaskCompletedEventId": 10}
    assert attrs(events[5])["identity"] == "worker"
    info = describe(engine, run_id)["executionInfo"]
    assert info["executionStatus"] == "CLOSED" and info["closeStatus"] == "COMPLETED"


def test_empty_polls_answer_as_the_service_does(engine):
    t0 = time.monotonic()
    assert poll_decision(engine) == {"previousStartedEventId": 0, "startedEventId": 0}
    assert poll_activity(engine) == {"startedEventId": 0}
    assert time.monotonic() - t0 >= 0.15


def test_waiting_poll_returns_as_soon_as_a_task_arrives():
    engine = make_engine(poll_timeout=5.0)
    try:
        got = {}

        def poll():
            got["task"] = poll_decision(engine)
            got["at"] = time.monotonic()

        thread = threading.Thread(target=poll)
        thread.start()
        wait_for(lambda: engine.queues.get("D", "d", "tl").cond._waiters, timeout=5,
                 interval=0.01, message="the poll is waiting")
        started = time.monotonic()
        start(engine)
        thread.join(5)
        assert got["task"]["taskToken"]
        assert got["at"] - started < 0.05
    finally:
        engine.close()


def test_a_task_goes_to_exactly_one_of_many_pollers():
    engine = make_engine(poll_timeout=0.5)
    try:
        results = []

        def poll():
            results.append(poll_decision(engine).get("taskToken", ""))

        threads = [threading.Thread(target=poll) for _ in range(8)]
        for t in threads:
            t.start()
        for i in range(5):
            start(engine, f"w{i}")
        for t in threads:
            t.join(5)
        tokens = [t for t in results if t]
        assert len(tokens) == 5 and len(set(tokens)) == 5
    finally:
        engine.close()


def test_activity_failure_and_workflow_failure(engine):
    run_id = start(engine)
    decide(engine, poll_decision(engine)["taskToken"], schedule())
    act = poll_activity(engine)
    engine.call("RespondActivityTaskFailed",
                {"taskToken": act["taskToken"], "reason": "boom", "details": "tb"})
    with pytest.raises(SWFFault) as err:
        engine.call("RespondActivityTaskCompleted", {"taskToken": act["taskToken"]})
    assert err.value.code == "UnknownResourceFault"
    task = poll_decision(engine)
    assert attrs(task["events"][6]) == {"reason": "boom", "details": "tb",
                                        "scheduledEventId": 5, "startedEventId": 6}
    decide(engine, task["taskToken"], decision("FailWorkflowExecution", reason="r"))
    assert types(history(engine, run_id))[-1] == "WorkflowExecutionFailed"
    info = describe(engine, run_id)["executionInfo"]
    assert info["closeStatus"] == "FAILED"


def test_registration_faults_and_describe(engine):
    c = engine.call
    with pytest.raises(SWFFault) as err:
        c("RegisterDomain", {"name": "d", "workflowExecutionRetentionPeriodInDays": "1"})
    assert err.value.code == "DomainAlreadyExistsFault"
    with pytest.raises(SWFFault) as err:
        c("RegisterActivityType", {"domain": "d", **ACT})
    assert err.value.code == "TypeAlreadyExistsFault"
    with pytest.raises(SWFFault) as err:
        c("DescribeDomain", {"name": "nope"})
    assert err.value.code == "UnknownResourceFault"
    dom = c("DescribeDomain", {"name": "d"})
    assert dom["domainInfo"] == {"name": "d", "status": "REGISTERED",
                                 "arn": "arn:aws:swf:us-east-1:000000000000:/domain/d"}
    assert dom["configuration"] == {"workflowExecutionRetentionPeriodInDays": "1"}
    desc = c("DescribeActivityType", {"domain": "d", "activityType": ACT})
    assert desc["typeInfo"]["status"] == "REGISTERED"
    assert desc["configuration"]["defaultTaskList"] == {"name": "atl"}
    listed = c("ListWorkflowTypes", {"domain": "d", "registrationStatus": "REGISTERED"})
    assert [t["workflowType"] for t in listed["typeInfos"]] == [WF]
    assert c("ListDomains", {"registrationStatus": "REGISTERED"})["domainInfos"][0]["name"] == "d"


def test_start_faults(engine):
    start(engine)
    with pytest.raises(SWFFault) as err:
        start(engine)
    assert err.value.code == "WorkflowExecutionAlreadyStartedFault"
    with pytest.raises(SWFFault) as err:
        engine.call("StartWorkflowExecution", {
            "domain": "d", "workflowId": "x", "workflowType": {"name": "W", "version": "9"}})
    assert err.value.code == "UnknownResourceFault"
    engine.call("RegisterWorkflowType", {"domain": "d", "name": "Bare", "version": "1"})
    with pytest.raises(SWFFault) as err:
        engine.call("StartWorkflowExecution", {
            "domain": "d", "workflowId": "x", "workflowType": {"name": "Bare", "version": "1"}})
    assert err.value.code == "DefaultUndefinedFault"
    engine.call("StartWorkflowExecution", {
        "domain": "d", "workflowId": "x", "workflowType": {"name": "Bare", "version": "1"},
        "taskList": {"name": "tl"}, "executionStartToCloseTimeout": "60",
        "taskStartToCloseTimeout": "5", "childPolicy": "ABANDON"})


def test_decision_task_paging_survives_the_hand_out(engine):
    run_id = start(engine)
    for i in range(4):
        engine.call("SignalWorkflowExecution",
                    {"domain": "d", "workflowId": "w1", "signalName": f"s{i}"})
    first = poll_decision(engine, maximumPageSize=3)
    assert [e["eventId"] for e in first["events"]] == [1, 2, 3]
    pages = [first]
    while pages[-1].get("nextPageToken"):
        pages.append(poll_decision(engine, maximumPageSize=3,
                                   nextPageToken=pages[-1]["nextPageToken"]))
    ids = [e["eventId"] for p in pages for e in p["events"]]
    assert ids == list(range(1, 8))
    assert all(p["taskToken"] == first["taskToken"] for p in pages)
    decide(engine, first["taskToken"])
    assert len(history(engine, run_id)) == 8


def test_history_paging_and_reverse_order(engine):
    run_id = start(engine)
    for i in range(10):
        engine.call("SignalWorkflowExecution",
                    {"domain": "d", "workflowId": "w1", "signalName": f"s{i}"})
    params = {"domain": "d", "execution": {"workflowId": "w1", "runId": run_id},
              "maximumPageSize": 5, "reverseOrder": True}
    ids, token = [], None
    for _ in range(10):
        page = engine.call("GetWorkflowExecutionHistory",
                           {**params, **({"nextPageToken": token} if token else {})})
        ids += [e["eventId"] for e in page["events"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert ids == list(range(12, 0, -1))


def test_malformed_batch_is_rejected_whole(engine):
    run_id = start(engine)
    task = poll_decision(engine)
    with pytest.raises(SWFFault) as err:
        decide(engine, task["taskToken"], decision("CompleteWorkflowExecution"), schedule())
    assert err.value.code == "ValidationException"
    with pytest.raises(SWFFault) as err:
        decide(engine, task["taskToken"], {"decisionType": "ScheduleActivityTask"})
    assert err.value.code == "ValidationException"
    assert len(history(engine, run_id)) == 3
    decide(engine, task["taskToken"], schedule())
    assert types(history(engine, run_id))[-1] == "ActivityTaskScheduled"


def test_start_at_previous_started_event_and_reverse_order(engine):
    start(engine)
    decide(engine, poll_decision(engine)["taskToken"])
    engine.call("SignalWorkflowExecution", {"domain": "d", "workflowId": "w1", "signalName": "s"})
    task = poll_decision(engine, startAtPreviousStartedEvent=True)
    assert task["previousStartedEventId"] == 3
    # SWF's rule: every event whose timestamp is >= that of the previous DecisionTaskStarted.
    full = history(engine, task["workflowExecution"]["runId"])
    since = full[2]["eventTimestamp"]
    assert task["events"] == [e for e in full if e["eventTimestamp"] >= since]
    assert task["events"][-1]["eventId"] == 7
    decide(engine, task["taskToken"])
    engine.call("SignalWorkflowExecution", {"domain": "d", "workflowId": "w1", "signalName": "t"})
    task = poll_decision(engine, reverseOrder=True, maximumPageSize=2)
    assert [e["eventId"] for e in task["events"]] == [11, 10]
    more = poll_decision(engine, reverseOrder=True, maximumPageSize=2,
                         nextPageToken=task["nextPageToken"])
    assert [e["eventId"] for e in more["events"]] == [9, 8]
