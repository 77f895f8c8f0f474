"""The decider loop against the local endpoint: answers, decision errors, unknown types."""

from __future__ import annotations

import dataclasses
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "plugins"))

import swfd_harness as h

import swfd
from swfd.decider import DecisionPoller, DecisionTask, backoff, is_swfd_event
from swfd.plugins import load_plugins
from swfd.registry import Registry
from swfd.testing import wait_for


@pytest.fixture
def env(local_endpoint, swf_client, domain, tmp_path):
    settings = h.load_settings(h.write_config(tmp_path, local_endpoint.url, domain))
    registry = load_plugins(settings)
    h.register_types(swf_client, domain, registry)
    return settings, registry


@pytest.fixture
def loops(env):
    settings, registry = env
    started: list[h.LoopThread] = []

    def run(kind: str, registry=registry, **pool_changes) -> h.LoopThread:
        pool = dataclasses.replace(h.pool_of(settings, kind), **pool_changes)
        thread = h.LoopThread(kind, settings, pool, registry)
        thread.start()
        started.append(thread)
        return thread

    yield run
    for thread in started:
        thread.lifecycle.drain("test over")
    for thread in started:
        thread.stop()


def test_decider_error_is_a_marker_hidden_from_the_handler_and_a_fix_completes(
        loops, swf_client, domain, tmp_path):
    broken = tmp_path / "broken"
    broken.write_text("the decider raises while this file exists")
    loops("decider")
    run = h.start(swf_client, domain, "Flaky", input=json.dumps({"fail_while_exists":
                                                                  str(broken)}))
    marker = h.wait_for_event(swf_client, domain, run, "MarkerRecorded")
    attrs = h.attrs(marker)
    assert attrs["markerName"] == "swfd:decider-error"
    details = json.loads(attrs["details"])
    assert details["attempt"] == 1
    assert details["error"].startswith("RuntimeError: flaky decider:")
    assert "Traceback (most recent call last)" in details["traceback"]
    timer = h.wait_for_event(swf_client, domain, run, "TimerStarted")
    assert h.attrs(timer)["timerId"] == "swfd-retry-1"
    assert h.attrs(timer)["startToFireTimeout"] == "1"

    # The retry timer fires and the handler fails again: attempt 2, a 2 s timer.
    second = wait_for(lambda: [e for e in h.history(swf_client, domain, run)
                                 if e["eventType"] == "TimerStarted"][1:], timeout=20,
                        message="a second retry timer")
    assert h.attrs(second[0]) == {**h.attrs(second[0]), "timerId": "swfd-retry-2",
                                  "startToFireTimeout": "2"}
    broken.unlink()
    events = h.wait_closed(swf_client, domain, run, timeout=30)
    assert events[-1]["eventType"] == "WorkflowExecutionCompleted"
    seen = json.loads(h.attrs(events[-1])["result"])
    assert not [t for t in seen["seen"] if t.startswith(("Marker", "Timer"))]
    assert seen["history_events"] == len(seen["seen"])
    raw = h.types(events)
    assert raw.count("MarkerRecorded") == 2 and raw.count("TimerFired") == 2


def test_decider_max_attempts_fails_the_workflow_with_the_reason(loops, swf_client, domain,
                                                                   tmp_path):
    broken = tmp_path / "broken"
    broken.write_text("stays")
    loops("decider", decider_max_attempts=2)
    run = h.start(swf_client, domain, "Flaky", input=json.dumps({"fail_while_exists":
                                                                  str(broken)}))
    events = h.wait_closed(swf_client, domain, run, timeout=30)
    assert events[-1]["eventType"] == "WorkflowExecutionFailed"
    attrs = h.attrs(events[-1])
    assert attrs["reason"].startswith("swfd: decision logic failed 2 times: RuntimeError: flaky")
    assert "Traceback" in attrs["details"]
    assert h.types(events).count("MarkerRecorded") == 2


def test_unknown_workflow_type_is_not_answered(loops, swf_client, domain, caplog):
    swf_client.register_workflow_type(
        domain=domain, name="Stranger", version="1", defaultTaskList={"name": "test"},
        defaultTaskStartToCloseTimeout="2", defaultExecutionStartToCloseTimeout="60",
        defaultChildPolicy="TERMINATE",
    )
    loops("decider")
    run = h.start(swf_client, domain, "Stranger")
    h.wait_for_event(swf_client, domain, run, "DecisionTaskTimedOut", timeout=20)
    events = h.history(swf_client, domain, run)
    assert "DecisionTaskStarted" in h.types(events)
    assert "DecisionTaskCompleted" not in h.types(events)
    assert any("no plugin registered workflow type Stranger 1" in r.getMessage()
               for r in caplog.records if r.levelname == "ERROR")


def test_decisions_given_as_python_values_are_encoded_per_codec(env, swf_client, domain):
    settings, _ = env

    @swfd.workflow("ListReturner", "1", task_list="test")
    def list_returner(task):
        return [{"decisionType": "CompleteWorkflowExecution",
                 "completeWorkflowExecutionDecisionAttributes": {"result": {"ok": task.input}}}]

    registry = Registry.from_defs([list_returner])
    h.register_types(swf_client, domain, registry)
    thread = h.LoopThread("decider", settings, h.pool_of(settings, "decider"), registry)
    thread.start()
    try:
        run = h.start(swf_client, domain, "ListReturner", input="[1, 2]")
        events = h.wait_closed(swf_client, domain, run)
    finally:
        thread.stop()
    assert json.loads(h.attrs(events[-1])["result"]) == {"ok": [1, 2]}


def test_backoff_doubles_and_is_capped_at_300_seconds():
    assert [backoff(n) for n in (1, 2, 3, 4, 9, 10, 50)] == [1, 2, 4, 8, 256, 300, 300]


def _event(event_id, kind, **attrs):
    key = kind[0].lower() + kind[1:] + "EventAttributes"
    return {"eventId": event_id, "eventType": kind, key: attrs}


def test_only_swfd_markers_and_timers_are_hidden():
    assert is_swfd_event(_event(1, "MarkerRecorded", markerName="swfd:decider-error"))
    assert is_swfd_event(_event(1, "TimerFired", timerId="swfd-retry-3", startedEventId=2))
    assert not is_swfd_event(_event(1, "MarkerRecorded", markerName="mine"))
    assert not is_swfd_event(_event(1, "TimerStarted", timerId="my-timer"))
    assert not is_swfd_event(_event(1, "ActivityTaskScheduled", activityId="swfd-retry-1"))


def test_attempts_count_errors_in_a_row_and_reset_after_a_good_decision():
    events = [
        _event(1, "WorkflowExecutionStarted"),
        _event(4, "DecisionTaskCompleted"),
        _event(5, "MarkerRecorded", markerName="swfd:decider-error",
               decisionTaskCompletedEventId=4),
        _event(6, "TimerStarted", timerId="swfd-retry-1", decisionTaskCompletedEventId=4),
        _event(7, "TimerFired", timerId="swfd-retry-1", startedEventId=6),
        _event(10, "DecisionTaskCompleted"),
        _event(11, "MarkerRecorded", markerName="swfd:decider-error",
               decisionTaskCompletedEventId=10),
        _event(12, "TimerStarted", timerId="swfd-retry-2", decisionTaskCompletedEventId=10),
    ]
    response = {"taskToken": "t", "workflowExecution": {"workflowId": "w", "runId": "r"},
                "workflowType": {"name": "W", "version": "1"}, "startedEventId": 14}
    task = DecisionTask(response, events, None)
    assert (task.attempt, task.errors_total, task.open_retry_timers) == (3, 2, ["swfd-retry-2"])
    assert [e["eventId"] for e in task.events] == [1, 4, 10]
    later = DecisionTask(response, [*events, _event(15, "DecisionTaskCompleted")], None)
    assert later.attempt == 1 and later.errors_total == 2


def test_every_page_of_a_long_history_reaches_the_handler(env, swf_client, domain):
    """1,100 signals make a history longer than one 1,000-event page."""
    settings, _ = env

    @swfd.workflow("CountEvents", "1", task_list="test")
    def count_events(task):
        decisions = swfd.Decisions()
        ids = [e["eventId"] for e in task.events]
        decisions.complete_workflow_execution(
            result=json.dumps({"count": len(ids), "contiguous": ids == list(range(1, len(ids)
                                                                                  + 1))}))
        return decisions

    registry = Registry.from_defs([count_events])
    h.register_types(swf_client, domain, registry)
    run = h.start(swf_client, domain, "CountEvents")
    for i in range(1100):
        swf_client.signal_workflow_execution(domain=domain, signalName=f"s{i}", **run)
    thread = h.LoopThread("decider", settings, h.pool_of(settings, "decider"), registry)
    thread.start()
    try:
        events = h.wait_closed(swf_client, domain, run, timeout=60)
    finally:
        thread.stop()
    result = json.loads(h.attrs(events[-1])["result"])
    assert result == {"count": len(events) - 2, "contiguous": True}  # minus completed/closed
    assert result["count"] > 1100


def test_a_good_decision_cancels_a_pending_retry_timer():
    @swfd.workflow("W", "1")
    def ok(task):
        decisions = swfd.Decisions()
        decisions.complete_workflow_execution(result="done")
        return decisions

    events = [
        _event(1, "WorkflowExecutionStarted"),
        _event(4, "DecisionTaskCompleted"),
        _event(5, "MarkerRecorded", markerName="swfd:decider-error",
               decisionTaskCompletedEventId=4),
        _event(6, "TimerStarted", timerId="swfd-retry-1", decisionTaskCompletedEventId=4),
        _event(7, "WorkflowExecutionSignaled", signalName="wake"),
    ]
    response = {"taskToken": "t", "workflowExecution": {"workflowId": "w", "runId": "r"},
                "workflowType": {"name": "W", "version": "1"}, "startedEventId": 9}
    worker = DecisionPoller(None, None, Registry.from_defs([ok]), None, None, "test")
    decisions = worker.decide(DecisionTask(response, events, ok), ok)
    assert decisions == [
        {"decisionType": "CancelTimer", "cancelTimerDecisionAttributes": {"timerId":
                                                                          "swfd-retry-1"}},
        {"decisionType": "CompleteWorkflowExecution",
         "completeWorkflowExecutionDecisionAttributes": {"result": "done"}},
    ]


@pytest.mark.parametrize(
    "bad_decisions",
    [
        [{"decisionType": "CompleteWorkflowExecution"},  # a close decision that is not last
         {"decisionType": "StartTimer",
          "startTimerDecisionAttributes": {"timerId": "t", "startToFireTimeout": "5"}}],
        [{"decisionType": "StartTimer", "startTimerDecisionAttributes": {"timerId": 7}}],
    ],
    ids=["refused-by-swf", "refused-by-botocore"],
)
def test_decisions_swf_refuses_are_a_decision_error_not_a_stall(env, swf_client, domain,
                                                                 bad_decisions):
    settings, _ = env

    @swfd.workflow("BadBatch", "1", task_list="test")
    def bad_batch(task):
        return [dict(d) for d in bad_decisions]

    registry = Registry.from_defs([bad_batch])
    h.register_types(swf_client, domain, registry)
    pool = dataclasses.replace(h.pool_of(settings, "decider"), decider_max_attempts=1)
    thread = h.LoopThread("decider", settings, pool, registry)
    thread.start()
    try:
        run = h.start(swf_client, domain, "BadBatch")
        events = h.wait_closed(swf_client, domain, run)
    finally:
        thread.stop()
    assert events[-1]["eventType"] == "WorkflowExecutionFailed"
    assert h.attrs(events[-1])["reason"].startswith("swfd: decision logic failed 1 times:")
    marker = next(e for e in events if e["eventType"] == "MarkerRecorded")
    assert "SWF refused the decisions" in json.loads(h.attrs(marker)["details"])["traceback"]
