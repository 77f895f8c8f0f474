"""Every operation of botocore's ``swf`` model answers on the local endpoint, through boto3.

One call per operation with valid parameters; botocore parses each answer
against the model's output shape. The test fails if the model has an
operation this walk does not call, so new operations are noticed.
"""

from __future__ import annotations

import botocore.session
from test_local_support import (  # noqa: F401 (no_internal_failures is autouse)
    decision,
    no_internal_failures,
    poll_activity,
    poll_decision,
    register_activity_type,
    register_workflow_type,
    respond,
    schedule_activity,
    start,
)

WTYPE = {"name": "W", "version": "1.0"}
ATYPE = {"name": "A", "version": "1.0"}


def test_every_operation_answers(swf_client, domain):
    called: set[str] = set()
    client = swf_client

    def call(method: str, **params):
        called.add(client.meta.method_to_api_mapping[method])
        return getattr(client, method)(**params)

    since = {"oldestDate": 0}
    call("register_domain", name="ops-extra", workflowExecutionRetentionPeriodInDays="1")
    assert call("describe_domain", name=domain)["domainInfo"]["name"] == domain
    assert domain in [
        d["name"] for d in call("list_domains", registrationStatus="REGISTERED")["domainInfos"]
    ]
    call("deprecate_domain", name="ops-extra")
    call("undeprecate_domain", name="ops-extra")
    arn = call("describe_domain", name=domain)["domainInfo"]["arn"]
    call("tag_resource", resourceArn=arn, tags=[{"key": "k", "value": "v"}])
    assert call("list_tags_for_resource", resourceArn=arn)["tags"] == [{"key": "k", "value": "v"}]
    call("untag_resource", resourceArn=arn, tagKeys=["k"])

    called.add("RegisterWorkflowType")
    register_workflow_type(client, domain, "W", task_list="decide")
    called.add("RegisterActivityType")
    register_activity_type(client, domain, "A", task_list="work")
    register_workflow_type(client, domain, "Old", task_list="decide")
    register_activity_type(client, domain, "OldA", task_list="work")
    assert (
        call("describe_workflow_type", domain=domain, workflowType=WTYPE)["typeInfo"]["status"]
        == "REGISTERED"
    )
    assert call("describe_activity_type", domain=domain, activityType=ATYPE)["configuration"][
        "defaultTaskList"
    ] == {"name": "work"}
    assert (
        len(
            call("list_workflow_types", domain=domain, registrationStatus="REGISTERED")["typeInfos"]
        )
        == 2
    )
    assert (
        len(
            call("list_activity_types", domain=domain, registrationStatus="REGISTERED")["typeInfos"]
        )
        == 2
    )
    old_w, old_a = {"name": "Old", "version": "1.0"}, {"name": "OldA", "version": "1.0"}
    call("deprecate_workflow_type", domain=domain, workflowType=old_w)
    call("undeprecate_workflow_type", domain=domain, workflowType=old_w)
    call("deprecate_workflow_type", domain=domain, workflowType=old_w)
    call("delete_workflow_type", domain=domain, workflowType=old_w)
    call("deprecate_activity_type", domain=domain, activityType=old_a)
    call("undeprecate_activity_type", domain=domain, activityType=old_a)
    call("deprecate_activity_type", domain=domain, activityType=old_a)
    call("delete_activity_type", domain=domain, activityType=old_a)

    called.add("StartWorkflowExecution")
    execution = start(client, domain, "W", tagList=["t"], input="in")
    assert (
        call("count_pending_decision_tasks", domain=domain, taskList={"name": "decide"})["count"]
        == 1
    )
    called.add("PollForDecisionTask")
    task = poll_decision(client, domain, "decide")
    called.add("RespondDecisionTaskCompleted")
    respond(client, task, [schedule_activity(f"a{i}", "A") for i in range(4)])
    assert (
        call("count_pending_activity_tasks", domain=domain, taskList={"name": "work"})["count"] == 4
    )
    called.add("PollForActivityTask")
    tasks = [poll_activity(client, domain, "work") for _ in range(4)]
    assert not call("record_activity_task_heartbeat", taskToken=tasks[0]["taskToken"])[
        "cancelRequested"
    ]
    call("respond_activity_task_completed", taskToken=tasks[0]["taskToken"], result="r")
    call("respond_activity_task_failed", taskToken=tasks[1]["taskToken"], reason="x")
    call("respond_activity_task_canceled", taskToken=tasks[2]["taskToken"])
    call("signal_workflow_execution", domain=domain, signalName="s", **execution)
    info = call("describe_workflow_execution", domain=domain, execution=execution)
    assert info["openCounts"]["openActivityTasks"] == 1
    events = call("get_workflow_execution_history", domain=domain, execution=execution)
    assert events["events"][0]["eventType"] == "WorkflowExecutionStarted"
    assert (
        call("count_open_workflow_executions", domain=domain, startTimeFilter=since)["count"] == 1
    )
    assert (
        len(
            call("list_open_workflow_executions", domain=domain, startTimeFilter=since)[
                "executionInfos"
            ]
        )
        == 1
    )
    call("request_cancel_workflow_execution", domain=domain, **execution)
    call("terminate_workflow_execution", domain=domain, reason="done", **execution)
    assert (
        call("count_closed_workflow_executions", domain=domain, startTimeFilter=since)["count"] == 1
    )
    closed = call("list_closed_workflow_executions", domain=domain, startTimeFilter=since)
    assert closed["executionInfos"][0]["closeStatus"] == "TERMINATED"

    model = botocore.session.get_session().get_service_model("swf")
    assert set(model.operation_names) - called == set()
