"""Faults, size limits and decision-batch semantics of the local endpoint, through boto3.

Each modelled fault is provoked by the SWF call that raises it on AWS, and
botocore must raise its modelled class; unmodelled errors arrive as
ClientError with SWF's code.
"""

from __future__ import annotations

import botocore.exceptions
import pytest
from test_local_support import (  # noqa: F401 (no_internal_failures is autouse)
    attributes,
    decision,
    event_types,
    find,
    history,
    is_closed,
    no_internal_failures,
    poll_decision,
    register_activity_type,
    register_workflow_type,
    respond,
    schedule_activity,
    start,
    unique,
)

WTYPE = {"name": "W", "version": "1.0"}
ATYPE = {"name": "A", "version": "1.0"}


def _types(client, domain):
    register_workflow_type(client, domain, "W", task_list="decide")
    register_activity_type(client, domain, "A", task_list="work")


def test_unknown_resource_fault(swf_client, domain):
    client = swf_client
    with pytest.raises(client.exceptions.UnknownResourceFault):
        client.describe_domain(name="no-such-domain")
    with pytest.raises(client.exceptions.UnknownResourceFault):
        client.poll_for_decision_task(domain="no-such-domain", taskList={"name": "x"})
    with pytest.raises(client.exceptions.UnknownResourceFault):
        client.describe_workflow_type(domain=domain, workflowType={"name": "W", "version": "9"})
    with pytest.raises(client.exceptions.UnknownResourceFault):
        client.start_workflow_execution(domain=domain, workflowId="w", workflowType=WTYPE)
    with pytest.raises(client.exceptions.UnknownResourceFault):
        client.describe_workflow_execution(
            domain=domain, execution={"workflowId": "none", "runId": "none"}
        )
    # A well-formed token whose task is gone: UnknownResourceFault (see test_local_timeouts);
    # a token that is not one of the endpoint's at all is a ValidationException.
    for token in ("not-a-token", "x" * 1024):
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            client.respond_activity_task_completed(taskToken=token)
        assert caught.value.response["Error"]["Code"] == "ValidationException"
        assert "taskToken" in caught.value.response["Error"]["Message"]


def test_already_exists_faults(swf_client, domain):
    with pytest.raises(swf_client.exceptions.DomainAlreadyExistsFault):
        swf_client.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    _types(swf_client, domain)
    with pytest.raises(swf_client.exceptions.TypeAlreadyExistsFault):
        register_workflow_type(swf_client, domain, "W")
    with pytest.raises(swf_client.exceptions.TypeAlreadyExistsFault):
        register_activity_type(swf_client, domain, "A")
    execution = start(swf_client, domain, "W")
    with pytest.raises(swf_client.exceptions.WorkflowExecutionAlreadyStartedFault):
        start(swf_client, domain, "W", workflow_id=execution["workflowId"])
    swf_client.terminate_workflow_execution(domain=domain, **execution)
    # A closed workflowId may be reused.
    again = start(swf_client, domain, "W", workflow_id=execution["workflowId"])
    assert again["runId"] != execution["runId"]


def test_default_undefined_fault(swf_client, domain):
    swf_client.register_workflow_type(domain=domain, name="Bare", version="1.0")
    with pytest.raises(swf_client.exceptions.DefaultUndefinedFault):
        swf_client.start_workflow_execution(
            domain=domain, workflowId="w", workflowType={"name": "Bare", "version": "1.0"}
        )


def test_deprecation_faults(swf_client, domain):
    _types(swf_client, domain)
    # Undeprecating a registered type or domain: the *AlreadyExists faults (SWF's model).
    with pytest.raises(swf_client.exceptions.TypeAlreadyExistsFault):
        swf_client.undeprecate_workflow_type(domain=domain, workflowType=WTYPE)
    swf_client.deprecate_workflow_type(domain=domain, workflowType=WTYPE)
    with pytest.raises(swf_client.exceptions.TypeDeprecatedFault):
        swf_client.deprecate_workflow_type(domain=domain, workflowType=WTYPE)
    with pytest.raises(swf_client.exceptions.TypeDeprecatedFault):
        start(swf_client, domain, "W")
    swf_client.undeprecate_workflow_type(domain=domain, workflowType=WTYPE)
    start(swf_client, domain, "W")
    swf_client.deprecate_activity_type(domain=domain, activityType=ATYPE)
    with pytest.raises(swf_client.exceptions.TypeDeprecatedFault):
        swf_client.deprecate_activity_type(domain=domain, activityType=ATYPE)

    swf_client.deprecate_domain(name=domain)
    with pytest.raises(swf_client.exceptions.DomainDeprecatedFault):
        swf_client.deprecate_domain(name=domain)
    swf_client.undeprecate_domain(name=domain)
    with pytest.raises(swf_client.exceptions.DomainAlreadyExistsFault):
        swf_client.undeprecate_domain(name=domain)
    register_workflow_type(swf_client, domain, "W2")


def test_delete_type_requires_deprecation(swf_client, domain):
    _types(swf_client, domain)
    with pytest.raises(swf_client.exceptions.TypeNotDeprecatedFault):
        swf_client.delete_activity_type(domain=domain, activityType=ATYPE)
    swf_client.deprecate_activity_type(domain=domain, activityType=ATYPE)
    swf_client.delete_activity_type(domain=domain, activityType=ATYPE)
    with pytest.raises(swf_client.exceptions.UnknownResourceFault):
        swf_client.describe_activity_type(domain=domain, activityType=ATYPE)


def test_too_many_tags_fault(swf_client, domain):
    arn = swf_client.describe_domain(name=domain)["domainInfo"]["arn"]
    swf_client.tag_resource(resourceArn=arn, tags=[{"key": f"k{i}"} for i in range(50)])
    assert len(swf_client.list_tags_for_resource(resourceArn=arn)["tags"]) == 50
    with pytest.raises(swf_client.exceptions.TooManyTagsFault):
        swf_client.tag_resource(resourceArn=arn, tags=[{"key": "one-more"}])
    swf_client.untag_resource(resourceArn=arn, tagKeys=["k0"])
    swf_client.tag_resource(resourceArn=arn, tags=[{"key": "one-more", "value": "v"}])


def test_limit_exceeded_fault_for_domains(swf_client):
    # SWF's quota: 100 registered domains per account and region.
    names = [unique("quota") for _ in range(100)]
    registered = len(swf_client.list_domains(registrationStatus="REGISTERED")["domainInfos"])
    for name in names[: 100 - registered]:
        swf_client.register_domain(name=name, workflowExecutionRetentionPeriodInDays="1")
    with pytest.raises(swf_client.exceptions.LimitExceededFault):
        swf_client.register_domain(name=unique("over"), workflowExecutionRetentionPeriodInDays="1")


def test_validation_exception_from_server(swf_client, domain):
    client = swf_client
    client.meta.config.parameter_validation = False  # see the server's own checks
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client.poll_for_activity_task(domain=domain, taskList={"name": "bad|name"})
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "taskList.name" in caught.value.response["Error"]["Message"]


def test_field_size_limit(swf_client, domain):
    _types(swf_client, domain)
    swf_client.meta.config.parameter_validation = False
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        start(swf_client, domain, "W", input="x" * 32769)
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "'input'" in error["Message"] and "32768" in error["Message"]


def test_request_over_one_megabyte(swf_client, domain):
    _types(swf_client, domain)
    execution = start(swf_client, domain, "W")
    task = poll_decision(swf_client, domain, "decide")
    decisions = [
        decision("RecordMarker", markerName=f"m{i}", details="d" * 32000) for i in range(40)
    ]
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        respond(swf_client, task, decisions)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "1 MB" in caught.value.response["Error"]["Message"]
    # Nothing applied; the task is still answerable.
    respond(swf_client, task, decisions[:20])
    assert len(find(history(swf_client, domain, execution), "MarkerRecorded")) == 20


def test_malformed_batch_is_rejected_whole(swf_client, domain):
    _types(swf_client, domain)
    execution = start(swf_client, domain, "W")
    task = poll_decision(swf_client, domain, "decide")
    before = event_types(history(swf_client, domain, execution))
    batch = [
        decision("RecordMarker", markerName="m"),
        decision("CompleteWorkflowExecution"),
        schedule_activity("a1", "A"),
    ]
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        respond(swf_client, task, batch)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "Close must be last decision" in caught.value.response["Error"]["Message"]
    assert event_types(history(swf_client, domain, execution)) == before
    respond(
        swf_client,
        task,
        [decision("RecordMarker", markerName="m"), decision("CompleteWorkflowExecution")],
    )
    assert is_closed(swf_client, domain, execution) == "COMPLETED"


def test_failing_decisions_beside_ones_that_apply(swf_client, domain):
    _types(swf_client, domain)
    execution = start(swf_client, domain, "W")
    task = poll_decision(swf_client, domain, "decide")
    respond(
        swf_client,
        task,
        [
            schedule_activity("ok", "A"),
            schedule_activity("missing", "NoSuchActivity"),
            decision("RecordMarker", markerName="kept"),
            decision("CancelTimer", timerId="never-started"),
            decision("StartTimer", timerId="t1", startToFireTimeout="600"),
            decision("StartTimer", timerId="t1", startToFireTimeout="600"),
            decision("RequestCancelActivityTask", activityId="unknown"),
            decision("ScheduleLambdaFunction", id="l1", name="fn", startToCloseTimeout="10"),
        ],
    )
    events = history(swf_client, domain, execution)
    types = event_types(events)
    completed_id = find(events, "DecisionTaskCompleted")[0]["eventId"]
    after = [e for e in events if e["eventId"] > completed_id]
    assert event_types(after)[:8] == [
        "ActivityTaskScheduled",
        "ScheduleActivityTaskFailed",
        "MarkerRecorded",
        "CancelTimerFailed",
        "TimerStarted",
        "StartTimerFailed",
        "RequestCancelActivityTaskFailed",
        "ScheduleLambdaFunctionFailed",
    ]
    causes = {e["eventType"]: attributes(e).get("cause") for e in after}
    assert causes["ScheduleActivityTaskFailed"] == "ACTIVITY_TYPE_DOES_NOT_EXIST"
    assert causes["CancelTimerFailed"] == "TIMER_ID_UNKNOWN"
    assert causes["StartTimerFailed"] == "TIMER_ID_ALREADY_IN_USE"
    assert causes["RequestCancelActivityTaskFailed"] == "ACTIVITY_ID_UNKNOWN"
    # The endpoint runs no Lambda: the documented cause is the closest of SWF's enum.
    assert causes["ScheduleLambdaFunctionFailed"] == "LAMBDA_SERVICE_NOT_AVAILABLE_IN_REGION"
    for event in after:
        if event["eventType"].endswith("Failed"):
            assert attributes(event)["decisionTaskCompletedEventId"] == completed_id
    # Failed decisions schedule a decision task so the decider can react.
    assert types[-1] == "DecisionTaskScheduled"
    assert is_closed(swf_client, domain, execution) is None


def test_close_decision_racing_new_events_fails_unhandled(swf_client, domain):
    _types(swf_client, domain)
    execution = start(swf_client, domain, "W")
    task = poll_decision(swf_client, domain, "decide")
    swf_client.signal_workflow_execution(domain=domain, signalName="late", **execution)
    respond(
        swf_client,
        task,
        [decision("RecordMarker", markerName="m"), decision("CompleteWorkflowExecution")],
    )
    events = history(swf_client, domain, execution)
    failed = find(events, "CompleteWorkflowExecutionFailed")
    assert failed and attributes(failed[0])["cause"] == "UNHANDLED_DECISION"
    assert find(events, "MarkerRecorded")
    assert is_closed(swf_client, domain, execution) is None
    task = poll_decision(swf_client, domain, "decide")
    respond(swf_client, task, [decision("CompleteWorkflowExecution")])
    assert is_closed(swf_client, domain, execution) == "COMPLETED"


def test_open_activities_and_timers_limits(swf_client, domain):
    _types(swf_client, domain)
    execution = start(swf_client, domain, "W")
    task = poll_decision(swf_client, domain, "decide")
    respond(swf_client, task, [schedule_activity(f"a{i}", "A") for i in range(1001)])
    failed = find(history(swf_client, domain, execution), "ScheduleActivityTaskFailed")
    assert len(failed) == 1
    assert attributes(failed[0])["cause"] == "OPEN_ACTIVITIES_LIMIT_EXCEEDED"
    assert attributes(failed[0])["activityId"] == "a1000"

    task = poll_decision(swf_client, domain, "decide")
    respond(
        swf_client,
        task,
        [decision("StartTimer", timerId=f"t{i}", startToFireTimeout="600") for i in range(1001)],
    )
    failed = find(history(swf_client, domain, execution), "StartTimerFailed")
    assert len(failed) == 1 and attributes(failed[0])["cause"] == "OPEN_TIMERS_LIMIT_EXCEEDED"


def test_close_decision_without_attributes_member(swf_client, domain):
    # Complete/Fail/Cancel/ContinueAsNew have only optional attributes: SWF accepts the
    # decision without its attributes member (some frameworks send exactly that).
    _types(swf_client, domain)
    execution = start(swf_client, domain, "W")
    task = poll_decision(swf_client, domain, "decide")
    respond(swf_client, task, [{"decisionType": "CompleteWorkflowExecution"}])
    assert is_closed(swf_client, domain, execution) == "COMPLETED"


def test_open_children_limit(swf_client, domain):
    _types(swf_client, domain)
    register_workflow_type(swf_client, domain, "Kid", task_list="kids")
    execution = start(swf_client, domain, "W")
    task = poll_decision(swf_client, domain, "decide")
    children = [
        decision(
            "StartChildWorkflowExecution",
            workflowId=f"{execution['workflowId']}-kid-{i}",
            workflowType={"name": "Kid", "version": "1.0"},
        )
        for i in range(1001)
    ]
    respond(swf_client, task, children)
    events = history(swf_client, domain, execution)
    failed = find(events, "StartChildWorkflowExecutionFailed")
    assert len(failed) == 1
    assert attributes(failed[0])["cause"] == "OPEN_CHILDREN_LIMIT_EXCEEDED"
    assert attributes(failed[0])["workflowId"].endswith("-kid-1000")
    assert len(find(events, "StartChildWorkflowExecutionInitiated")) == 1000


def test_unpaired_surrogate_is_refused_not_a_500(swf_client, domain):
    _types(swf_client, domain)
    for bad in ({"workflowId": "w\udc00"}, {"workflowId": "w", "input": "\ud800"}):
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            swf_client.start_workflow_execution(
                domain=domain, workflowType={"name": "W", "version": "1.0"}, **bad
            )
        assert caught.value.response["Error"]["Code"] == "SerializationException"
    assert start(swf_client, domain, "W", input="emoji \U0001f600 and é")["runId"]
