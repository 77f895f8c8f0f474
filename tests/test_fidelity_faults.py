"""Each operation answers with the fault the SWF API reference lists for the situation.

Sources: the "Errors" section of each operation's API reference page (botocore's
model lists the same fault shapes per operation), DeprecateDomain ("cannot be
used to create new workflow executions or register new types. However, you can
still use visibility actions"), DeprecateActivityType/DeprecateWorkflowType,
DeleteActivityType/DeleteWorkflowType ("must be deprecated first"), and
RecordActivityTaskHeartbeat/Respond* ("UnknownResource fault" once the task is
no longer valid). Plain boto3; botocore raises the modelled fault class.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from test_local_support import (  # noqa: F401 (no_internal_failures is autouse)
    no_internal_failures,
    poll_activity,
    poll_decision,
    register_activity_type,
    register_workflow_type,
    respond,
    schedule_activity,
    start,
    unique,
)

W = {"name": "W", "version": "1.0"}
A = {"name": "A", "version": "1.0"}


def code_of(call, **params) -> str:
    with pytest.raises(ClientError) as caught:
        call(**params)
    error = caught.value.response["Error"]
    assert error["Message"], "a fault names what was wrong"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error["Code"]


@pytest.fixture
def typed(swf_client, domain):
    register_workflow_type(swf_client, domain, "W")
    register_activity_type(swf_client, domain, "A")
    return domain


def test_start_workflow_execution_faults(swf_client, typed):
    client, domain = swf_client, typed
    assert code_of(client.start_workflow_execution, domain=unique("nodomain"),
                   workflowId="x", workflowType=W) == "UnknownResourceFault"
    assert code_of(client.start_workflow_execution, domain=domain, workflowId="x",
                   workflowType={"name": "W", "version": "nope"}) == "UnknownResourceFault"

    register_workflow_type(client, domain, "Old")
    client.deprecate_workflow_type(domain=domain, workflowType={"name": "Old", "version": "1.0"})
    with pytest.raises(client.exceptions.TypeDeprecatedFault):
        client.start_workflow_execution(domain=domain, workflowId="x",
                                        workflowType={"name": "Old", "version": "1.0"})

    client.register_workflow_type(domain=domain, name="Bare", version="1")
    with pytest.raises(client.exceptions.DefaultUndefinedFault):
        client.start_workflow_execution(domain=domain, workflowId="x",
                                        workflowType={"name": "Bare", "version": "1"})

    ex = start(client, domain, "W", taskList={"name": unique("tl")})
    with pytest.raises(client.exceptions.WorkflowExecutionAlreadyStartedFault):
        client.start_workflow_execution(domain=domain, workflowId=ex["workflowId"],
                                        workflowType=W)
    # Once closed, the workflowId may be used again: a new run.
    client.terminate_workflow_execution(domain=domain, workflowId=ex["workflowId"])
    again = client.start_workflow_execution(domain=domain, workflowId=ex["workflowId"],
                                            workflowType=W)
    assert again["runId"] != ex["runId"]


def test_registration_faults(swf_client, typed):
    client, domain = swf_client, typed
    with pytest.raises(client.exceptions.DomainAlreadyExistsFault):
        client.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    with pytest.raises(client.exceptions.TypeAlreadyExistsFault):
        client.register_activity_type(domain=domain, name="A", version="1.0")
    with pytest.raises(client.exceptions.TypeAlreadyExistsFault):
        client.register_workflow_type(domain=domain, name="W", version="1.0")
    # A deprecated type still exists: registering it again is TypeAlreadyExists too.
    client.deprecate_activity_type(domain=domain, activityType=A)
    with pytest.raises(client.exceptions.TypeAlreadyExistsFault):
        client.register_activity_type(domain=domain, name="A", version="1.0")
    assert code_of(client.register_activity_type, domain=unique("nodomain"), name="A",
                   version="1") == "UnknownResourceFault"


def test_deprecate_undeprecate_delete_faults(swf_client, typed):
    client, domain = swf_client, typed
    with pytest.raises(client.exceptions.TypeNotDeprecatedFault):
        client.delete_activity_type(domain=domain, activityType=A)
    with pytest.raises(client.exceptions.TypeNotDeprecatedFault):
        client.delete_workflow_type(domain=domain, workflowType=W)
    with pytest.raises(client.exceptions.TypeAlreadyExistsFault):
        client.undeprecate_activity_type(domain=domain, activityType=A)
    with pytest.raises(client.exceptions.DomainAlreadyExistsFault):
        client.undeprecate_domain(name=domain)

    client.deprecate_workflow_type(domain=domain, workflowType=W)
    with pytest.raises(client.exceptions.TypeDeprecatedFault):
        client.deprecate_workflow_type(domain=domain, workflowType=W)
    client.delete_workflow_type(domain=domain, workflowType=W)
    with pytest.raises(client.exceptions.UnknownResourceFault):
        client.describe_workflow_type(domain=domain, workflowType=W)
    with pytest.raises(client.exceptions.UnknownResourceFault):
        client.deprecate_activity_type(domain=domain,
                                       activityType={"name": "nope", "version": "1"})

    client.deprecate_domain(name=domain)
    with pytest.raises(client.exceptions.DomainDeprecatedFault):
        client.deprecate_domain(name=domain)
    with pytest.raises(client.exceptions.UnknownResourceFault):
        client.deprecate_domain(name=unique("nodomain"))


def test_a_deprecated_domain_takes_no_new_executions_or_types_but_answers_visibility(
        swf_client, typed):
    client, domain = swf_client, typed
    tl = unique("tl")
    running = start(client, domain, "W", taskList={"name": tl})
    client.deprecate_domain(name=domain)

    with pytest.raises(client.exceptions.UnknownResourceFault):
        client.start_workflow_execution(domain=domain, workflowId="new", workflowType=W)
    with pytest.raises(client.exceptions.UnknownResourceFault):
        client.register_activity_type(domain=domain, name="B", version="1")
    with pytest.raises(client.exceptions.UnknownResourceFault):
        client.register_workflow_type(domain=domain, name="V", version="1")

    # Visibility actions still work.
    assert client.describe_domain(name=domain)["domainInfo"]["status"] == "DEPRECATED"
    infos = client.list_open_workflow_executions(
        domain=domain, startTimeFilter={"oldestDate": 0})["executionInfos"]
    assert [i["execution"] for i in infos] == [running]
    assert client.count_open_workflow_executions(
        domain=domain, startTimeFilter={"oldestDate": 0})["count"] == 1
    assert client.describe_workflow_execution(domain=domain, execution=running)
    # ... and the execution started before the deprecation continues to run.
    task = poll_decision(client, domain, tl)
    assert task["taskToken"]
    respond(client, task, [])


def test_faults_on_executions_that_are_not_open(swf_client, typed):
    client, domain = swf_client, typed
    ex = start(client, domain, "W", taskList={"name": unique("tl")})
    client.terminate_workflow_execution(domain=domain, workflowId=ex["workflowId"])
    with pytest.raises(client.exceptions.UnknownResourceFault):
        client.signal_workflow_execution(domain=domain, workflowId=ex["workflowId"],
                                         signalName="s")
    with pytest.raises(client.exceptions.UnknownResourceFault):
        client.signal_workflow_execution(domain=domain, workflowId=ex["workflowId"],
                                         runId=ex["runId"], signalName="s")
    with pytest.raises(client.exceptions.UnknownResourceFault):
        client.request_cancel_workflow_execution(domain=domain, workflowId=ex["workflowId"])
    with pytest.raises(client.exceptions.UnknownResourceFault):
        client.terminate_workflow_execution(domain=domain, workflowId=ex["workflowId"])
    # A closed execution is still visible (within retention).
    assert client.describe_workflow_execution(domain=domain, execution=ex)
    with pytest.raises(client.exceptions.UnknownResourceFault):
        client.describe_workflow_execution(
            domain=domain, execution={"workflowId": ex["workflowId"], "runId": "0" * 32})
    with pytest.raises(client.exceptions.UnknownResourceFault):
        client.get_workflow_execution_history(
            domain=domain, execution={"workflowId": unique("nope"), "runId": ex["runId"]})


def test_unknown_domain_on_every_domain_scoped_call(swf_client):
    client = swf_client
    nodomain = unique("nodomain")
    calls = [
        (client.describe_domain, {"name": nodomain}),
        (client.list_activity_types, {"domain": nodomain, "registrationStatus": "REGISTERED"}),
        (client.list_open_workflow_executions,
         {"domain": nodomain, "startTimeFilter": {"oldestDate": 0}}),
        (client.count_closed_workflow_executions,
         {"domain": nodomain, "closeTimeFilter": {"oldestDate": 0}}),
        (client.count_pending_activity_tasks, {"domain": nodomain, "taskList": {"name": "t"}}),
        (client.count_pending_decision_tasks, {"domain": nodomain, "taskList": {"name": "t"}}),
        (client.poll_for_activity_task, {"domain": nodomain, "taskList": {"name": "t"}}),
        (client.poll_for_decision_task, {"domain": nodomain, "taskList": {"name": "t"}}),
        (client.signal_workflow_execution,
         {"domain": nodomain, "workflowId": "w", "signalName": "s"}),
    ]
    for call, params in calls:
        assert code_of(call, **params) == "UnknownResourceFault", call.__name__


def test_task_tokens_are_good_once(swf_client, typed):
    """A task answered once is gone: answering, heartbeating or failing it again is
    UnknownResourceFault; so is a decision task already completed."""
    client, domain = swf_client, typed
    tl = unique("tl")
    start(client, domain, "W", taskList={"name": tl})
    decision_task = poll_decision(client, domain, tl)
    respond(client, decision_task, [schedule_activity("a1", "A", task_list=tl + "-a"),
                                    schedule_activity("a2", "A", task_list=tl + "-a")])
    with pytest.raises(client.exceptions.UnknownResourceFault):
        client.respond_decision_task_completed(taskToken=decision_task["taskToken"],
                                               decisions=[])

    first = poll_activity(client, domain, tl + "-a")
    client.respond_activity_task_completed(taskToken=first["taskToken"], result="r")
    for call, extra in [
        (client.respond_activity_task_completed, {"result": "again"}),
        (client.respond_activity_task_failed, {"reason": "late"}),
        (client.respond_activity_task_canceled, {}),
        (client.record_activity_task_heartbeat, {}),
    ]:
        with pytest.raises(client.exceptions.UnknownResourceFault):
            call(taskToken=first["taskToken"], **extra)

    second = poll_activity(client, domain, tl + "-a")
    client.respond_activity_task_failed(taskToken=second["taskToken"], reason="boom")
    with pytest.raises(client.exceptions.UnknownResourceFault):
        client.respond_activity_task_completed(taskToken=second["taskToken"])
