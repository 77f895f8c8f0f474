"""Every decision type Decisions builds is accepted by the local endpoint and has its event."""

from __future__ import annotations

import uuid

import pytest

import swfd
from swfd.actors import Decider
from swfd.testing import wait_for

WORKFLOW = {"name": "W", "version": "1"}


def register_types(client, domain: str) -> None:
    client.register_workflow_type(
        domain=domain, name="W", version="1", defaultTaskList={"name": "decisions"},
        defaultExecutionStartToCloseTimeout="600", defaultTaskStartToCloseTimeout="60",
        defaultChildPolicy="TERMINATE",
    )  # fmt: skip
    client.register_activity_type(
        domain=domain, name="A", version="1", defaultTaskList={"name": "work"},
        defaultTaskHeartbeatTimeout="60", defaultTaskScheduleToCloseTimeout="600",
        defaultTaskScheduleToStartTimeout="300", defaultTaskStartToCloseTimeout="300",
    )  # fmt: skip


class Env:
    """One execution driven by hand: answer its decision tasks, read its history."""

    def __init__(self, client, domain):
        self.client = client
        self.domain = domain
        self.workflow_id = f"wf-{uuid.uuid4().hex[:8]}"
        self.run_id = client.start_workflow_execution(
            domain=domain, workflowId=self.workflow_id, workflowType=WORKFLOW
        )["runId"]
        self.execution = {"workflowId": self.workflow_id, "runId": self.run_id}
        self.decider = Decider(domain, "decisions", client=client)

    def decide(self, build) -> list[str]:
        """Answer the next decision task with what ``build`` adds; return the new event types."""
        task = wait_for(self.decider.poll, timeout=10, message="a decision task")
        assert task["workflowExecution"]["workflowId"] == self.workflow_id
        before = len(self.events())
        decisions = swfd.Decisions()
        build(decisions)
        self.decider.complete(decisions=decisions)
        return [e["eventType"] for e in self.events()[before:]]

    def events(self, execution=None) -> list[dict]:
        pages = self.client.get_paginator("get_workflow_execution_history").paginate(
            domain=self.domain, execution=execution or self.execution
        )
        return [e for page in pages for e in page["events"]]

    def signal(self):
        self.client.signal_workflow_execution(
            domain=self.domain, signalName="wake", **self.execution
        )


@pytest.fixture
def env(swf_client, domain):
    register_types(swf_client, domain)
    return Env(swf_client, domain)


def test_schedule_activity_task(env):
    new = env.decide(
        lambda d: d.schedule_activity_task(
            "a1", "A", "1", task_list="work", control="c", heartbeat_timeout=30,
            schedule_to_close_timeout=600, schedule_to_start_timeout="NONE",
            start_to_close_timeout=300, input="in", task_priority=5,
        )
    )
    assert new[1] == "ActivityTaskScheduled"
    scheduled = env.events()[-1]["activityTaskScheduledEventAttributes"]
    assert scheduled["activityId"] == "a1"
    assert scheduled["heartbeatTimeout"] == "30"
    assert scheduled["scheduleToStartTimeout"] == "NONE"
    assert scheduled["taskPriority"] == "5"
    assert scheduled["input"] == "in" and scheduled["control"] == "c"


def test_request_cancel_activity_task(env):
    env.decide(lambda d: d.schedule_activity_task("a1", "A", "1"))
    env.signal()
    new = env.decide(lambda d: d.request_cancel_activity_task("a1"))
    assert "ActivityTaskCancelRequested" in new


def test_record_marker(env):
    new = env.decide(lambda d: d.record_marker("m", details="dd"))
    assert new[1:] == ["MarkerRecorded"]
    assert env.events()[-1]["markerRecordedEventAttributes"]["details"] == "dd"


def test_start_and_cancel_timer(env):
    new = env.decide(lambda d: d.start_timer(600, "t1", control="c"))
    assert new[1:] == ["TimerStarted"]
    assert env.events()[-1]["timerStartedEventAttributes"]["startToFireTimeout"] == "600"
    env.signal()
    new = env.decide(lambda d: d.cancel_timer("t1"))
    assert new[1:] == ["TimerCanceled"]


def test_complete_workflow_execution(env):
    new = env.decide(lambda d: d.complete_workflow_execution(result="r"))
    assert new[1:] == ["WorkflowExecutionCompleted"]


def test_fail_workflow_execution(env):
    new = env.decide(lambda d: d.fail_workflow_execution(reason="why", details="how"))
    assert new[1:] == ["WorkflowExecutionFailed"]
    attrs = env.events()[-1]["workflowExecutionFailedEventAttributes"]
    assert (attrs["reason"], attrs["details"]) == ("why", "how")


def test_cancel_workflow_execution(env):
    env.client.request_cancel_workflow_execution(domain=env.domain, **env.execution)
    new = env.decide(lambda d: d.cancel_workflow_execution(details="bye"))
    assert new[1:] == ["WorkflowExecutionCanceled"]


def test_continue_as_new_workflow_execution(env):
    new = env.decide(
        lambda d: d.continue_as_new_workflow_execution(
            child_policy="ABANDON", execution_start_to_close_timeout=300, input="next",
            tag_list=["t1"], task_list="decisions", start_to_close_timeout=30, task_priority=1,
        )
    )
    assert new[1:] == ["WorkflowExecutionContinuedAsNew"]
    attrs = env.events()[-1]["workflowExecutionContinuedAsNewEventAttributes"]
    assert attrs["input"] == "next"
    new_run = {"workflowId": env.workflow_id, "runId": attrs["newExecutionRunId"]}
    started = env.events(new_run)[0]["workflowExecutionStartedEventAttributes"]
    assert started["input"] == "next" and started["continuedExecutionRunId"] == env.run_id


def test_signal_external_workflow_execution(env):
    other = Env(env.client, env.domain)
    new = env.decide(
        lambda d: d.signal_external_workflow_execution(
            other.workflow_id, "hello", run_id=other.run_id, control="c", input="payload"
        )
    )
    assert new[1] == "SignalExternalWorkflowExecutionInitiated"
    signaled = wait_for(
        lambda: [e for e in other.events() if e["eventType"] == "WorkflowExecutionSignaled"],
        timeout=10,
        message="the signal to arrive",
    )
    assert signaled[0]["workflowExecutionSignaledEventAttributes"]["input"] == "payload"


def test_request_cancel_external_workflow_execution(env):
    other = Env(env.client, env.domain)
    new = env.decide(
        lambda d: d.request_cancel_external_workflow_execution(
            other.workflow_id, control="c", run_id=other.run_id
        )
    )
    assert new[1] == "RequestCancelExternalWorkflowExecutionInitiated"
    wait_for(
        lambda: "WorkflowExecutionCancelRequested" in [e["eventType"] for e in other.events()],
        timeout=10,
        message="the cancel request to arrive",
    )


def test_start_child_workflow_execution(env):
    new = env.decide(
        lambda d: d.start_child_workflow_execution(
            "W", "1", "child-1", child_policy="TERMINATE", control="c",
            execution_start_to_close_timeout=300, input="child-in", tag_list=["x"],
            task_list="decisions", task_start_to_close_timeout=30, task_priority=2,
        )
    )
    assert new[1] == "StartChildWorkflowExecutionInitiated"
    wait_for(
        lambda: "ChildWorkflowExecutionStarted" in [e["eventType"] for e in env.events()],
        timeout=10,
        message="the child to start",
    )


def test_schedule_lambda_function(env):
    new = env.decide(lambda d: d.schedule_lambda_function("f1", "fn", input="{}"))
    # Without a lambda role SWF answers with a ScheduleLambdaFunctionFailed event: the
    # decision itself is accepted (no 400), which is what the builder must get right.
    assert new[1] in ("LambdaFunctionScheduled", "ScheduleLambdaFunctionFailed")


def test_endpoint_rejects_close_decision_not_last_like_validate(env):
    task = wait_for(env.decider.poll, timeout=10, message="a decision task")
    bad = swfd.Decisions()
    bad.complete_workflow_execution()
    bad.record_marker("late")
    with pytest.raises(swfd.decisions.DecisionError):
        bad.validate()
    with pytest.raises(env.client.exceptions.ClientError) as info:
        env.client.respond_decision_task_completed(taskToken=task["taskToken"], decisions=bad.data)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def _activity(**overrides):
    attrs = {"activityId": "a", "activityType": {"name": "A", "version": "1"}, **overrides}
    return {"decisionType": "ScheduleActivityTask", "scheduleActivityTaskDecisionAttributes": attrs}


REJECTED_BOTH_WAYS = [
    ("activityId too long", _activity(activityId="x" * 257),
     lambda d: d.schedule_activity_task("x" * 257, "A", "1")),
    ("activityId with ':'", _activity(activityId="a:b"),
     lambda d: d.schedule_activity_task("a:b", "A", "1")),
    ("task list with '|'", _activity(taskList={"name": "a|b"}),
     lambda d: d.schedule_activity_task("a", "A", "1", task_list="a|b")),
    ("negative duration", _activity(heartbeatTimeout="-1"),
     lambda d: d.schedule_activity_task("a", "A", "1", heartbeat_timeout=-1)),
    ("priority not a number", _activity(taskPriority="high"),
     lambda d: d.schedule_activity_task("a", "A", "1", task_priority="high")),
    ("timer of NONE",
     {"decisionType": "StartTimer",
      "startTimerDecisionAttributes": {"timerId": "t", "startToFireTimeout": "NONE"}},
     lambda d: d.start_timer("NONE", "t")),
    ("unknown child policy",
     {"decisionType": "ContinueAsNewWorkflowExecution",
      "continueAsNewWorkflowExecutionDecisionAttributes": {"childPolicy": "KILL"}},
     lambda d: d.continue_as_new_workflow_execution(child_policy="KILL")),
    ("six tags",
     {"decisionType": "StartChildWorkflowExecution",
      "startChildWorkflowExecutionDecisionAttributes": {
          "workflowId": "c", "workflowType": WORKFLOW, "tagList": ["t"] * 6}},
     lambda d: d.start_child_workflow_execution("W", "1", "c", tag_list=["t"] * 6)),
]  # fmt: skip


@pytest.mark.parametrize(
    "raw, build", [case[1:] for case in REJECTED_BOTH_WAYS], ids=[c[0] for c in REJECTED_BOTH_WAYS]
)
def test_builder_refuses_what_the_endpoint_rejects(env, raw, build):
    """The builder's checks mirror SWF's: what it refuses on add, the endpoint answers 400."""
    with pytest.raises(swfd.decisions.DecisionError):
        build(swfd.Decisions())
    task = wait_for(env.decider.poll, timeout=10, message="a decision task")
    with pytest.raises(env.client.exceptions.ClientError) as info:
        env.client.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[raw])
    assert info.value.response["Error"]["Code"] == "ValidationException"
