"""Divergences from the service found by running real clients against the endpoint, one
test each: who terminated an execution, which region an ARN names, and what the
service's error messages say (terse; the forms known from the service).

Sources: WorkflowExecutionTerminatedEventAttributes.cause (enum CHILD_POLICY_APPLIED
| EVENT_LIMIT_EXCEEDED | OPERATOR_INITIATED; the service records OPERATOR_INITIATED
for TerminateWorkflowExecution), the ARN format of DomainInfo.arn
(``arn:aws:swf:REGION:ACCOUNT:/domain/NAME``), and the service's messages for
UnknownResourceFault ("Unknown domain: X", "Unknown type: WorkflowType=[name=N,
version=V]", "Unknown execution: WorkflowExecution=[workflowId=W, runId=R]") and
TypeAlreadyExistsFault ("ActivityType=[name=N, version=V]").
"""

from __future__ import annotations

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config
from test_local_support import (  # noqa: F401 (no_internal_failures is autouse)
    attributes,
    decision,
    find,
    history,
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


def regional(endpoint, region):
    return boto3.client("swf", endpoint_url=endpoint.url, region_name=region,
                        aws_access_key_id="k", aws_secret_access_key="s",
                        config=Config(read_timeout=10, retries={"total_max_attempts": 1}))


def message_of(call) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def test_operator_termination_records_operator_initiated(swf_client, domain):
    register_workflow_type(swf_client, domain, "W")
    execution = start(swf_client, domain, "W")
    swf_client.terminate_workflow_execution(domain=domain, reason="ops", **execution)
    terminated = find(history(swf_client, domain, execution), "WorkflowExecutionTerminated")
    assert attributes(terminated[0]) == {"reason": "ops", "childPolicy": "TERMINATE",
                                         "cause": "OPERATOR_INITIATED"}


def test_a_child_terminated_by_its_parents_policy_records_child_policy_applied(
        swf_client, domain):
    register_workflow_type(swf_client, domain, "P", task_list="p")
    register_workflow_type(swf_client, domain, "C", task_list="c")
    parent = start(swf_client, domain, "P")
    respond(swf_client, poll_decision(swf_client, domain, "p"), [decision(
        "StartChildWorkflowExecution", workflowId="child", childPolicy="TERMINATE",
        workflowType={"name": "C", "version": "1.0"})])
    started = find(history(swf_client, domain, parent), "ChildWorkflowExecutionStarted")
    child = attributes(started[0])["workflowExecution"]
    swf_client.terminate_workflow_execution(domain=domain, **parent)
    events = history(swf_client, domain, child)
    assert attributes(find(events, "WorkflowExecutionTerminated")[0])["cause"] == \
        "CHILD_POLICY_APPLIED"


def test_arns_name_the_region_the_request_was_signed_for(local_endpoint):
    west = regional(local_endpoint, "eu-west-1")
    east = regional(local_endpoint, "us-east-1")
    name = unique("arn")
    west.register_domain(name=name, workflowExecutionRetentionPeriodInDays="1",
                         tags=[{"key": "team", "value": "a"}])
    arn = west.describe_domain(name=name)["domainInfo"]["arn"]
    assert arn == f"arn:aws:swf:eu-west-1:000000000000:/domain/{name}"
    assert west.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "team",
                                                                      "value": "a"}]
    assert east.describe_domain(name=name)["domainInfo"]["arn"] == \
        f"arn:aws:swf:us-east-1:000000000000:/domain/{name}"
    # An ARN of another region names nothing here, as on a regional service.
    with pytest.raises(east.exceptions.UnknownResourceFault):
        east.list_tags_for_resource(resourceArn=arn)
    china = regional(local_endpoint, "cn-north-1")
    assert china.describe_domain(name=name)["domainInfo"]["arn"].startswith(
        "arn:aws-cn:swf:cn-north-1:000000000000:")


def test_messages_are_the_services_terse_forms(swf_client, domain):
    c = swf_client
    register_workflow_type(c, domain, "W", task_list="decide")
    register_activity_type(c, domain, "A", task_list="work")
    assert message_of(lambda: c.describe_domain(name="no-such")) == \
        ("UnknownResourceFault", "Unknown domain: no-such")
    assert message_of(lambda: c.describe_workflow_type(
        domain=domain, workflowType={"name": "W", "version": "9"})) == \
        ("UnknownResourceFault", "Unknown type: WorkflowType=[name=W, version=9]")
    assert message_of(lambda: c.describe_activity_type(
        domain=domain, activityType={"name": "A", "version": "9"})) == \
        ("UnknownResourceFault", "Unknown type: ActivityType=[name=A, version=9]")
    assert message_of(lambda: register_activity_type(c, domain, "A")) == \
        ("TypeAlreadyExistsFault", "ActivityType=[name=A, version=1.0]")
    assert message_of(lambda: c.describe_workflow_execution(
        domain=domain, execution={"workflowId": "w", "runId": "r"})) == \
        ("UnknownResourceFault", "Unknown execution: WorkflowExecution=[workflowId=w, runId=r]")
    assert message_of(lambda: c.signal_workflow_execution(
        domain=domain, workflowId="w", signalName="s")) == \
        ("UnknownResourceFault", "Unknown execution: WorkflowExecution=[workflowId=w, runId=]")
    execution = start(c, domain, "W")
    code, text = message_of(lambda: start(c, domain, "W", workflow_id=execution["workflowId"]))
    assert code == "WorkflowExecutionAlreadyStartedFault"
    assert text == f"WorkflowExecution=[workflowId={execution['workflowId']}] is already running"
    task = poll_decision(c, domain, "decide")
    respond(c, task, [schedule_activity("a1", "A")])
    assert message_of(lambda: respond(c, task, [])) == \
        ("UnknownResourceFault", "Unknown decision task")
    work = poll_activity(c, domain, "work")
    c.respond_activity_task_completed(taskToken=work["taskToken"])
    assert message_of(lambda: c.respond_activity_task_completed(taskToken=work["taskToken"])) \
        == ("UnknownResourceFault", "Unknown activity task")
