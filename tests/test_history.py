"""swfd.history.History: indexes over a history, from the seed's HelloWorld to 25,000 events."""

from __future__ import annotations

import pytest

from swfd.history import History, attributes

# HelloWorld's history exactly as the seed tutorial prints it (timestamps kept).
SEED_HELLO_HISTORY = [
    {"eventId": 1, "eventTimestamp": 1381095173.2539999, "eventType": "WorkflowExecutionStarted",
     "workflowExecutionStartedEventAttributes": {
         "childPolicy": "TERMINATE", "executionStartToCloseTimeout": "3600",
         "parentInitiatedEventId": 0, "taskList": {"name": "default"},
         "taskStartToCloseTimeout": "300",
         "workflowType": {"name": "HelloWorkflow", "version": "1.0"}}},
    {"decisionTaskScheduledEventAttributes": {"startToCloseTimeout": "300",
                                              "taskList": {"name": "default"}},
     "eventId": 2, "eventTimestamp": 1381095173.2539999, "eventType": "DecisionTaskScheduled"},
    {"decisionTaskStartedEventAttributes": {"scheduledEventId": 2},
     "eventId": 3, "eventTimestamp": 1381095177.5439999, "eventType": "DecisionTaskStarted"},
    {"decisionTaskCompletedEventAttributes": {"scheduledEventId": 2, "startedEventId": 3},
     "eventId": 4, "eventTimestamp": 1381095177.855, "eventType": "DecisionTaskCompleted"},
    {"activityTaskScheduledEventAttributes": {
        "activityId": "saying_hi", "activityType": {"name": "HelloWorld", "version": "1.0"},
        "decisionTaskCompletedEventId": 4, "heartbeatTimeout": "600",
        "scheduleToCloseTimeout": "3900", "scheduleToStartTimeout": "300",
        "startToCloseTimeout": "3600", "taskList": {"name": "default"}},
     "eventId": 5, "eventTimestamp": 1381095177.855, "eventType": "ActivityTaskScheduled"},
    {"activityTaskStartedEventAttributes": {"scheduledEventId": 5},
     "eventId": 6, "eventTimestamp": 1381095179.427, "eventType": "ActivityTaskStarted"},
    {"activityTaskCompletedEventAttributes": {"scheduledEventId": 5, "startedEventId": 6},
     "eventId": 7, "eventTimestamp": 1381095179.6989999, "eventType": "ActivityTaskCompleted"},
    {"decisionTaskScheduledEventAttributes": {"startToCloseTimeout": "300",
                                              "taskList": {"name": "default"}},
     "eventId": 8, "eventTimestamp": 1381095179.6989999, "eventType": "DecisionTaskScheduled"},
    {"decisionTaskStartedEventAttributes": {"scheduledEventId": 8},
     "eventId": 9, "eventTimestamp": 1381095179.7420001, "eventType": "DecisionTaskStarted"},
    {"decisionTaskCompletedEventAttributes": {"scheduledEventId": 8, "startedEventId": 9},
     "eventId": 10, "eventTimestamp": 1381095180.026, "eventType": "DecisionTaskCompleted"},
    {"eventId": 11, "eventTimestamp": 1381095180.026, "eventType": "WorkflowExecutionCompleted",
     "workflowExecutionCompletedEventAttributes": {"decisionTaskCompletedEventId": 10}},
]  # fmt: skip


class Builder:
    """Appends events with consecutive ids, like SWF does."""

    def __init__(self):
        self.events: list[dict] = []

    def add(self, event_type: str, **attrs) -> int:
        event_id = len(self.events) + 1
        key = event_type[0].lower() + event_type[1:] + "EventAttributes"
        self.events.append(
            {"eventId": event_id, "eventType": event_type, "eventTimestamp": 0.0, key: attrs}
        )
        return event_id

    def start(self, input=None):
        return self.add(
            "WorkflowExecutionStarted",
            workflowType={"name": "W", "version": "1"},
            taskList={"name": "default"},
            childPolicy="TERMINATE",
            **({"input": input} if input is not None else {}),
        )

    def decision(self, context=None) -> int:
        scheduled = self.add("DecisionTaskScheduled", taskList={"name": "default"})
        started = self.add("DecisionTaskStarted", scheduledEventId=scheduled)
        extra = {"executionContext": context} if context is not None else {}
        return self.add(
            "DecisionTaskCompleted", scheduledEventId=scheduled, startedEventId=started, **extra
        )

    def schedule(self, activity_id, completed_by, input=None):
        extra = {"input": input} if input is not None else {}
        return self.add(
            "ActivityTaskScheduled",
            activityId=activity_id,
            activityType={"name": "A", "version": "1"},
            decisionTaskCompletedEventId=completed_by,
            **extra,
        )


def test_seed_hello_world_history():
    history = History(SEED_HELLO_HISTORY)
    assert len(history) == 11
    assert history.workflow_type == {"name": "HelloWorkflow", "version": "1.0"}
    assert history.input is None
    assert history.started_event is SEED_HELLO_HISTORY[0]
    assert history.by_id(5)["eventType"] == "ActivityTaskScheduled"
    hi = history.activities["saying_hi"]
    assert hi.state == "completed"
    assert hi.attempts == 1
    assert (hi.scheduled_event_id, hi.started_event_id, hi.closed_event_id) == (5, 6, 7)
    assert hi.activity_type == {"name": "HelloWorld", "version": "1.0"}
    assert not hi.is_open
    assert history.closed["eventType"] == "WorkflowExecutionCompleted"
    assert history.last_decision_started_event_id == 9
    assert history.previous_started_event_id == 9
    assert history.cancel_requested is None
    assert history.timers == {} and history.signals == [] and history.markers == {}
    assert [e["eventId"] for e in history.new_events(3)] == list(range(4, 12))
    assert [e["eventId"] for e in history.new_events(0)] == list(range(1, 12))
    assert history.new_events(11) == []


def test_second_decision_task_view_of_hello_world():
    """What the decider sees at its second decision: events up to DecisionTaskStarted 9."""
    history = History(SEED_HELLO_HISTORY[:9])
    assert history.closed is None
    assert history.last_decision_started_event_id == 9
    assert history.previous_started_event_id == 3
    new = history.new_events(history.previous_started_event_id)
    assert [e["eventType"] for e in new] == [
        "DecisionTaskCompleted", "ActivityTaskScheduled", "ActivityTaskStarted",
        "ActivityTaskCompleted", "DecisionTaskScheduled", "DecisionTaskStarted",
    ]  # fmt: skip


def test_reversed_history_is_put_in_order():
    history = History(list(reversed(SEED_HELLO_HISTORY)))
    assert [e["eventId"] for e in history.events] == list(range(1, 12))
    assert history.activities["saying_hi"].state == "completed"


def test_unknown_event_id_names_it():
    with pytest.raises(KeyError, match="eventId 99"):
        History(SEED_HELLO_HISTORY).by_id(99)


def test_activity_lifecycle_states_and_attempts():
    b = Builder()
    b.start(input="go")
    d = b.decision()
    s1 = b.schedule("act", d, input="i1")
    b.add("ActivityTaskStarted", scheduledEventId=s1, identity="w1")
    b.add("ActivityTaskFailed", scheduledEventId=s1, reason="boom", details="tb")
    d = b.decision()
    s2 = b.schedule("act", d, input="i2")
    b.add("ActivityTaskTimedOut", scheduledEventId=s2, timeoutType="SCHEDULE_TO_START")
    d = b.decision()
    s3 = b.schedule("act", d, input="i3")
    b.add("ActivityTaskStarted", scheduledEventId=s3)
    b.add("ActivityTaskCompleted", scheduledEventId=s3, result="done")
    d = b.decision()
    b.schedule("cancel-me", d)
    b.add("ActivityTaskCancelRequested", activityId="cancel-me", decisionTaskCompletedEventId=d)
    s5 = b.schedule("cancel-running", d)
    b.add("ActivityTaskStarted", scheduledEventId=s5)
    b.add("ActivityTaskCancelRequested", activityId="cancel-running")
    d = b.decision()
    b.add("ActivityTaskCanceled", scheduledEventId=s5, details="bye")
    b.add("ScheduleActivityTaskFailed", activityId="nope", cause="ACTIVITY_TYPE_DEPRECATED",
          activityType={"name": "A", "version": "0"})  # fmt: skip
    b.add("RequestCancelActivityTaskFailed", activityId="ghost", cause="ACTIVITY_ID_UNKNOWN")
    s6 = b.schedule("open", d)
    b.add("ScheduleActivityTaskFailed", activityId="open", cause="ACTIVITY_ID_ALREADY_IN_USE")
    history = History(b.events)

    assert history.input == "go"
    act = history.activities["act"]
    assert (act.state, act.attempts, act.input, act.result) == ("completed", 3, "i3", "done")
    assert act.reason is None  # an attempt's outcome does not leak into the next
    assert act.scheduled_event_id == s3
    assert history.activities["cancel-me"].state == "cancel_requested"
    running = history.activities["cancel-running"]
    assert (running.state, running.details) == ("canceled", "bye")
    assert running.cancel_requested_event_id is not None
    failed = history.activities["nope"]
    assert (failed.state, failed.cause, failed.attempts) == (
        "schedule_failed", "ACTIVITY_TYPE_DEPRECATED", 0)  # fmt: skip
    assert history.activities["open"].state == "scheduled"
    assert history.activities["open"].scheduled_event_id == s6
    assert "ghost" not in history.activities
    assert [attributes(e)["cause"] for e in history.failures] == [
        "ACTIVITY_TYPE_DEPRECATED", "ACTIVITY_ID_UNKNOWN", "ACTIVITY_ID_ALREADY_IN_USE"]  # fmt: skip


def test_failed_and_timed_out_keep_reason_details_and_timeout_type():
    b = Builder()
    b.start()
    d = b.decision()
    s1 = b.schedule("f", d)
    b.add("ActivityTaskStarted", scheduledEventId=s1)
    b.add("ActivityTaskFailed", scheduledEventId=s1, reason="r", details="dd")
    s2 = b.schedule("t", d)
    b.add("ActivityTaskStarted", scheduledEventId=s2)
    b.add("ActivityTaskTimedOut", scheduledEventId=s2, timeoutType="HEARTBEAT", details="hb")
    history = History(b.events)
    f, t = history.activities["f"], history.activities["t"]
    assert (f.state, f.reason, f.details) == ("failed", "r", "dd")
    assert (t.state, t.timeout_type, t.details) == ("timed_out", "HEARTBEAT", "hb")


def test_timers_signals_markers_cancel_and_context():
    b = Builder()
    b.start()
    d = b.decision(context="ctx1")
    t1 = b.add("TimerStarted", timerId="t1", startToFireTimeout="5", control="c")
    b.add("TimerFired", timerId="t1", startedEventId=t1)
    t2 = b.add("TimerStarted", timerId="t2", startToFireTimeout="5")
    b.add("TimerCanceled", timerId="t2", startedEventId=t2)
    b.add("StartTimerFailed", timerId="t3", cause="OPEN_TIMERS_LIMIT_EXCEEDED")
    b.add("TimerStarted", timerId="t4", startToFireTimeout="60")
    b.add("CancelTimerFailed", timerId="t5", cause="TIMER_ID_UNKNOWN")
    b.add("WorkflowExecutionSignaled", signalName="go", input="payload")
    b.add("WorkflowExecutionSignaled", signalName="stop")
    b.add("MarkerRecorded", markerName="m", details="d1", decisionTaskCompletedEventId=d)
    b.add("MarkerRecorded", markerName="m", details="d2", decisionTaskCompletedEventId=d)
    b.add("RecordMarkerFailed", markerName="x", cause="OPERATION_NOT_PERMITTED")
    b.add("WorkflowExecutionCancelRequested", cause="CHILD_POLICY_APPLIED")
    b.decision(context="ctx2")
    history = History(b.events)
    assert {k: v.state for k, v in history.timers.items()} == {
        "t1": "fired", "t2": "canceled", "t3": "start_failed", "t4": "started"}  # fmt: skip
    assert history.timers["t1"].control == "c"
    assert history.timers["t3"].cause == "OPEN_TIMERS_LIMIT_EXCEEDED"
    assert [(s.name, s.input) for s in history.signals] == [("go", "payload"), ("stop", None)]
    name, signal_input, event = history.signals[0]
    assert (name, signal_input) == ("go", "payload")
    assert event["eventType"] == "WorkflowExecutionSignaled"
    assert [m.details for m in history.markers["m"]] == ["d1", "d2"]
    assert history.cancel_requested["eventType"] == "WorkflowExecutionCancelRequested"
    assert history.execution_context == "ctx2"
    assert {e["eventType"] for e in history.failures} == {
        "StartTimerFailed", "CancelTimerFailed", "RecordMarkerFailed"}  # fmt: skip


def test_child_workflows_and_lambdas():
    b = Builder()
    b.start()
    d = b.decision()
    wt = {"name": "Child", "version": "1"}
    i1 = b.add("StartChildWorkflowExecutionInitiated", workflowId="c1", workflowType=wt,
               input="in", decisionTaskCompletedEventId=d)  # fmt: skip
    s1 = b.add("ChildWorkflowExecutionStarted", initiatedEventId=i1, workflowType=wt,
               workflowExecution={"workflowId": "c1", "runId": "run1"})  # fmt: skip
    b.add("ChildWorkflowExecutionCompleted", initiatedEventId=i1, startedEventId=s1,
          workflowType=wt, result="ok", workflowExecution={"workflowId": "c1", "runId": "run1"})
    i2 = b.add("StartChildWorkflowExecutionInitiated", workflowId="c2", workflowType=wt)
    b.add("StartChildWorkflowExecutionFailed", workflowId="c2", workflowType=wt,
          initiatedEventId=i2, cause="WORKFLOW_ALREADY_RUNNING")  # fmt: skip
    i3 = b.add("StartChildWorkflowExecutionInitiated", workflowId="c3", workflowType=wt)
    b.add("ChildWorkflowExecutionStarted", initiatedEventId=i3,
          workflowExecution={"workflowId": "c3", "runId": "run3"})  # fmt: skip
    b.add("ChildWorkflowExecutionTimedOut", initiatedEventId=i3, timeoutType="START_TO_CLOSE",
          workflowExecution={"workflowId": "c3", "runId": "run3"})  # fmt: skip
    l1 = b.add("LambdaFunctionScheduled", id="f1", name="fn", input="x")
    b.add("LambdaFunctionStarted", scheduledEventId=l1)
    b.add("LambdaFunctionCompleted", scheduledEventId=l1, result="y")
    b.add("ScheduleLambdaFunctionFailed", id="f2", name="fn", cause="ID_ALREADY_IN_USE")
    history = History(b.events)
    c1, c2, c3 = (history.child_workflows[k] for k in ("c1", "c2", "c3"))
    assert (c1.state, c1.run_id, c1.result, c1.input) == ("completed", "run1", "ok", "in")
    assert (c2.state, c2.cause) == ("start_failed", "WORKFLOW_ALREADY_RUNNING")
    assert (c3.state, c3.timeout_type, c3.run_id) == ("timed_out", "START_TO_CLOSE", "run3")
    f1 = history.lambda_functions["f1"]
    assert (f1.state, f1.result, f1.attempts) == ("completed", "y", 1)
    assert history.lambda_functions["f2"].state == "schedule_failed"


def test_close_event_types_are_recognised():
    for close in ("WorkflowExecutionFailed", "WorkflowExecutionTimedOut",
                  "WorkflowExecutionTerminated", "WorkflowExecutionContinuedAsNew",
                  "WorkflowExecutionCanceled"):  # fmt: skip
        b = Builder()
        b.start()
        b.add(close)
        assert History(b.events).closed["eventType"] == close


def test_synthetic_25000_event_history():
    """SWF's maximum history: indexes stay right at that size (one pass, dict lookups)."""
    b = Builder()
    b.start(input="big")
    rounds = 0
    while len(b.events) < 25_000 - 12:
        d = b.decision(context=str(rounds))
        act = f"act-{rounds % 500}"  # ids are reused: attempts grow
        s = b.schedule(act, d, input=str(rounds))
        b.add("ActivityTaskStarted", scheduledEventId=s)
        b.add("ActivityTaskCompleted", scheduledEventId=s, result=f"r{rounds}")
        if rounds % 10 == 0:
            t = b.add("TimerStarted", timerId=f"t{rounds}", startToFireTimeout="1")
            b.add("TimerFired", timerId=f"t{rounds}", startedEventId=t)
        if rounds % 7 == 0:
            b.add("WorkflowExecutionSignaled", signalName="tick", input=str(rounds))
        rounds += 1
    while len(b.events) < 25_000 - 1:
        b.add("MarkerRecorded", markerName="pad", details=str(len(b.events)))
    b.add("WorkflowExecutionCompleted", result="end")
    events = b.events
    assert len(events) == 25_000

    history = History(events)
    assert len(history) == 25_000
    assert history.input == "big"
    assert len(history.activities) == 500
    last = rounds - 1
    act = history.activities[f"act-{last % 500}"]
    assert act.state == "completed"
    assert act.result == f"r{last}"
    assert act.input == str(last)
    assert sum(a.attempts for a in history.activities.values()) == rounds
    assert len(history.timers) == len(range(0, rounds, 10))
    assert all(t.state == "fired" for t in history.timers.values())
    assert len(history.signals) == len(range(0, rounds, 7))
    assert history.execution_context == str(last)
    assert history.closed is events[-1]
    assert history.by_id(12_345) is events[12_344]
    assert [e["eventId"] for e in history.new_events(24_990)] == list(range(24_991, 25_001))
    tail = history.new_events(history.previous_started_event_id)
    assert tail[0]["eventId"] == history.previous_started_event_id + 1
