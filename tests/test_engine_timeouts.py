"""Engine unit tests: every timeout on the timer schedule, and "NONE" meaning no timer."""

from __future__ import annotations

import time

import pytest
from test_engine_support import (
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


@pytest.fixture
def engine():
    eng = make_engine()
    yield eng
    eng.close()


def last(engine, run_id, event_type, timeout=4.0, workflow_id="w1"):
    """Wait until the history holds ``event_type``; return that event."""
    def find():
        events = history(engine, run_id, workflow_id)
        found = [e for e in events if e["eventType"] == event_type]
        return found[-1] if found else None
    return wait_for(find, timeout=timeout, interval=0.02, message=event_type)


def scheduled(engine, **timeouts):
    run_id = start(engine)
    decide(engine, poll_decision(engine)["taskToken"], schedule(**timeouts))
    return run_id


def test_activity_schedule_to_start(engine):
    run_id = scheduled(engine, scheduleToStartTimeout="1")
    ev = last(engine, run_id, "ActivityTaskTimedOut")
    assert attrs(ev) == {"timeoutType": "SCHEDULE_TO_START", "scheduledEventId": 5,
                         "startedEventId": 0}
    assert "taskToken" not in poll_activity(engine)  # the timed-out task is gone
    assert types(history(engine, run_id))[-1] == "DecisionTaskScheduled"


def test_activity_start_to_close_invalidates_the_token(engine):
    run_id = scheduled(engine, startToCloseTimeout="1")
    task = poll_activity(engine)
    ev = last(engine, run_id, "ActivityTaskTimedOut")
    assert attrs(ev)["timeoutType"] == "START_TO_CLOSE"
    assert attrs(ev)["startedEventId"] == 6
    with pytest.raises(SWFFault) as err:
        engine.call("RespondActivityTaskCompleted", {"taskToken": task["taskToken"]})
    assert err.value.code == "UnknownResourceFault"


def test_activity_schedule_to_close(engine):
    run_id = scheduled(engine, scheduleToCloseTimeout="1")
    poll_activity(engine)
    assert attrs(last(engine, run_id, "ActivityTaskTimedOut"))["timeoutType"] == \
        "SCHEDULE_TO_CLOSE"


def test_activity_heartbeat_timeout_is_pushed_back_by_heartbeats(engine):
    run_id = scheduled(engine, heartbeatTimeout="1")
    task = poll_activity(engine)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.6:  # heartbeats keep it alive past its 1 s timeout
        engine.call("RecordActivityTaskHeartbeat",
                    {"taskToken": task["taskToken"], "details": "progress"})
        time.sleep(0.2)
    assert "ActivityTaskTimedOut" not in types(history(engine, run_id))
    ev = last(engine, run_id, "ActivityTaskTimedOut")
    assert attrs(ev)["timeoutType"] == "HEARTBEAT" and attrs(ev)["details"] == "progress"


def test_none_means_no_timer(engine):
    run_id = scheduled(engine, scheduleToStartTimeout="NONE", scheduleToCloseTimeout="NONE",
                       heartbeatTimeout="NONE")
    # Compare with a 1 s timer armed at the same time: when it fires, NONE has not.
    decide_run = start(engine, "w2")
    decide(engine, poll_decision(engine)["taskToken"],
           decision("StartTimer", timerId="t", startToFireTimeout="1"))
    last(engine, decide_run, "TimerFired", timeout=4, workflow_id="w2")
    assert "ActivityTaskTimedOut" not in types(history(engine, run_id))
    assert poll_activity(engine)["taskToken"]


def test_decision_start_to_close_then_a_new_decision_task():
    engine = make_engine(wf_task="1")
    try:
        run_id = start(engine)
        stale = poll_decision(engine)
        ev = last(engine, run_id, "DecisionTaskTimedOut")
        assert attrs(ev) == {"timeoutType": "START_TO_CLOSE", "scheduledEventId": 2,
                             "startedEventId": 3}
        with pytest.raises(SWFFault):
            decide(engine, stale["taskToken"])
        fresh = poll_decision(engine)
        assert fresh["taskToken"] and fresh["startedEventId"] == 6
        assert fresh["previousStartedEventId"] == 0
    finally:
        engine.close()


def test_decision_task_list_override_schedule_to_start(engine):
    run_id = start(engine)
    decide(engine, poll_decision(engine)["taskToken"], decision("StartTimer", timerId="t",
                                                                startToFireTimeout="0"),
           taskList={"name": "elsewhere"}, taskListScheduleToStartTimeout="1")
    ev = last(engine, run_id, "DecisionTaskTimedOut")
    assert attrs(ev)["timeoutType"] == "SCHEDULE_TO_START"
    sched = [e for e in history(engine, run_id) if e["eventType"] == "DecisionTaskScheduled"]
    assert attrs(sched[1])["taskList"] == {"name": "elsewhere"}
    assert attrs(sched[-1])["taskList"] == {"name": "tl"}
    assert poll_decision(engine)["taskToken"]


def test_execution_timeout_closes_as_timed_out():
    engine = make_engine(wf_exec="1")
    try:
        run_id = start(engine)
        ev = last(engine, run_id, "WorkflowExecutionTimedOut")
        assert attrs(ev) == {"timeoutType": "START_TO_CLOSE", "childPolicy": "TERMINATE"}
        assert describe(engine, run_id)["executionInfo"]["closeStatus"] == "TIMED_OUT"
        assert "taskToken" not in poll_decision(engine)
    finally:
        engine.close()


def test_timer_fires_and_cancel_timer(engine):
    run_id = start(engine)
    task = poll_decision(engine)
    decide(engine, task["taskToken"],
           decision("StartTimer", timerId="fast", startToFireTimeout="1", control="c"),
           decision("StartTimer", timerId="slow", startToFireTimeout="100"),
           decision("StartTimer", timerId="fast", startToFireTimeout="5"),
           decision("CancelTimer", timerId="nope"))
    events = history(engine, run_id)
    assert types(events)[4:] == ["TimerStarted", "TimerStarted", "StartTimerFailed",
                                 "CancelTimerFailed", "DecisionTaskScheduled"]
    assert attrs(events[6])["cause"] == "TIMER_ID_ALREADY_IN_USE"
    assert attrs(events[7])["cause"] == "TIMER_ID_UNKNOWN"
    assert describe(engine, run_id)["openCounts"]["openTimers"] == 2
    fired = last(engine, run_id, "TimerFired")
    assert attrs(fired) == {"timerId": "fast", "startedEventId": 5}
    task = poll_decision(engine)
    decide(engine, task["taskToken"], decision("CancelTimer", timerId="slow"))
    ev = history(engine, run_id)[-1]
    assert ev["eventType"] == "TimerCanceled" and attrs(ev)["startedEventId"] == 6
    assert describe(engine, run_id)["openCounts"]["openTimers"] == 0


def test_stale_timer_entries_do_not_pile_up(engine):
    run_id = start(engine)
    decide(engine, poll_decision(engine)["taskToken"])
    for i in range(3000):  # each activity leaves two long timeouts behind when it completes
        engine.call("SignalWorkflowExecution", {"domain": "d", "workflowId": "w1",
                                                "signalName": "s"})
        task = poll_decision(engine)
        decide(engine, task["taskToken"], schedule(f"a{i}"))
        act = poll_activity(engine)
        engine.call("RespondActivityTaskCompleted", {"taskToken": act["taskToken"]})
        if i % 500 == 0:
            assert len(engine.timers) < 9000
    assert describe(engine, run_id)["openCounts"]["openActivityTasks"] == 0
