"""swfd.Decisions: boto's Layer1Decisions names and defaults, checked against botocore's model."""

from __future__ import annotations

import inspect
import json

import botocore.session
import pytest

import swfd
from swfd.decisions import CLOSE_DECISIONS, DecisionError, Decisions


def one(decisions: Decisions) -> tuple[str, dict]:
    (decision,) = decisions.data
    decision_type = decision["decisionType"]
    key = decision_type[0].lower() + decision_type[1:] + "DecisionAttributes"
    assert set(decision) == {"decisionType", key}
    return decision_type, decision[key]


def test_public_name_is_the_builder():
    assert swfd.Decisions is Decisions


def test_a_method_for_every_decision_type_in_botocore_model():
    model = botocore.session.get_session().get_service_model("swf")
    types = set(model.shape_for("DecisionType").metadata["enum"])
    methods = {
        "ScheduleActivityTask": "schedule_activity_task",
        "RequestCancelActivityTask": "request_cancel_activity_task",
        "CompleteWorkflowExecution": "complete_workflow_execution",
        "FailWorkflowExecution": "fail_workflow_execution",
        "CancelWorkflowExecution": "cancel_workflow_execution",
        "ContinueAsNewWorkflowExecution": "continue_as_new_workflow_execution",
        "RecordMarker": "record_marker",
        "StartTimer": "start_timer",
        "CancelTimer": "cancel_timer",
        "SignalExternalWorkflowExecution": "signal_external_workflow_execution",
        "RequestCancelExternalWorkflowExecution": "request_cancel_external_workflow_execution",
        "StartChildWorkflowExecution": "start_child_workflow_execution",
        "ScheduleLambdaFunction": "schedule_lambda_function",
    }
    assert set(methods) == types
    for method in methods.values():
        assert callable(getattr(Decisions, method))


def test_boto_argument_order_is_kept():
    params = list(inspect.signature(Decisions.schedule_activity_task).parameters)[1:]
    assert params == [
        "activity_id", "activity_type_name", "activity_type_version", "task_list", "control",
        "heartbeat_timeout", "schedule_to_close_timeout", "schedule_to_start_timeout",
        "start_to_close_timeout", "input", "task_priority",
    ]  # fmt: skip
    params = list(inspect.signature(Decisions.start_timer).parameters)[1:]
    assert params == ["start_to_fire_timeout", "timer_id", "control"]
    params = list(inspect.signature(Decisions.start_child_workflow_execution).parameters)[1:4]
    assert params == ["workflow_type_name", "workflow_type_version", "workflow_id"]
    assert Decisions.cancel_workflow_executions is Decisions.cancel_workflow_execution


def test_schedule_activity_task_positional_like_the_seed():
    d = Decisions()
    d.schedule_activity_task("saying_hi", "HelloWorld", "1.0", task_list="default")
    assert d.data == [
        {
            "decisionType": "ScheduleActivityTask",
            "scheduleActivityTaskDecisionAttributes": {
                "activityId": "saying_hi",
                "activityType": {"name": "HelloWorld", "version": "1.0"},
                "taskList": {"name": "default"},
            },
        }
    ]
    assert d._data is d.data  # boto's attribute name still works


def test_durations_and_priority_become_strings():
    d = Decisions()
    d.schedule_activity_task(
        "a", "T", "1", "tl", "ctl", 600, "3900", 300, "NONE", "in", task_priority=-5
    )
    _, attrs = one(d)
    assert attrs["heartbeatTimeout"] == "600"
    assert attrs["scheduleToCloseTimeout"] == "3900"
    assert attrs["scheduleToStartTimeout"] == "300"
    assert attrs["startToCloseTimeout"] == "NONE"
    assert attrs["taskPriority"] == "-5"
    assert attrs["control"] == "ctl" and attrs["input"] == "in"


def test_every_builder_produces_its_decision_type():
    d = Decisions()
    d.schedule_activity_task("a", "T", "1")
    d.request_cancel_activity_task("a")
    d.record_marker("m", details="x")
    d.start_timer(10, "t", control="c")
    d.cancel_timer("t")
    d.signal_external_workflow_execution("wf", "sig", run_id="r", control="c", input="i")
    d.request_cancel_external_workflow_execution("wf", control="c", run_id="r")
    d.start_child_workflow_execution(
        "W", "1", "child", child_policy="ABANDON", tag_list=("a", "b"), task_list="tl",
        execution_start_to_close_timeout=60, task_start_to_close_timeout="NONE",
        task_priority="7", lambda_role="arn:aws:iam::1:role/x",
    )  # fmt: skip
    d.schedule_lambda_function("f1", "fn", input="{}", start_to_close_timeout=5)
    d.complete_workflow_execution(result="r")
    assert [x["decisionType"] for x in d.data] == [
        "ScheduleActivityTask", "RequestCancelActivityTask", "RecordMarker", "StartTimer",
        "CancelTimer", "SignalExternalWorkflowExecution",
        "RequestCancelExternalWorkflowExecution", "StartChildWorkflowExecution",
        "ScheduleLambdaFunction", "CompleteWorkflowExecution",
    ]  # fmt: skip
    child = d.data[7]["startChildWorkflowExecutionDecisionAttributes"]
    assert child["tagList"] == ["a", "b"]
    assert child["executionStartToCloseTimeout"] == "60"
    assert child["taskStartToCloseTimeout"] == "NONE"
    assert child["workflowId"] == "child"
    d.validate()
    for close in (
        lambda x: x.fail_workflow_execution(reason="r", details="d"),
        lambda x: x.cancel_workflow_execution(details="d"),
        lambda x: x.continue_as_new_workflow_execution(
            child_policy="TERMINATE", execution_start_to_close_timeout=60, input="i",
            tag_list=["t"], task_list="tl", start_to_close_timeout=30,
            workflow_type_version="2", task_priority=1,
        ),
    ):
        x = Decisions()
        close(x)
        decision_type, _ = one(x)
        assert decision_type in CLOSE_DECISIONS
    x = Decisions()
    x.continue_as_new_workflow_execution(start_to_close_timeout=30)
    assert one(x)[1] == {"taskStartToCloseTimeout": "30"}


def test_unset_optionals_are_left_out():
    d = Decisions()
    d.complete_workflow_execution()
    d2 = Decisions()
    d2.fail_workflow_execution()
    assert one(d)[1] == {} and one(d2)[1] == {}


@pytest.mark.parametrize(
    "build, field, words",
    [
        (lambda d: d.schedule_activity_task("x" * 257, "T", "1"), "activityId", "exceeds"),
        (lambda d: d.schedule_activity_task("", "T", "1"), "activityId", "below the minimum 1"),
        (lambda d: d.schedule_activity_task("a", "T", "v" * 65), "activityType.version", "64"),
        (lambda d: d.schedule_activity_task("a", "T", "1", task_list="t" * 257), "taskList.name",
         "exceeds"),
        (lambda d: d.schedule_activity_task("a", "T", "1", input="x" * 32769), "input", "32768"),
        (lambda d: d.schedule_activity_task("a", "T", "1", control=5), "control", "string"),
        (lambda d: d.schedule_activity_task("a", "T", "1", heartbeat_timeout=-1),
         "heartbeatTimeout", "negative"),
        (lambda d: d.schedule_activity_task("a", "T", "1", heartbeat_timeout="10s"),
         "heartbeatTimeout", "NONE"),
        (lambda d: d.schedule_activity_task("a", "T", "1", start_to_close_timeout=10**8),
         "startToCloseTimeout", "exceeds the maximum 8"),
        (lambda d: d.schedule_activity_task("a", "T", "1", task_priority=2**31), "taskPriority",
         "integer"),
        (lambda d: d.schedule_activity_task("a:b", "T", "1"), "activityId", "':'"),
        (lambda d: d.schedule_activity_task(" a", "T", "1"), "activityId", "whitespace"),
        (lambda d: d.schedule_activity_task("arn", "T", "1"), "activityId", "arn"),
        (lambda d: d.start_timer("NONE", "t"), "startToFireTimeout", "NONE"),
        (lambda d: d.start_timer(None, "t"), "startToFireTimeout", "required"),
        (lambda d: d.start_timer(1, "t|x"), "timerId", "'|'"),
        (lambda d: d.record_marker("m", details="x" * 32769), "details", "32768"),
        (lambda d: d.record_marker("m" * 257), "markerName", "exceeds"),
        (lambda d: d.fail_workflow_execution(reason="r" * 257), "reason", "256"),
        (lambda d: d.continue_as_new_workflow_execution(child_policy="KILL"), "childPolicy",
         "TERMINATE, REQUEST_CANCEL, ABANDON"),
        (lambda d: d.continue_as_new_workflow_execution(tag_list=["t"] * 6), "tagList", "maximum 5"),
        (lambda d: d.continue_as_new_workflow_execution(tag_list=["t" * 257]), "tagList[0]",
         "exceeds"),
        (lambda d: d.start_child_workflow_execution("W", "1", "a/b"), "workflowId", "'/'"),
        (lambda d: d.start_child_workflow_execution("W", "1", "c", lambda_role=""), "lambdaRole",
         "minimum 1"),
        (lambda d: d.signal_external_workflow_execution("w", "s", run_id="r" * 65), "runId", "64"),
        (lambda d: d.schedule_lambda_function("f", "n" * 65), "name", "maximum 64"),
    ],
)
def test_bad_field_names_decision_and_field(build, field, words):
    d = Decisions()
    d.record_marker("first")  # so the failing decision is index 1
    with pytest.raises(DecisionError) as info:
        build(d)
    err = info.value
    assert err.index == 1
    assert err.field == field
    assert f"decision 1 ({err.decision_type}), field {field}:" in str(err)
    assert words in str(err)
    assert len(d.data) == 1  # the bad decision was not added


def test_validate_requires_close_decision_last():
    d = Decisions()
    d.complete_workflow_execution()
    d.record_marker("late")
    with pytest.raises(DecisionError, match=r"decision 0 \(CompleteWorkflowExecution\).*last"):
        d.validate()
    d = Decisions()
    d.record_marker("ok")
    d.fail_workflow_execution(reason="r")
    d.validate()
    Decisions().validate()


def test_validate_rejects_a_batch_over_one_megabyte():
    d = Decisions()
    for i in range(40):
        d.record_marker(f"m{i}", details="x" * 32768)
    with pytest.raises(DecisionError, match=r"decision 39 \(RecordMarker\).*1048576 bytes"):
        d.validate()
    d = Decisions()
    for i in range(30):
        d.record_marker(f"m{i}", details="x" * 32768)
    d.validate()


def test_python_payloads_are_encoded_as_json_and_strings_pass_unchanged():
    from swfd import Decisions
    from swfd.decisions import DecisionError

    decisions = Decisions()
    decisions.schedule_activity_task("a", "A", "1", input={"width": 640, "name": "é"})
    decisions.complete_workflow_execution(result='{"already": "encoded"}')
    attrs = [d[next(k for k in d if k.endswith("Attributes"))] for d in decisions.data]
    assert json.loads(attrs[0]["input"]) == {"width": 640, "name": "é"}
    assert attrs[1]["result"] == '{"already": "encoded"}'
    with pytest.raises(DecisionError) as info:
        Decisions().record_marker("m", details={"secret": {1, 2}})
    assert "details" in str(info.value) and "secret" not in str(info.value)
    with pytest.raises(DecisionError, match="length"):
        Decisions().complete_workflow_execution(result=["x" * 40000])
