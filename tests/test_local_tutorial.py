"""boto's SWF tutorial (seeds/001) ported to plain boto3, run against the local endpoint.

The deciders and workers below are the seed's, line for line in boto3 form,
so the histories can be compared with the seed's (HelloWorld) and with moto's
(test_local_moto.py reuses them).
"""

from __future__ import annotations

import threading
import time

from test_local_support import (  # noqa: F401 (no_internal_failures is autouse)
    SEED_HELLO_EVENT_TYPES,
    TUTORIAL_DOMAIN,
    VERSION,
    attributes,
    complete_workflow,
    drive,
    event_types,
    find,
    history,
    is_closed,
    no_internal_failures,
    poll_activity,
    poll_decision,
    register_tutorial,
    respond,
    schedule_activity,
    start,
    workflow_events,
)

DOMAIN = TUTORIAL_DOMAIN


# --- HelloWorld ---------------------------------------------------------------------------


def hello_decider(client, domain=DOMAIN) -> bool:
    task = poll_decision(client, domain, "default")
    if not task.get("taskToken"):
        return False
    last_event = workflow_events(task)[-1]
    decisions = []
    if last_event["eventType"] == "WorkflowExecutionStarted":
        decisions.append(schedule_activity("saying_hi", "HelloWorld", VERSION, task_list="default"))
    elif last_event["eventType"] == "ActivityTaskCompleted":
        decisions.append(complete_workflow())
    respond(client, task, decisions)
    return True


def hello_worker(client, domain=DOMAIN) -> bool:
    task = poll_activity(client, domain, "default")
    if not task.get("taskToken"):
        return False
    client.respond_activity_task_completed(taskToken=task["taskToken"])
    return True


def run_hello(client, domain=DOMAIN) -> dict:
    execution = start(client, domain, "HelloWorkflow", taskList={"name": "default"})
    assert hello_decider(client, domain)
    assert hello_worker(client, domain)
    assert hello_decider(client, domain)
    return execution


# --- Serial -------------------------------------------------------------------------------


def serial_decider(client, domain=DOMAIN) -> bool:
    task = poll_decision(client, domain, "default_tasks")
    if not task.get("taskToken"):
        return False
    events = task["events"]
    last_event = workflow_events(task)[-1]
    decisions = []
    if last_event["eventType"] == "WorkflowExecutionStarted":
        decisions.append(
            schedule_activity(
                f"ActivityA-{time.time():.0f}", "ActivityA", VERSION, task_list="a_tasks"
            )
        )
    elif last_event["eventType"] == "ActivityTaskCompleted":
        completed = last_event["activityTaskCompletedEventAttributes"]
        scheduled = events[completed["scheduledEventId"] - 1]
        name = scheduled["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        result = completed.get("result")
        if name == "ActivityA":
            decisions.append(
                schedule_activity(
                    f"ActivityB-{time.time():.0f}",
                    "ActivityB",
                    VERSION,
                    task_list="b_tasks",
                    input=result,
                )
            )
        if name == "ActivityB":
            decisions.append(
                schedule_activity(
                    f"ActivityC-{time.time():.0f}",
                    "ActivityC",
                    VERSION,
                    task_list="c_tasks",
                    input=result,
                )
            )
        elif name == "ActivityC":
            decisions.append(complete_workflow())
    respond(client, task, decisions)
    return True


SERIAL_RESULTS = {"a_tasks": "Now don't be givin him sambuca!", "b_tasks": None, "c_tasks": None}


def serial_worker(client, task_list, domain=DOMAIN) -> bool:
    task = poll_activity(client, domain, task_list)
    if not task.get("taskToken"):
        return False
    result = SERIAL_RESULTS[task_list]
    extra = {"result": result} if result is not None else {}
    client.respond_activity_task_completed(taskToken=task["taskToken"], **extra)
    return True


def run_serial(client, domain=DOMAIN) -> dict:
    execution = start(client, domain, "SerialWorkflow", taskList={"name": "default_tasks"})
    assert serial_decider(client, domain)
    for task_list in ("a_tasks", "b_tasks", "c_tasks"):
        assert serial_worker(client, task_list, domain)
        assert serial_decider(client, domain)
    return execution


SERIAL_EVENT_TYPES = (
    [
        "WorkflowExecutionStarted",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
        "DecisionTaskCompleted",
    ]
    + [
        "ActivityTaskScheduled",
        "ActivityTaskStarted",
        "ActivityTaskCompleted",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
        "DecisionTaskCompleted",
    ]
    * 3
    + ["WorkflowExecutionCompleted"]
)


# --- Parallel -----------------------------------------------------------------------------

SCHED_COUNT = 5


def parallel_decider(client, domain=DOMAIN) -> bool:
    task = poll_decision(client, domain, "default")
    if not task.get("taskToken"):
        return False
    last_event = workflow_events(task)[-1]
    decisions = []
    if last_event["eventType"] == "WorkflowExecutionStarted":
        for i in range(SCHED_COUNT):
            decisions.append(
                schedule_activity(f"activity{i}", "ActivityA", "1.0", task_list="default")
            )
    elif last_event["eventType"] == "ActivityTaskCompleted":
        completed = sum(1 for e in task["events"] if e["eventType"] == "ActivityTaskCompleted")
        if completed == SCHED_COUNT:
            decisions.append(complete_workflow())
    respond(client, task, decisions)
    return True


def parallel_worker(client, seen: list, domain=DOMAIN) -> bool:
    task = poll_activity(client, domain, "default")
    if not task.get("taskToken"):
        return False
    seen.append(task["activityId"])
    client.respond_activity_task_completed(taskToken=task["taskToken"], result=str(time.time()))
    return True


def run_parallel_sequentially(client, domain=DOMAIN) -> dict:
    """Deterministic order (moto comparison): decide, all five work, decide once."""
    execution = start(client, domain, "ParallelWorkflow", taskList={"name": "default"})
    assert parallel_decider(client, domain)
    seen: list = []
    for _ in range(SCHED_COUNT):
        assert parallel_worker(client, seen, domain)
    assert parallel_decider(client, domain)
    return execution


# --- tests --------------------------------------------------------------------------------


def test_hello_world_history_is_the_seeds(swf_client):
    register_tutorial(swf_client)
    execution = run_hello(swf_client)
    events = history(swf_client, DOMAIN, execution)
    assert event_types(events) == SEED_HELLO_EVENT_TYPES
    assert [e["eventId"] for e in events] == list(range(1, 12))
    started = attributes(events[0])
    assert started["childPolicy"] == "TERMINATE"
    assert started["executionStartToCloseTimeout"] == "3600"
    assert started["taskStartToCloseTimeout"] == "300"
    assert started["taskList"] == {"name": "default"}
    assert started["parentInitiatedEventId"] == 0
    assert started["workflowType"] == {"name": "HelloWorkflow", "version": "1.0"}
    assert attributes(events[1])["startToCloseTimeout"] == "300"
    assert attributes(events[1])["taskList"] == {"name": "default"}
    assert attributes(events[2])["scheduledEventId"] == 2
    assert attributes(events[3])["scheduledEventId"] == 2
    assert attributes(events[3])["startedEventId"] == 3
    scheduled = attributes(events[4])
    assert scheduled["activityId"] == "saying_hi"
    assert scheduled["activityType"] == {"name": "HelloWorld", "version": "1.0"}
    assert scheduled["decisionTaskCompletedEventId"] == 4
    assert (
        scheduled["heartbeatTimeout"],
        scheduled["scheduleToCloseTimeout"],
        scheduled["scheduleToStartTimeout"],
        scheduled["startToCloseTimeout"],
    ) == ("600", "3900", "300", "3600")
    assert scheduled["taskList"] == {"name": "default"}
    assert attributes(events[5])["scheduledEventId"] == 5
    assert attributes(events[6])["scheduledEventId"] == 5
    assert attributes(events[6])["startedEventId"] == 6
    assert attributes(events[10])["decisionTaskCompletedEventId"] == 10
    timestamps = [e["eventTimestamp"] for e in events]
    assert timestamps == sorted(timestamps)
    assert is_closed(swf_client, DOMAIN, execution) == "COMPLETED"


def test_serial_workflow_runs_activities_in_order_passing_results(swf_client):
    register_tutorial(swf_client)
    execution = run_serial(swf_client)
    events = history(swf_client, DOMAIN, execution)
    assert event_types(events) == SERIAL_EVENT_TYPES
    scheduled = [attributes(e) for e in find(events, "ActivityTaskScheduled")]
    assert [s["activityType"]["name"] for s in scheduled] == ["ActivityA", "ActivityB", "ActivityC"]
    assert [s["taskList"]["name"] for s in scheduled] == ["a_tasks", "b_tasks", "c_tasks"]
    assert scheduled[1]["input"] == "Now don't be givin him sambuca!"
    assert "input" not in scheduled[2]
    assert is_closed(swf_client, DOMAIN, execution) == "COMPLETED"
    info = swf_client.describe_workflow_execution(domain=DOMAIN, execution=execution)
    assert info["executionConfiguration"]["taskList"] == {"name": "default_tasks"}
    assert set(info["openCounts"].values()) == {0}


def test_parallel_workflow_partitions_work_between_two_workers(swf_client, local_endpoint):
    from conftest import make_boto3_client

    register_tutorial(swf_client)
    execution = start(swf_client, DOMAIN, "ParallelWorkflow", taskList={"name": "default"})
    seen: dict[int, list] = {0: [], 1: []}
    stop = threading.Event()

    def worker(index: int) -> None:
        client = make_boto3_client(local_endpoint.url)
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline:
            parallel_worker(client, seen[index])

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in (0, 1)]
    for thread in threads:
        thread.start()
    try:
        drive(
            lambda: parallel_decider(swf_client),
            lambda: is_closed(swf_client, DOMAIN, execution),
            timeout=30,
            max_steps=50,
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert sorted(seen[0] + seen[1]) == [f"activity{i}" for i in range(SCHED_COUNT)]
    events = history(swf_client, DOMAIN, execution)
    types = event_types(events)
    assert types.count("ActivityTaskScheduled") == SCHED_COUNT
    assert types.count("ActivityTaskCompleted") == SCHED_COUNT
    assert types[-1] == "WorkflowExecutionCompleted"
    # At most one decision task at a time: each scheduled one starts and completes in turn.
    decision_events = [t for t in types if t.startswith("DecisionTask")]
    assert decision_events == [
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
        "DecisionTaskCompleted",
    ] * (len(decision_events) // 3)
    assert is_closed(swf_client, DOMAIN, execution) == "COMPLETED"


def test_parallel_workflow_sequential_history(swf_client):
    register_tutorial(swf_client)
    execution = run_parallel_sequentially(swf_client)
    types = event_types(history(swf_client, DOMAIN, execution))
    # Five completions while no decider ran fold into one decision task.
    assert types == (
        [
            "WorkflowExecutionStarted",
            "DecisionTaskScheduled",
            "DecisionTaskStarted",
            "DecisionTaskCompleted",
        ]
        + ["ActivityTaskScheduled"] * SCHED_COUNT
        + ["ActivityTaskStarted", "ActivityTaskCompleted", "DecisionTaskScheduled"]
        + ["ActivityTaskStarted", "ActivityTaskCompleted"] * (SCHED_COUNT - 1)
        + ["DecisionTaskStarted", "DecisionTaskCompleted", "WorkflowExecutionCompleted"]
    )
