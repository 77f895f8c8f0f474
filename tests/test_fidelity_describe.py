"""Describe* answers carry what the SWF API reference says they carry.

Written from the API reference pages DescribeWorkflowExecution,
WorkflowExecutionConfiguration, WorkflowExecutionOpenCounts, DescribeActivityType,
ActivityTypeConfiguration, DescribeWorkflowType, WorkflowTypeConfiguration and
DescribeDomain, as a client that never saw swfd would read them. Plain boto3
against the in-process endpoint.
"""

from __future__ import annotations

from test_local_support import (  # noqa: F401 (no_internal_failures is autouse)
    attributes,
    complete_workflow,
    decision,
    describe,
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

ROLE = "arn:aws:iam::123456789012:role/swfd-lambda"


def test_execution_configuration_comes_from_the_start_or_the_type_defaults(swf_client, domain):
    """taskPriority, taskList, timeouts and childPolicy: given at start, else the type's."""
    client = swf_client
    register_workflow_type(client, domain, "W", task_list="type-list", defaultTaskPriority="7",
                           defaultChildPolicy="ABANDON")
    by_default = start(client, domain, "W")
    config = describe(client, domain, by_default)["executionConfiguration"]
    assert config["taskList"] == {"name": "type-list"}
    assert config["taskPriority"] == "7"
    assert config["childPolicy"] == "ABANDON"
    assert config["executionStartToCloseTimeout"] == "3600"
    assert config["taskStartToCloseTimeout"] == "300"

    given = start(client, domain, "W", taskList={"name": "mine"}, taskPriority="-3",
                  childPolicy="REQUEST_CANCEL", executionStartToCloseTimeout="120",
                  taskStartToCloseTimeout="NONE", lambdaRole=ROLE)
    config = describe(client, domain, given)["executionConfiguration"]
    assert config == {
        "taskList": {"name": "mine"},
        "taskPriority": "-3",
        "childPolicy": "REQUEST_CANCEL",
        "executionStartToCloseTimeout": "120",
        "taskStartToCloseTimeout": "NONE",
        "lambdaRole": ROLE,
    }


def test_open_counts_latest_activity_timestamp_and_execution_context(swf_client, domain):
    """openCounts has all five members; latestActivityTaskTimestamp is the last scheduling;
    latestExecutionContext is the executionContext of the last completed decision task."""
    client = swf_client
    register_workflow_type(client, domain, "W")
    register_activity_type(client, domain, "A")
    tl = unique("tl")
    ex = start(client, domain, "W", taskList={"name": tl})

    fresh = describe(client, domain, ex)
    assert fresh["openCounts"] == {
        "openActivityTasks": 0, "openDecisionTasks": 1, "openTimers": 0,
        "openChildWorkflowExecutions": 0, "openLambdaFunctions": 0,
    }
    assert "latestActivityTaskTimestamp" not in fresh
    assert "latestExecutionContext" not in fresh
    assert fresh["executionInfo"]["executionStatus"] == "OPEN"
    assert fresh["executionInfo"]["cancelRequested"] is False
    assert "closeTimestamp" not in fresh["executionInfo"]

    task = poll_decision(client, domain, tl)
    client.respond_decision_task_completed(
        taskToken=task["taskToken"], executionContext="step-1",
        decisions=[
            schedule_activity("a1", "A", task_list=tl + "-act"),
            schedule_activity("a2", "A", task_list=tl + "-act"),
            decision("StartTimer", timerId="t1", startToFireTimeout="600"),
            decision("StartChildWorkflowExecution", workflowId=unique("child"),
                     workflowType={"name": "W", "version": "1.0"},
                     taskList={"name": tl + "-child"}),
        ],
    )
    described = describe(client, domain, ex)
    assert described["openCounts"] == {
        "openActivityTasks": 2, "openDecisionTasks": 1, "openTimers": 1,
        "openChildWorkflowExecutions": 1, "openLambdaFunctions": 0,
    }
    assert described["latestExecutionContext"] == "step-1"
    scheduled = find(history(client, domain, ex), "ActivityTaskScheduled")
    assert described["latestActivityTaskTimestamp"] == scheduled[-1]["eventTimestamp"]

    # An activity that started and completed is no longer open.
    activity = poll_activity(client, domain, tl + "-act")
    client.respond_activity_task_completed(taskToken=activity["taskToken"], result="ok")
    assert describe(client, domain, ex)["openCounts"]["openActivityTasks"] == 1

    task = poll_decision(client, domain, tl)
    client.respond_decision_task_completed(
        taskToken=task["taskToken"], executionContext="step-2",
        decisions=[decision("CancelTimer", timerId="t1")],
    )
    described = describe(client, domain, ex)
    assert described["latestExecutionContext"] == "step-2"
    assert described["openCounts"]["openTimers"] == 0
    assert described["openCounts"]["openDecisionTasks"] == 0


def test_closed_execution_info(swf_client, domain):
    """closeTimestamp is the close event's time; closeStatus; cancelRequested after a request."""
    client = swf_client
    register_workflow_type(client, domain, "W")
    tl = unique("tl")
    ex = start(client, domain, "W", taskList={"name": tl}, tagList=["a", "b"])
    client.request_cancel_workflow_execution(domain=domain, workflowId=ex["workflowId"])
    assert describe(client, domain, ex)["executionInfo"]["cancelRequested"] is True
    task = poll_decision(client, domain, tl)
    respond(client, task, [decision("CancelWorkflowExecution", details="asked to")])

    info = describe(client, domain, ex)["executionInfo"]
    events = history(client, domain, ex)
    assert events[-1]["eventType"] == "WorkflowExecutionCanceled"
    assert info["executionStatus"] == "CLOSED"
    assert info["closeStatus"] == "CANCELED"
    assert info["closeTimestamp"] == events[-1]["eventTimestamp"]
    assert info["startTimestamp"] == events[0]["eventTimestamp"]
    assert info["tagList"] == ["a", "b"]
    assert info["execution"] == ex
    assert info["workflowType"] == {"name": "W", "version": "1.0"}
    assert "parent" not in info
    counts = describe(client, domain, ex)["openCounts"]
    assert set(counts.values()) == {0}


def test_child_execution_info_names_its_parent(swf_client, domain):
    client = swf_client
    register_workflow_type(client, domain, "W")
    tl = unique("tl")
    parent = start(client, domain, "W", taskList={"name": tl})
    task = poll_decision(client, domain, tl)
    child_id = unique("child")
    respond(client, task, [decision("StartChildWorkflowExecution", workflowId=child_id,
                                    workflowType={"name": "W", "version": "1.0"},
                                    taskList={"name": tl + "-child"})])
    started = find(history(client, domain, parent), "ChildWorkflowExecutionStarted")
    child = attributes(started[0])["workflowExecution"]
    assert child["workflowId"] == child_id
    info = describe(client, domain, child)["executionInfo"]
    assert info["parent"] == parent
    child_start = attributes(history(client, domain, child)[0])
    assert child_start["parentWorkflowExecution"] == parent
    initiated = find(history(client, domain, parent), "StartChildWorkflowExecutionInitiated")
    assert child_start["parentInitiatedEventId"] == initiated[0]["eventId"]
    # The child's defaults come from its type when the decision leaves them out.
    assert child_start["childPolicy"] == "TERMINATE"
    assert child_start["executionStartToCloseTimeout"] == "3600"
    task = poll_decision(client, domain, tl + "-child")
    respond(client, task, [complete_workflow("done")])


def test_describe_activity_type(swf_client, domain):
    """typeInfo (status, creationDate, description) and every configured default."""
    client = swf_client
    client.register_activity_type(
        domain=domain, name="A", version="1", description="does A",
        defaultTaskStartToCloseTimeout="60", defaultTaskHeartbeatTimeout="NONE",
        defaultTaskList={"name": "a-list"}, defaultTaskPriority="4",
        defaultTaskScheduleToStartTimeout="30", defaultTaskScheduleToCloseTimeout="90",
    )
    client.register_activity_type(domain=domain, name="Bare", version="1")
    described = client.describe_activity_type(domain=domain,
                                              activityType={"name": "A", "version": "1"})
    info = described["typeInfo"]
    assert info["activityType"] == {"name": "A", "version": "1"}
    assert info["status"] == "REGISTERED"
    assert info["description"] == "does A"
    assert "creationDate" in info and "deprecationDate" not in info
    assert described["configuration"] == {
        "defaultTaskStartToCloseTimeout": "60",
        "defaultTaskHeartbeatTimeout": "NONE",
        "defaultTaskList": {"name": "a-list"},
        "defaultTaskPriority": "4",
        "defaultTaskScheduleToStartTimeout": "30",
        "defaultTaskScheduleToCloseTimeout": "90",
    }
    bare = client.describe_activity_type(domain=domain,
                                         activityType={"name": "Bare", "version": "1"})
    assert "defaultTaskList" not in bare["configuration"]

    client.deprecate_activity_type(domain=domain, activityType={"name": "A", "version": "1"})
    info = client.describe_activity_type(domain=domain,
                                         activityType={"name": "A", "version": "1"})["typeInfo"]
    assert info["status"] == "DEPRECATED"
    assert info["deprecationDate"] >= info["creationDate"]


def test_describe_workflow_type(swf_client, domain):
    client = swf_client
    client.register_workflow_type(
        domain=domain, name="W", version="2", description="does W",
        defaultTaskStartToCloseTimeout="30", defaultExecutionStartToCloseTimeout="600",
        defaultTaskList={"name": "w-list"}, defaultTaskPriority="-1",
        defaultChildPolicy="REQUEST_CANCEL", defaultLambdaRole=ROLE,
    )
    described = client.describe_workflow_type(domain=domain,
                                              workflowType={"name": "W", "version": "2"})
    info = described["typeInfo"]
    assert info["workflowType"] == {"name": "W", "version": "2"}
    assert info["status"] == "REGISTERED"
    assert info["description"] == "does W"
    assert described["configuration"] == {
        "defaultTaskStartToCloseTimeout": "30",
        "defaultExecutionStartToCloseTimeout": "600",
        "defaultTaskList": {"name": "w-list"},
        "defaultTaskPriority": "-1",
        "defaultChildPolicy": "REQUEST_CANCEL",
        "defaultLambdaRole": ROLE,
    }
    client.deprecate_workflow_type(domain=domain, workflowType={"name": "W", "version": "2"})
    client.undeprecate_workflow_type(domain=domain, workflowType={"name": "W", "version": "2"})
    info = client.describe_workflow_type(domain=domain,
                                         workflowType={"name": "W", "version": "2"})["typeInfo"]
    assert info["status"] == "REGISTERED"


def test_describe_domain(swf_client):
    """domainInfo (name, status, description, arn) and configuration (retention)."""
    client = swf_client
    name = unique("dom")
    client.register_domain(name=name, description="a domain",
                           workflowExecutionRetentionPeriodInDays="3")
    described = client.describe_domain(name=name)
    info = described["domainInfo"]
    assert info["name"] == name
    assert info["status"] == "REGISTERED"
    assert info["description"] == "a domain"
    assert info["arn"].startswith("arn:aws:swf:")
    assert info["arn"].endswith(f":/domain/{name}")
    assert described["configuration"] == {"workflowExecutionRetentionPeriodInDays": "3"}

    # The arn is what the tagging operations take.
    client.tag_resource(resourceArn=info["arn"], tags=[{"key": "team", "value": "ops"}])
    tags = client.list_tags_for_resource(resourceArn=info["arn"])["tags"]
    assert tags == [{"key": "team", "value": "ops"}]

    client.deprecate_domain(name=name)
    assert client.describe_domain(name=name)["domainInfo"]["status"] == "DEPRECATED"
    client.undeprecate_domain(name=name)
    assert client.describe_domain(name=name)["domainInfo"]["status"] == "REGISTERED"
