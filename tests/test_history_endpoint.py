"""History built from a real history of more than 1,000 events served by the local endpoint."""

from __future__ import annotations

import swfd
from swfd.actors import ActivityWorker, Decider
from swfd.history import History
from swfd.testing import wait_for

ACTIVITIES = 40
MARKERS = 1000


def test_history_over_a_thousand_events(swf_client, domain):
    client = swf_client
    client.register_workflow_type(
        domain=domain, name="Big", version="1", defaultTaskList={"name": "decisions"},
        defaultExecutionStartToCloseTimeout="600", defaultTaskStartToCloseTimeout="60",
        defaultChildPolicy="TERMINATE",
    )  # fmt: skip
    client.register_activity_type(
        domain=domain, name="Echo", version="1", defaultTaskList={"name": "work"},
        defaultTaskHeartbeatTimeout="NONE", defaultTaskScheduleToCloseTimeout="600",
        defaultTaskScheduleToStartTimeout="300", defaultTaskStartToCloseTimeout="300",
    )  # fmt: skip
    run_id = client.start_workflow_execution(
        domain=domain, workflowId="big", workflowType={"name": "Big", "version": "1"}, input="go"
    )["runId"]
    execution = {"workflowId": "big", "runId": run_id}
    decider = Decider(domain, "decisions", client=client)
    worker = ActivityWorker(domain, "work", client=client)

    decider.poll()
    decisions = swfd.Decisions()
    for i in range(ACTIVITIES):
        decisions.schedule_activity_task(f"echo-{i}", "Echo", "1", input=str(i))
    for i in range(MARKERS):
        decisions.record_marker("progress", details=str(i))
    decisions.start_timer(600, "deadline")
    decider.complete(decisions=decisions)

    for _ in range(ACTIVITIES):
        task = wait_for(worker.poll, timeout=10, message="an activity task")
        worker.complete(result=f"echo:{task['input']}")

    task = wait_for(decider.poll, timeout=10, message="the decision after the activities")
    poll_history = History(task["events"])
    assert poll_history.last_decision_started_event_id == task["startedEventId"]
    assert poll_history.previous_started_event_id == task["previousStartedEventId"]
    new = poll_history.new_events(task["previousStartedEventId"])
    assert sum(e["eventType"] == "ActivityTaskCompleted" for e in new) == ACTIVITIES
    done = swfd.Decisions()
    done.cancel_timer("deadline")
    done.complete_workflow_execution(result="all echoed")
    decider.complete(decisions=done)

    pages = client.get_paginator("get_workflow_execution_history").paginate(
        domain=domain, execution=execution
    )
    events = [e for page in pages for e in page["events"]]
    assert len(events) > 1000
    assert [e["eventId"] for e in task["events"]] == [e["eventId"] for e in events][
        : len(task["events"])
    ]

    history = History(events)
    assert len(history) == len(events)
    assert history.input == "go"
    assert history.workflow_type == {"name": "Big", "version": "1"}
    assert len(history.activities) == ACTIVITIES
    for i in (0, ACTIVITIES // 2, ACTIVITIES - 1):
        state = history.activities[f"echo-{i}"]
        assert (state.state, state.input, state.result) == ("completed", str(i), f"echo:{i}")
        assert history.by_id(state.scheduled_event_id)["eventType"] == "ActivityTaskScheduled"
    assert [m.details for m in history.markers["progress"]] == [str(i) for i in range(MARKERS)]
    assert history.timers["deadline"].state == "canceled"
    assert history.closed["eventType"] == "WorkflowExecutionCompleted"
    assert History(reversed(events)).activities.keys() == history.activities.keys()
