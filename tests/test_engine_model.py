"""Engine unit tests: every response and every event conforms to botocore's ``swf`` model.

Why: boto3 parses whatever the endpoint sends, silently dropping unknown members, so a
misspelt attribute would only show up as a missing value in someone's decider. Here each
response is checked against its operation's output shape and each event against
HistoryEvent (member names, required members, enums, JSON types), while one scenario
drives most event types.
"""

from __future__ import annotations

import json

import botocore.session
import pytest
from test_engine_support import (
    WF,
    decide,
    decision,
    make_engine,
    poll_activity,
    poll_decision,
    schedule,
    start,
)

from swfd.local.engine import Engine
from swfd.local.summaries import encode

MODEL = botocore.session.get_session().get_service_model("swf")


def conform(value, shape, where: str) -> list[str]:
    """Problems of ``value`` against botocore ``shape`` (empty if it conforms)."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {value!r}"]
        problems = [f"{where}.{k}: not in {shape.name}" for k in value if k not in shape.members]
        problems += [f"{where}.{k}: required by {shape.name}" for k in shape.required_members
                     if k not in value]
        for key, member in shape.members.items():
            if key in value:
                problems += conform(value[key], member, f"{where}.{key}")
        return problems
    if kind == "list":
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        return [p for i, v in enumerate(value) for p in conform(v, shape.member, f"{where}[{i}]")]
    if kind == "string":
        if not isinstance(value, str):
            return [f"{where}: expected a string, got {value!r}"]
        if shape.enum and value not in shape.enum:
            return [f"{where}: {value!r} not in {shape.name}"]
        return []
    if kind in ("integer", "long"):
        return [] if isinstance(value, int) and not isinstance(value, bool) else [
            f"{where}: expected an integer, got {value!r}"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{where}: expected a boolean"]
    if kind == "timestamp":
        return [] if isinstance(value, (int, float)) else [f"{where}: expected epoch seconds"]
    return []


@pytest.fixture
def checked(monkeypatch):
    problems: list[str] = []
    seen: set[str] = set()
    event_shape = MODEL.shape_for("HistoryEvent")
    original_call, original_add = Engine.call, Engine.add_event

    def call(self, operation, params, **context):
        result = original_call(self, operation, params, **context)
        result = json.loads(encode(result))  # what goes on the wire
        output = MODEL.operation_model(operation).output_shape
        empty_poll = operation.startswith("PollFor") and "taskToken" not in result
        if output is not None and not empty_poll:  # SWF's own empty polls are partial too
            problems.extend(conform(result, output, operation))
        return result

    def add_event(self, ex, event_type, attrs):
        event_id = original_add(self, ex, event_type, attrs)
        problems.extend(conform(ex.events[-1], event_shape, event_type))
        seen.add(event_type)
        return event_id

    monkeypatch.setattr(Engine, "call", call)
    monkeypatch.setattr(Engine, "add_event", add_event)
    engine = make_engine()
    yield engine, problems, seen
    engine.close()


def test_responses_and_events_conform_to_the_model(checked):
    engine, problems, seen = checked
    c = engine.call
    start(engine, "p", input="i", tagList=["t"])
    start(engine, "other")
    task = poll_decision(engine)
    decide(engine, task["taskToken"],
           schedule("a1", control="c"), schedule("a2"), schedule("a3"),
           decision("ScheduleActivityTask", activityType={"name": "X", "version": "1"},
                    activityId="x"),
           decision("StartTimer", timerId="t1", startToFireTimeout="100"),
           decision("StartTimer", timerId="t2", startToFireTimeout="100"),
           decision("StartTimer", timerId="t1", startToFireTimeout="1"),
           decision("CancelTimer", timerId="t2"), decision("CancelTimer", timerId="zz"),
           decision("RecordMarker", markerName="m", details="d"),
           decision("RequestCancelActivityTask", activityId="a3"),
           decision("RequestCancelActivityTask", activityId="zz"),
           decision("ScheduleLambdaFunction", id="l", name="f"),
           decision("StartChildWorkflowExecution", workflowType=WF, workflowId="child"),
           decision("StartChildWorkflowExecution", workflowType=WF, workflowId="other"),
           decision("SignalExternalWorkflowExecution", workflowId="other", signalName="s"),
           decision("SignalExternalWorkflowExecution", workflowId="zz", signalName="s"),
           decision("RequestCancelExternalWorkflowExecution", workflowId="other"),
           decision("RequestCancelExternalWorkflowExecution", workflowId="zz"))
    acts = [poll_activity(engine), poll_activity(engine)]
    c("RecordActivityTaskHeartbeat", {"taskToken": acts[0]["taskToken"], "details": "h"})
    c("RespondActivityTaskCompleted", {"taskToken": acts[0]["taskToken"], "result": "r"})
    c("RespondActivityTaskFailed", {"taskToken": acts[1]["taskToken"], "reason": "x"})
    for _ in range(3):
        task = poll_decision(engine)
        if task["workflowExecution"]["workflowId"] == "p":
            decide(engine, task["taskToken"])
        elif task["workflowExecution"]["workflowId"] == "child":
            decide(engine, task["taskToken"], decision("CompleteWorkflowExecution"))
        elif task["taskToken"]:
            decide(engine, task["taskToken"], decision("FailWorkflowExecution", reason="r"))
    c("SignalWorkflowExecution", {"domain": "d", "workflowId": "p", "signalName": "late"})
    task = poll_decision(engine, maximumPageSize=5)
    poll_decision(engine, maximumPageSize=5, nextPageToken=task["nextPageToken"])
    decide(engine, task["taskToken"], decision("ContinueAsNewWorkflowExecution", input="2"))
    c("RequestCancelWorkflowExecution", {"domain": "d", "workflowId": "p"})
    c("TerminateWorkflowExecution", {"domain": "d", "workflowId": "p", "reason": "end"})
    everything = {"domain": "d", "startTimeFilter": {"oldestDate": 0}}
    for op in ("ListOpenWorkflowExecutions", "ListClosedWorkflowExecutions",
               "CountOpenWorkflowExecutions", "CountClosedWorkflowExecutions"):
        c(op, everything)
    infos = c("ListClosedWorkflowExecutions", everything)["executionInfos"]
    for info in infos:
        c("DescribeWorkflowExecution", {"domain": "d", "execution": info["execution"]})
        c("GetWorkflowExecutionHistory", {"domain": "d", "execution": info["execution"]})
    c("DescribeDomain", {"name": "d"})
    c("ListDomains", {"registrationStatus": "REGISTERED"})
    c("DescribeWorkflowType", {"domain": "d", "workflowType": WF})
    c("ListActivityTypes", {"domain": "d", "registrationStatus": "REGISTERED"})
    c("CountPendingActivityTasks", {"domain": "d", "taskList": {"name": "atl"}})
    c("CountPendingDecisionTasks", {"domain": "d", "taskList": {"name": "tl"}})
    c("ListTagsForResource", {"resourceArn": "arn:aws:swf:us-east-1:000000000000:/domain/d"})
    poll_activity(engine)
    _close_paths(engine)
    assert len(infos) >= 3
    assert problems == []
    # Not driven here: Lambda (never runs), timeouts and TimerFired (test_engine_timeouts),
    # RecordMarkerFailed (its only cause, OPERATION_NOT_PERMITTED, needs IAM).
    missing = {e for e in MODEL.shape_for("EventType").enum
               if "Lambda" not in e and "TimedOut" not in e
               and e not in ("TimerFired", "RecordMarkerFailed")} - seen
    assert not missing, sorted(missing)


def _next_decision(engine, workflow_id):
    for _ in range(10):
        task = poll_decision(engine)
        if task["workflowExecution"]["workflowId"] == workflow_id:
            return task
        if task["taskToken"]:
            decide(engine, task["taskToken"])
    raise AssertionError(f"no decision task for {workflow_id}")


def _close_paths(engine):
    """Children closing every way, and each close decision failing UNHANDLED_DECISION."""
    start(engine, "q")
    decide(engine, _next_decision(engine, "q")["taskToken"], *[
        decision("StartChildWorkflowExecution", workflowType=WF, workflowId=f"c{i}")
        for i in range(3)])
    decide(engine, _next_decision(engine, "c0")["taskToken"],
           decision("FailWorkflowExecution", reason="r"))
    decide(engine, _next_decision(engine, "c1")["taskToken"],
           decision("CancelWorkflowExecution", details="d"))
    engine.call("TerminateWorkflowExecution", {"domain": "d", "workflowId": "c2"})
    for kind in ("CompleteWorkflowExecution", "FailWorkflowExecution",
                 "CancelWorkflowExecution", "ContinueAsNewWorkflowExecution"):
        task = _next_decision(engine, "q")
        engine.call("SignalWorkflowExecution", {"domain": "d", "workflowId": "q",
                                                "signalName": "race"})
        decide(engine, task["taskToken"], decision(kind))
    decide(engine, _next_decision(engine, "q")["taskToken"],
           decision("ContinueAsNewWorkflowExecution", workflowTypeVersion="404"))
