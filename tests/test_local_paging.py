"""Page tokens on the local endpoint: a >1,000-event history through
GetWorkflowExecutionHistory and PollForDecisionTask, list pagination and counts."""

from __future__ import annotations

import pytest
from test_local_support import (  # noqa: F401 (no_internal_failures is autouse)
    event_types,
    history,
    no_internal_failures,
    poll_decision,
    register_workflow_type,
    respond,
    start,
)

SIGNALS = 1100


@pytest.fixture
def long_execution(swf_client, domain):
    register_workflow_type(swf_client, domain, "W", task_list="decide")
    execution = start(swf_client, domain, "W")
    for i in range(SIGNALS):
        swf_client.signal_workflow_execution(
            domain=domain, signalName="s", input=str(i), **execution
        )
    return execution


def test_history_pages_with_tokens(swf_client, domain, long_execution):
    events = history(swf_client, domain, long_execution)
    # Started, DecisionTaskScheduled, then one event per signal.
    assert len(events) == SIGNALS + 2
    assert [e["eventId"] for e in events] == list(range(1, SIGNALS + 3))
    signals = [e for e in events if e["eventType"] == "WorkflowExecutionSignaled"]
    assert [s["workflowExecutionSignaledEventAttributes"]["input"] for s in signals] == [
        str(i) for i in range(SIGNALS)
    ]

    first = swf_client.get_workflow_execution_history(domain=domain, execution=long_execution)
    assert len(first["events"]) == 1000 and first["nextPageToken"]
    small = history(swf_client, domain, long_execution, page_size=300)
    assert small == events
    reverse = []
    token = None
    for _ in range(10):
        page = swf_client.get_workflow_execution_history(
            domain=domain,
            execution=long_execution,
            reverseOrder=True,
            maximumPageSize=500,
            **({"nextPageToken": token} if token else {}),
        )
        reverse.extend(page["events"])
        token = page.get("nextPageToken")
        if not token:
            break
    assert reverse == events[::-1]


def test_decision_task_pages_with_tokens(swf_client, domain, long_execution):
    first = swf_client.poll_for_decision_task(
        domain=domain, taskList={"name": "decide"}, identity="pager"
    )
    assert len(first["events"]) == 1000 and first["nextPageToken"]
    token = first["taskToken"]
    second = swf_client.poll_for_decision_task(
        domain=domain, taskList={"name": "decide"}, nextPageToken=first["nextPageToken"]
    )
    assert second["taskToken"] == token
    assert "nextPageToken" not in second or not second["nextPageToken"]
    events = first["events"] + second["events"]
    # The decision task's own DecisionTaskStarted is part of what the decider sees.
    assert event_types(events)[-1] == "DecisionTaskStarted"
    assert [e["eventId"] for e in events] == list(range(1, SIGNALS + 4))
    assert second["startedEventId"] == first["startedEventId"] == SIGNALS + 3

    # The helper joins pages the same way with a smaller page size.
    respond(swf_client, {"taskToken": token}, [])
    swf_client.signal_workflow_execution(domain=domain, signalName="again", **long_execution)
    task = poll_decision(swf_client, domain, "decide", page_size=250)
    assert [e["eventId"] for e in task["events"]] == list(range(1, task["startedEventId"] + 1))
    assert task["previousStartedEventId"] == SIGNALS + 3


def test_list_executions_pages_and_counts(swf_client, domain):
    register_workflow_type(swf_client, domain, "W", task_list="decide")
    register_workflow_type(swf_client, domain, "Other", task_list="decide")
    executions = [start(swf_client, domain, "W", tagList=["t"]) for _ in range(7)]
    start(swf_client, domain, "Other")
    swf_client.terminate_workflow_execution(domain=domain, **executions[0])
    time_filter = {"oldestDate": 0}

    seen = []
    token = None
    for _ in range(10):
        page = swf_client.list_open_workflow_executions(
            domain=domain,
            startTimeFilter=time_filter,
            maximumPageSize=2,
            typeFilter={"name": "W"},
            **({"nextPageToken": token} if token else {}),
        )
        assert len(page["executionInfos"]) <= 2
        seen.extend(info["execution"]["runId"] for info in page["executionInfos"])
        token = page.get("nextPageToken")
        if not token:
            break
    assert sorted(seen) == sorted(e["runId"] for e in executions[1:])
    count = swf_client.count_open_workflow_executions(
        domain=domain, startTimeFilter=time_filter, tagFilter={"tag": "t"}
    )
    assert count["count"] == 6 and not count["truncated"]
    closed = swf_client.list_closed_workflow_executions(
        domain=domain, startTimeFilter=time_filter, closeStatusFilter={"status": "TERMINATED"}
    )
    assert [i["execution"] for i in closed["executionInfos"]] == [executions[0]]
    by_id = swf_client.count_open_workflow_executions(
        domain=domain,
        startTimeFilter=time_filter,
        executionFilter={"workflowId": executions[3]["workflowId"]},
    )
    assert by_id["count"] == 1
    pending = swf_client.count_pending_decision_tasks(domain=domain, taskList={"name": "decide"})
    assert pending["count"] == 7
