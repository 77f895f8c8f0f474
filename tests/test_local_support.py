"""Helpers shared by the local endpoint's boto3 tests (tests/test_local_*.py); no tests here.

Everything is plain boto3, as a user of the endpoint would write it; every
loop is bounded in count and time.
"""

from __future__ import annotations

import logging
import time
import uuid

import pytest

TUTORIAL_DOMAIN = "boto_tutorial"
VERSION = "1.0"
TUTORIAL_WORKFLOWS = ("HelloWorkflow", "SerialWorkflow", "ParallelWorkflow")
TUTORIAL_ACTIVITIES = ("HelloWorld", "ActivityA", "ActivityB", "ActivityC")

# HelloWorld's history in the seed (seeds/001_06c35b7bdd74467d.txt), event types in order.
SEED_HELLO_EVENT_TYPES = [
    "WorkflowExecutionStarted",
    "DecisionTaskScheduled",
    "DecisionTaskStarted",
    "DecisionTaskCompleted",
    "ActivityTaskScheduled",
    "ActivityTaskStarted",
    "ActivityTaskCompleted",
    "DecisionTaskScheduled",
    "DecisionTaskStarted",
    "DecisionTaskCompleted",
    "WorkflowExecutionCompleted",
]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def register_workflow_type(client, domain, name, version=VERSION, task_list="default", **extra):
    """Register a workflow type with the defaults boto's tutorial shows (3600 s, 300 s)."""
    params = {
        "domain": domain,
        "name": name,
        "version": version,
        "defaultTaskList": {"name": task_list},
        "defaultExecutionStartToCloseTimeout": "3600",
        "defaultTaskStartToCloseTimeout": "300",
        "defaultChildPolicy": "TERMINATE",
    }
    params.update(extra)
    client.register_workflow_type(**params)


def register_activity_type(client, domain, name, version=VERSION, task_list="default", **extra):
    """Register an activity type with the defaults of the seed's history (600/3900/300/3600)."""
    params = {
        "domain": domain,
        "name": name,
        "version": version,
        "defaultTaskList": {"name": task_list},
        "defaultTaskHeartbeatTimeout": "600",
        "defaultTaskScheduleToCloseTimeout": "3900",
        "defaultTaskScheduleToStartTimeout": "300",
        "defaultTaskStartToCloseTimeout": "3600",
    }
    params.update(extra)
    client.register_activity_type(**params)


def register_tutorial(client, domain=TUTORIAL_DOMAIN) -> str:
    """The seed's register.py: the domain, three workflow types and four activity types."""
    client.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    for name in TUTORIAL_WORKFLOWS:
        register_workflow_type(client, domain, name)
    for name in TUTORIAL_ACTIVITIES:
        register_activity_type(client, domain, name)
    return domain


def start(client, domain, workflow_type, workflow_id=None, **extra) -> dict:
    """Start an execution; returns ``{"workflowId", "runId"}``."""
    workflow_id = workflow_id or unique(workflow_type)
    response = client.start_workflow_execution(
        domain=domain,
        workflowId=workflow_id,
        workflowType={"name": workflow_type, "version": VERSION},
        **extra,
    )
    return {"workflowId": workflow_id, "runId": response["runId"]}


def history(client, domain, execution, page_size=1000, max_pages=100) -> list[dict]:
    """Every event of an execution, following page tokens (bounded)."""
    events: list[dict] = []
    token = None
    for _ in range(max_pages):
        params = {"domain": domain, "execution": execution, "maximumPageSize": page_size}
        if token:
            params["nextPageToken"] = token
        page = client.get_workflow_execution_history(**params)
        events.extend(page["events"])
        token = page.get("nextPageToken")
        if not token:
            return events
    raise AssertionError(f"history of {execution} has more than {max_pages} pages")


def event_types(events) -> list[str]:
    return [event["eventType"] for event in events]


def types_of(client, domain, execution) -> list[str]:
    return event_types(history(client, domain, execution))


def attributes(event: dict) -> dict:
    """The ``<eventType>EventAttributes`` member of an event."""
    name = event["eventType"]
    return event[name[0].lower() + name[1:] + "EventAttributes"]


def find(events, event_type) -> list[dict]:
    return [event for event in events if event["eventType"] == event_type]


def poll_decision(client, domain, task_list, page_size=None, max_pages=100) -> dict:
    """One decision poll with all its pages joined (the seed's deciders read all events)."""
    params = {"domain": domain, "taskList": {"name": task_list}, "identity": "test-decider"}
    if page_size:
        params["maximumPageSize"] = page_size
    task = client.poll_for_decision_task(**params)
    if not task.get("taskToken"):
        return task
    events = list(task.get("events", []))
    token = task.get("nextPageToken")
    for _ in range(max_pages):
        if not token:
            task["events"] = events
            return task
        page = client.poll_for_decision_task(nextPageToken=token, **params)
        events.extend(page["events"])
        token = page.get("nextPageToken")
    raise AssertionError("decision task has too many pages")


def poll_activity(client, domain, task_list, identity="test-worker") -> dict:
    return client.poll_for_activity_task(
        domain=domain, taskList={"name": task_list}, identity=identity
    )


def schedule_activity(activity_id, name, version=VERSION, task_list=None, **attributes) -> dict:
    """A ScheduleActivityTask decision (the seed's ``Layer1Decisions.schedule_activity_task``)."""
    attrs = {"activityId": activity_id, "activityType": {"name": name, "version": version}}
    if task_list is not None:
        attrs["taskList"] = {"name": task_list}
    attrs.update({key: value for key, value in attributes.items() if value is not None})
    return {"decisionType": "ScheduleActivityTask", "scheduleActivityTaskDecisionAttributes": attrs}


def decision(decision_type: str, **attributes) -> dict:
    """Any decision: ``decision("StartTimer", timerId="t", startToFireTimeout="1")``."""
    key = decision_type[0].lower() + decision_type[1:] + "DecisionAttributes"
    return {"decisionType": decision_type, key: attributes}


def complete_workflow(result=None) -> dict:
    return decision("CompleteWorkflowExecution", **({"result": result} if result else {}))


def respond(client, task, decisions) -> None:
    client.respond_decision_task_completed(taskToken=task["taskToken"], decisions=decisions)


def workflow_events(task) -> list[dict]:
    """The seed's filter: events not related to decision scheduling."""
    return [e for e in task["events"] if not e["eventType"].startswith("Decision")]


def describe(client, domain, execution) -> dict:
    return client.describe_workflow_execution(domain=domain, execution=execution)


def is_closed(client, domain, execution) -> str | None:
    """The close status of an execution, or None while it is open."""
    info = describe(client, domain, execution)["executionInfo"]
    return info.get("closeStatus") if info["executionStatus"] == "CLOSED" else None


def drive(step, until, timeout=30.0, max_steps=10_000) -> int:
    """Call ``step()`` until ``until()`` is true; bounded by count and time. Returns steps."""
    deadline = time.monotonic() + timeout
    for count in range(max_steps):
        if until():
            return count
        if time.monotonic() > deadline:
            break
        step()
    raise AssertionError(f"condition not reached after {count + 1} steps / {timeout} s")


@pytest.fixture(autouse=True)
def no_internal_failures(caplog):
    """Fail a test during which the in-process endpoint logged an error (an InternalFailure).

    Test modules opt in with ``from test_local_support import no_internal_failures``.
    """
    caplog.set_level(logging.ERROR, logger="swfd.local")
    yield
    errors = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.get_records("call") + caplog.get_records("teardown")
        if r.name.startswith("swfd.local") and r.levelno >= logging.ERROR
    ]
    assert errors == [], "the local endpoint logged errors (a 500 InternalFailure)"
