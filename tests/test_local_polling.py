"""Long polling and task delivery on the local endpoint: empty polls, wake-up on arrival,
separate decision/activity namespaces, priority order, startAtPreviousStartedEvent,
the 25,000-event history quota, and retention."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import make_boto3_client
from test_local_support import (  # noqa: F401 (no_internal_failures is autouse)
    attributes,
    decision,
    event_types,
    find,
    history,
    is_closed,
    no_internal_failures,
    poll_activity,
    poll_decision,
    register_activity_type,
    register_workflow_type,
    respond,
    schedule_activity,
    start,
)

from swfd.testing import wait_for


def _types(client, domain):
    register_workflow_type(client, domain, "W", task_list="decide")
    register_activity_type(client, domain, "A", task_list="work")


def test_empty_poll_waits_poll_timeout_and_answers_empty_token(swf_client, domain):
    # The fixture's endpoint has poll_timeout=1.0.
    for poll in (
        lambda: swf_client.poll_for_activity_task(domain=domain, taskList={"name": "idle"}),
        lambda: swf_client.poll_for_decision_task(domain=domain, taskList={"name": "idle"}),
    ):
        started = time.monotonic()
        answer = poll()
        waited = time.monotonic() - started
        assert "taskToken" not in answer
        assert 0.8 <= waited < 3.0


def _wait_until_polling(endpoint, kind: str, domain: str, task_list: str) -> None:
    """Scenario set-up: wait until a poll is parked inside the endpoint on that task list."""
    queue = endpoint.engine.queues.get(kind, domain, task_list)
    wait_for(lambda: queue.cond._waiters, timeout=10, interval=0.01,
             message=f"a poll waiting on {task_list}")


def test_waiting_poll_returns_as_soon_as_its_task_arrives(tmp_path):
    from swfd.local.server import LocalEndpoint

    # A long poll timeout, so a poll that is not woken would show by waiting seconds.
    endpoint = LocalEndpoint(database=str(tmp_path / "long.sqlite3"), poll_timeout=5.0).start()
    try:
        client = make_boto3_client(endpoint.url)
        client.register_domain(name="d", workflowExecutionRetentionPeriodInDays="1")
        _types(client, "d")
        results: list = []
        other = make_boto3_client(endpoint.url)

        def wait_for_decision() -> None:
            task = other.poll_for_decision_task(domain="d", taskList={"name": "decide"})
            results.append((time.monotonic(), task))

        poller = threading.Thread(target=wait_for_decision, daemon=True)
        poller.start()
        _wait_until_polling(endpoint, "D", "d", "decide")
        started = time.monotonic()
        execution = start(client, "d", "W")
        poller.join(10)
        assert results, "the waiting poll never answered"
        arrived, task = results[0]
        assert task["workflowExecution"] == execution
        assert arrived - started < 2.0  # woken by the task, not by the 5 s poll timeout
    finally:
        endpoint.stop()


def test_decision_and_activity_task_lists_are_separate(swf_client, domain):
    _types(swf_client, domain)
    start(swf_client, domain, "W", taskList={"name": "shared"})
    assert "taskToken" not in poll_activity(swf_client, domain, "shared")
    task = poll_decision(swf_client, domain, "shared")
    assert task["taskToken"]
    respond(swf_client, task, [schedule_activity("a", "A", task_list="shared")])
    assert "taskToken" not in poll_decision(swf_client, domain, "shared")
    assert poll_activity(swf_client, domain, "shared")["activityId"] == "a"


def test_task_priority_orders_delivery(swf_client, domain):
    _types(swf_client, domain)
    start(swf_client, domain, "W")
    task = poll_decision(swf_client, domain, "decide")
    priorities = {"low": "-5", "none": None, "high": "10", "mid": "3", "mid2": "3"}
    respond(
        swf_client,
        task,
        [schedule_activity(name, "A", taskPriority=value) for name, value in priorities.items()],
    )
    order = [poll_activity(swf_client, domain, "work")["activityId"] for _ in priorities]
    # Higher first; equal priorities in scheduling order; no priority counts as 0.
    assert order == ["high", "mid", "mid2", "none", "low"]


def test_start_at_previous_started_event(swf_client, domain):
    _types(swf_client, domain)
    execution = start(swf_client, domain, "W")
    task = poll_decision(swf_client, domain, "decide")
    respond(swf_client, task, [decision("RecordMarker", markerName="m")])
    swf_client.signal_workflow_execution(domain=domain, signalName="s", **execution)
    task = swf_client.poll_for_decision_task(
        domain=domain, taskList={"name": "decide"}, startAtPreviousStartedEvent=True
    )
    previous = task["previousStartedEventId"]
    assert previous == 3
    assert task["events"][0]["eventId"] == previous
    assert event_types(task["events"]) == [
        "DecisionTaskStarted",
        "DecisionTaskCompleted",
        "MarkerRecorded",
        "WorkflowExecutionSignaled",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
    ]


def test_history_quota_of_25000_events_terminates(swf_client, domain):
    """SWF terminates an execution whose history reaches 25,000 events (EVENT_LIMIT_EXCEEDED)."""
    _types(swf_client, domain)
    execution = start(swf_client, domain, "W")
    for round_number in range(40):
        task = swf_client.poll_for_decision_task(
            domain=domain, taskList={"name": "decide"}, maximumPageSize=1, reverseOrder=True
        )
        if not task.get("taskToken"):
            break
        markers = [decision("RecordMarker", markerName=f"r{round_number}-{i}") for i in range(1000)]
        respond(swf_client, task, markers)
        if is_closed(swf_client, domain, execution):
            break
        swf_client.signal_workflow_execution(domain=domain, signalName="more", **execution)
    assert is_closed(swf_client, domain, execution) == "TERMINATED"
    last = swf_client.get_workflow_execution_history(
        domain=domain, execution=execution, reverseOrder=True, maximumPageSize=1
    )["events"][0]
    assert last["eventType"] == "WorkflowExecutionTerminated"
    assert attributes(last)["cause"] == "EVENT_LIMIT_EXCEEDED"
    assert last["eventId"] <= 25_000  # never longer than the quota, whatever the batch


def test_retention_zero_drops_closed_executions(swf_client):
    swf_client.register_domain(name="no-retention", workflowExecutionRetentionPeriodInDays="0")
    _types(swf_client, "no-retention")
    execution = start(swf_client, "no-retention", "W")
    swf_client.terminate_workflow_execution(domain="no-retention", **execution)
    with pytest.raises(swf_client.exceptions.UnknownResourceFault):
        swf_client.describe_workflow_execution(domain="no-retention", execution=execution)
    closed = swf_client.list_closed_workflow_executions(
        domain="no-retention", startTimeFilter={"oldestDate": 0}
    )
    assert closed["executionInfos"] == []
