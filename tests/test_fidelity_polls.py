"""What pollers get, and the history invariants deciders rely on.

Sources: the service's own empty-poll answer (no taskToken and no events, though
the API reference's PollForActivityTask prose says "an ActivityTask is returned,
but that the value of taskToken is an empty string"), PollForDecisionTask / DecisionTask
(previousStartedEventId: "The ID of the DecisionTaskStarted event of the
previous decision task of this workflow execution that was processed by the
decider"; nextPageToken "If a NextPageToken was returned by a previous call,
there are more results available"), HistoryEvent (eventId, eventTimestamp),
and the *EventAttributes pages for the ids that link events together.
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

from swfd.testing import wait_for

W = {"name": "W", "version": "1.0"}


@pytest.fixture
def setup(swf_client, domain):
    register_workflow_type(swf_client, domain, "W")
    register_activity_type(swf_client, domain, "A")
    return swf_client, domain


def assert_well_formed(events):
    """Ids 1..n in order; timestamps never go back."""
    assert [e["eventId"] for e in events] == list(range(1, len(events) + 1))
    stamps = [e["eventTimestamp"] for e in events]
    assert stamps == sorted(stamps)


def test_activity_task_fields(setup):
    client, domain = setup
    tl = unique("tl")
    ex = start(client, domain, "W", taskList={"name": tl})
    task = poll_decision(client, domain, tl)
    respond(client, task, [schedule_activity("act-1", "A", task_list=tl + "-a", input="in")])
    work = client.poll_for_activity_task(domain=domain, taskList={"name": tl + "-a"},
                                         identity="worker-7")
    assert work["taskToken"]
    assert work["activityId"] == "act-1"
    assert work["activityType"] == {"name": "A", "version": "1.0"}
    assert work["workflowExecution"] == ex
    assert work["input"] == "in"
    events = history(client, domain, ex)
    started = find(events, "ActivityTaskStarted")[0]
    assert work["startedEventId"] == started["eventId"]
    assert attributes(started)["identity"] == "worker-7"
    scheduled = find(events, "ActivityTaskScheduled")[0]
    assert attributes(started)["scheduledEventId"] == scheduled["eventId"]
    client.respond_activity_task_completed(taskToken=work["taskToken"], result="out")
    completed = attributes(find(history(client, domain, ex), "ActivityTaskCompleted")[0])
    assert completed == {"result": "out", "scheduledEventId": scheduled["eventId"],
                         "startedEventId": started["eventId"]}


def test_empty_polls_omit_the_token_and_the_events(setup):
    """The service answers an empty poll ``{"startedEventId":0}`` (activity) and
    ``{"previousStartedEventId":0,"startedEventId":0}`` (decision): no taskToken, no
    events, although the API reference's prose speaks of an empty taskToken."""
    client, domain = setup
    empty = client.poll_for_activity_task(domain=domain, taskList={"name": unique("none")})
    empty.pop("ResponseMetadata")
    assert empty == {"startedEventId": 0}
    empty = client.poll_for_decision_task(domain=domain, taskList={"name": unique("none")})
    empty.pop("ResponseMetadata")
    assert empty == {"previousStartedEventId": 0, "startedEventId": 0}


def test_decision_task_fields_and_previous_started_event_id(setup):
    client, domain = setup
    tl = unique("tl")
    ex = start(client, domain, "W", taskList={"name": tl}, input="x")
    first = client.poll_for_decision_task(domain=domain, taskList={"name": tl},
                                          identity="decider-1")
    assert first["workflowExecution"] == ex
    assert first["workflowType"] == W
    assert first["previousStartedEventId"] == 0
    assert [e["eventType"] for e in first["events"]] == [
        "WorkflowExecutionStarted", "DecisionTaskScheduled", "DecisionTaskStarted"]
    assert first["startedEventId"] == 3
    assert "nextPageToken" not in first
    assert attributes(first["events"][2])["identity"] == "decider-1"
    assert attributes(first["events"][2])["scheduledEventId"] == 2
    respond(client, first, [decision("StartTimer", timerId="t", startToFireTimeout="0")])

    second = poll_decision(client, domain, tl)
    assert second["previousStartedEventId"] == first["startedEventId"]
    assert second["events"][-1]["eventId"] == second["startedEventId"]
    assert second["events"][-1]["eventType"] == "DecisionTaskStarted"
    completed = find(second["events"], "DecisionTaskCompleted")[0]
    assert attributes(completed) == {"scheduledEventId": 2, "startedEventId": 3}
    respond(client, second, [complete_workflow()])
    assert_well_formed(history(client, domain, ex))


def test_a_timed_out_decision_task_is_not_a_previous_started_event(setup):
    """previousStartedEventId names the last task the decider *processed*."""
    client, domain = setup
    tl = unique("tl")
    ex = start(client, domain, "W", taskList={"name": tl}, taskStartToCloseTimeout="1")
    first = poll_decision(client, domain, tl)
    respond(client, first, [decision("StartTimer", timerId="t", startToFireTimeout="0")])
    dropped = poll_decision(client, domain, tl)  # never answered: times out after 1 s
    assert dropped["previousStartedEventId"] == first["startedEventId"]

    task = wait_for(lambda: _poll_nonempty(client, domain, tl), timeout=10,
                    message="the decision task scheduled after the timeout")
    timed_out = find(task["events"], "DecisionTaskTimedOut")
    assert attributes(timed_out[0]) == {"timeoutType": "START_TO_CLOSE",
                                        "scheduledEventId": dropped["startedEventId"] - 1,
                                        "startedEventId": dropped["startedEventId"]}
    assert task["previousStartedEventId"] == first["startedEventId"]
    respond(client, task, [complete_workflow()])
    with pytest.raises(client.exceptions.UnknownResourceFault):
        respond(client, dropped, [])
    assert_well_formed(history(client, domain, ex))


def _poll_nonempty(client, domain, tl):
    task = client.poll_for_decision_task(domain=domain, taskList={"name": tl})
    return task if task["taskToken"] else None


def test_decision_task_pages(setup):
    """A page token only when more events follow; the pages join into the whole history."""
    client, domain = setup
    tl = unique("tl")
    ex = start(client, domain, "W", taskList={"name": tl})
    for i in range(6):
        client.signal_workflow_execution(domain=domain, workflowId=ex["workflowId"],
                                         signalName=f"s{i}")
    task = client.poll_for_decision_task(domain=domain, taskList={"name": tl},
                                         maximumPageSize=4)
    total = task["startedEventId"]
    assert total == 9  # started, scheduled, 6 signals, started
    pages = [task]
    for _ in range(5):
        if "nextPageToken" not in pages[-1]:
            break
        pages.append(client.poll_for_decision_task(domain=domain, taskList={"name": tl},
                                                   maximumPageSize=4,
                                                   nextPageToken=pages[-1]["nextPageToken"]))
    assert [len(p["events"]) for p in pages] == [4, 4, 1]
    events = [e for p in pages for e in p["events"]]
    assert_well_formed(events)
    assert all(p["taskToken"] == task["taskToken"] for p in pages)
    assert all(p["startedEventId"] == total for p in pages)
    respond(client, task, [complete_workflow()])


def test_history_pages_and_reverse_order(setup):
    client, domain = setup
    tl = unique("tl")
    ex = start(client, domain, "W", taskList={"name": tl})
    for i in range(4):
        client.signal_workflow_execution(domain=domain, workflowId=ex["workflowId"],
                                         signalName=f"s{i}")
    client.terminate_workflow_execution(domain=domain, workflowId=ex["workflowId"])
    whole = client.get_workflow_execution_history(domain=domain, execution=ex)["events"]
    assert len(whole) == 7
    assert_well_formed(whole)
    reverse = client.get_workflow_execution_history(domain=domain, execution=ex,
                                                    reverseOrder=True, maximumPageSize=5)
    assert [e["eventId"] for e in reverse["events"]] == [7, 6, 5, 4, 3]
    rest = client.get_workflow_execution_history(domain=domain, execution=ex,
                                                 reverseOrder=True, maximumPageSize=5,
                                                 nextPageToken=reverse["nextPageToken"])
    assert [e["eventId"] for e in rest["events"]] == [2, 1]
    assert "nextPageToken" not in rest
    exact = client.get_workflow_execution_history(domain=domain, execution=ex,
                                                  maximumPageSize=7)
    assert len(exact["events"]) == 7 and "nextPageToken" not in exact


def test_timer_fires_no_earlier_than_its_start_plus_duration(setup):
    client, domain = setup
    tl = unique("tl")
    ex = start(client, domain, "W", taskList={"name": tl})
    task = poll_decision(client, domain, tl)
    respond(client, task, [decision("StartTimer", timerId="t", startToFireTimeout="1")])
    task = wait_for(lambda: _poll_nonempty(client, domain, tl), timeout=10,
                    message="the decision task after the timer fired")
    started = find(task["events"], "TimerStarted")[0]
    fired = find(task["events"], "TimerFired")[0]
    assert attributes(fired)["startedEventId"] == started["eventId"]
    elapsed = (fired["eventTimestamp"] - started["eventTimestamp"]).total_seconds()
    assert elapsed >= 0.99
    respond(client, task, [complete_workflow()])
    events = history(client, domain, ex)
    info = client.describe_workflow_execution(domain=domain, execution=ex)["executionInfo"]
    assert info["closeTimestamp"] == events[-1]["eventTimestamp"]
    assert_well_formed(events)
