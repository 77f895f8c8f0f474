"""Type lifecycle as the SWF API reference documents it.

Sources: DeprecateActivityType ("After an activity type has been deprecated,
you cannot create new tasks of that activity type. Tasks of this type that were
scheduled before the type was deprecated continue to run"),
DeprecateWorkflowType ("Executions that were started before the type was
deprecated continues to run"), DeleteActivityType ("Once a type has been
deleted, you can't schedule new tasks of that type. Tasks that are already
scheduled or running continue to run"), DeleteWorkflowType ("Executions that
started before the type was deleted will continue to run"),
UndeprecateActivityType ("you can create new tasks of that activity type"),
DeprecateDomain ("Deprecating a domain also deprecates all activity and workflow
types registered in the domain"),
RespondActivityTaskCompleted (a worker may complete a task whose cancellation
was requested).
"""

from __future__ import annotations

import pytest
from test_local_support import (  # noqa: F401 (no_internal_failures is autouse)
    attributes,
    complete_workflow,
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

A = {"name": "A", "version": "1.0"}
W = {"name": "W", "version": "1.0"}


@pytest.fixture
def running(swf_client, domain):
    """An execution of W with two activities of A scheduled, one of them started."""
    client = swf_client
    register_workflow_type(client, domain, "W")
    register_activity_type(client, domain, "A")
    tl = unique("tl")
    ex = start(client, domain, "W", taskList={"name": tl})
    task = poll_decision(client, domain, tl)
    respond(client, task, [schedule_activity("a1", "A", task_list=tl + "-a"),
                           schedule_activity("a2", "A", task_list=tl + "-a")])
    started = poll_activity(client, domain, tl + "-a")
    assert started["activityId"] == "a1"
    return client, domain, ex, tl, started


@pytest.mark.parametrize("delete", [False, True], ids=["deprecated", "deleted"])
def test_work_begun_before_a_type_is_retired_continues(running, delete):
    client, domain, ex, tl, started = running
    client.deprecate_activity_type(domain=domain, activityType=A)
    client.deprecate_workflow_type(domain=domain, workflowType=W)
    if delete:
        client.delete_activity_type(domain=domain, activityType=A)
        client.delete_workflow_type(domain=domain, workflowType=W)

    client.respond_activity_task_completed(taskToken=started["taskToken"], result="one")
    waiting = poll_activity(client, domain, tl + "-a")
    assert waiting["activityId"] == "a2" and waiting["activityType"] == A
    client.respond_activity_task_completed(taskToken=waiting["taskToken"], result="two")

    task = poll_decision(client, domain, tl)
    assert task["workflowType"] == W
    respond(client, task, [schedule_activity("a3", "A", task_list=tl + "-a")])
    events = history(client, domain, ex)
    assert [attributes(e)["result"] for e in find(events, "ActivityTaskCompleted")] == [
        "one", "two"]
    failed = attributes(find(events, "ScheduleActivityTaskFailed")[0])
    # Which cause and fault a deleted type gets is not documented: either is SWF-like.
    expected = {"ACTIVITY_TYPE_DOES_NOT_EXIST", "ACTIVITY_TYPE_DEPRECATED"} if delete else {
        "ACTIVITY_TYPE_DEPRECATED"}
    assert failed["cause"] in expected
    faults = (client.exceptions.UnknownResourceFault, client.exceptions.TypeDeprecatedFault)
    with pytest.raises(faults if delete else client.exceptions.TypeDeprecatedFault):
        client.start_workflow_execution(domain=domain, workflowId=unique("new"),
                                        workflowType=W)

    task = poll_decision(client, domain, tl)
    respond(client, task, [complete_workflow("done")])
    assert history(client, domain, ex)[-1]["eventType"] == "WorkflowExecutionCompleted"


def test_undeprecated_types_take_new_work_again(running):
    client, domain, ex, tl, started = running
    client.deprecate_activity_type(domain=domain, activityType=A)
    client.deprecate_workflow_type(domain=domain, workflowType=W)
    client.undeprecate_activity_type(domain=domain, activityType=A)
    client.undeprecate_workflow_type(domain=domain, workflowType=W)
    assert start(client, domain, "W", taskList={"name": unique("tl")})
    client.respond_activity_task_completed(taskToken=started["taskToken"])
    task = poll_decision(client, domain, tl)
    respond(client, task, [schedule_activity("a3", "A", task_list=tl + "-a")])
    events = history(client, domain, ex)
    assert not find(events, "ScheduleActivityTaskFailed")
    assert attributes(find(events, "ActivityTaskScheduled")[-1])["activityId"] == "a3"


def test_a_worker_may_complete_a_task_whose_cancel_was_requested(running):
    client, domain, ex, tl, started = running
    client.signal_workflow_execution(domain=domain, workflowId=ex["workflowId"], signalName="s")
    task = poll_decision(client, domain, tl)
    respond(client, task, [decision("RequestCancelActivityTask", activityId="a1")])
    assert client.record_activity_task_heartbeat(
        taskToken=started["taskToken"])["cancelRequested"] is True
    client.respond_activity_task_completed(taskToken=started["taskToken"], result="finished")
    events = history(client, domain, ex)
    assert attributes(find(events, "ActivityTaskCompleted")[0])["result"] == "finished"
    assert not find(events, "ActivityTaskCanceled")


def test_deprecating_a_domain_deprecates_its_types(swf_client):
    """DeprecateDomain: "Deprecating a domain also deprecates all activity and workflow
    types registered in the domain." """
    client = swf_client
    domain = unique("dom")
    client.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    register_activity_type(client, domain, "A")
    register_workflow_type(client, domain, "W")
    client.deprecate_domain(name=domain)
    info = client.describe_activity_type(
        domain=domain, activityType={"name": "A", "version": "1.0"})["typeInfo"]
    assert info["status"] == "DEPRECATED" and "deprecationDate" in info
    info = client.describe_workflow_type(
        domain=domain, workflowType={"name": "W", "version": "1.0"})["typeInfo"]
    assert info["status"] == "DEPRECATED"
    assert client.list_workflow_types(domain=domain,
                                      registrationStatus="REGISTERED")["typeInfos"] == []
    # Undeprecating the domain is not documented to undeprecate its types; each type
    # can be undeprecated on its own.
    client.undeprecate_domain(name=domain)
    client.undeprecate_activity_type(domain=domain, activityType={"name": "A", "version": "1.0"})
    info = client.describe_activity_type(
        domain=domain, activityType={"name": "A", "version": "1.0"})["typeInfo"]
    assert info["status"] == "REGISTERED"
