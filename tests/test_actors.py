"""swfd.actors against the local endpoint: seed-style polls, empty polls, pages, responses."""

from __future__ import annotations

import threading
import uuid

import pytest

import swfd
from swfd.actors import ActivityWorker, Actor, Decider, connect
from swfd.decisions import DecisionError
from swfd.testing import wait_for

WORKFLOW = {"name": "W", "version": "1"}
COMPLETE = [
    {"decisionType": "CompleteWorkflowExecution", "completeWorkflowExecutionDecisionAttributes": {}}
]


def register_types(client, domain: str) -> None:
    client.register_workflow_type(
        domain=domain, name="W", version="1", defaultTaskList={"name": "decisions"},
        defaultExecutionStartToCloseTimeout="600", defaultTaskStartToCloseTimeout="60",
        defaultChildPolicy="TERMINATE",
    )  # fmt: skip
    client.register_activity_type(
        domain=domain, name="A", version="1", defaultTaskList={"name": "work"},
        defaultTaskHeartbeatTimeout="60", defaultTaskScheduleToCloseTimeout="600",
        defaultTaskScheduleToStartTimeout="300", defaultTaskStartToCloseTimeout="300",
    )  # fmt: skip


def start(client, domain: str, input: str | None = None) -> dict:
    workflow_id = f"wf-{uuid.uuid4().hex[:8]}"
    extra = {"input": input} if input is not None else {}
    run = client.start_workflow_execution(
        domain=domain, workflowId=workflow_id, workflowType=WORKFLOW, **extra
    )
    return {"workflowId": workflow_id, "runId": run["runId"]}


def history(client, domain: str, execution: dict) -> list[dict]:
    paginator = client.get_paginator("get_workflow_execution_history")
    return [
        event
        for page in paginator.paginate(domain=domain, execution=execution)
        for event in page["events"]
    ]


def event_types(client, domain, execution) -> list[str]:
    return [e["eventType"] for e in history(client, domain, execution)]


@pytest.fixture
def types(swf_client, domain):
    register_types(swf_client, domain)
    return domain


class SeedDecider(Decider):
    task_list = "decisions"
    version = "1"


class SeedWorker(ActivityWorker):
    task_list = "work"


def test_class_attributes_are_honoured_and_arguments_override(local_endpoint, swf_client):
    class Configured(Decider):
        domain = "from-class"
        task_list = "tl-class"
        endpoint_url = local_endpoint.url

    decider = Configured()
    assert (decider.domain, decider.task_list) == ("from-class", "tl-class")
    assert decider.identity  # hostname:pid by default
    other = Configured("d2", "tl2", client=swf_client, identity="me")
    assert (other.domain, other.task_list, other.identity) == ("d2", "tl2", "me")
    assert other.client is swf_client
    assert Configured().client is decider.client  # one client per process and endpoint
    with pytest.raises(ValueError, match="no domain"):
        Decider()
    with pytest.raises(NotImplementedError, match=r"Configured\.run"):
        decider.run()
    assert swfd.actors.Layer1Decisions is swfd.Decisions
    assert issubclass(Decider, Actor) and issubclass(ActivityWorker, Actor)


def test_empty_polls_look_empty_to_seed_code(local_endpoint, types):
    decider = SeedDecider(types, endpoint_url=local_endpoint.url)
    worker = SeedWorker(types, endpoint_url=local_endpoint.url)
    history = decider.poll()
    task = worker.poll()
    assert "events" not in history and "taskToken" not in history
    assert "startedEventId" not in history
    assert "activityId" not in task and "taskToken" not in task
    assert decider.last_tasktoken is None and worker.last_tasktoken is None
    with pytest.raises(ValueError, match="no task token"):
        worker.complete()
    with pytest.raises(ValueError, match="no task list"):
        Decider(types, endpoint_url=local_endpoint.url).poll()


def test_hello_round_trip_with_remembered_tokens(local_endpoint, swf_client, types):
    execution = start(swf_client, types, input="hi")
    decider = SeedDecider(types, client=swf_client)
    worker = SeedWorker(types, client=swf_client, identity="worker-1")

    task = decider.poll()
    assert task["workflowExecution"] == execution
    assert [e["eventType"] for e in task["events"]] == [
        "WorkflowExecutionStarted", "DecisionTaskScheduled", "DecisionTaskStarted"]  # fmt: skip
    assert "nextPageToken" not in task
    decisions = swfd.Decisions()
    decisions.schedule_activity_task("a1", "A", "1", input="x")
    decider.complete(decisions=decisions, execution_context="ctx")

    activity = worker.poll()
    assert activity["activityId"] == "a1" and activity["input"] == "x"
    assert worker.last_tasktoken == activity["taskToken"]
    assert worker.heartbeat(details="half")["cancelRequested"] is False
    worker.complete(result="done")

    task = wait_for(decider.poll, timeout=10, message="second decision task")
    assert task["previousStartedEventId"] == 3
    completed = [e for e in task["events"] if e["eventType"] == "ActivityTaskCompleted"]
    assert completed[0]["activityTaskCompletedEventAttributes"]["result"] == "done"
    decider.complete(decisions=COMPLETE)
    events = history(swf_client, types, execution)
    assert events[-1]["eventType"] == "WorkflowExecutionCompleted"
    started = next(e for e in events if e["eventType"] == "ActivityTaskStarted")
    assert started["activityTaskStartedEventAttributes"]["identity"] == "worker-1"
    done = next(e for e in events if e["eventType"] == "DecisionTaskCompleted")
    assert done["decisionTaskCompletedEventAttributes"]["executionContext"] == "ctx"


def test_worker_fail_and_cancel(local_endpoint, swf_client, types):
    execution = start(swf_client, types)
    decider = SeedDecider(types, client=swf_client)
    worker = SeedWorker(types, client=swf_client)
    decider.poll()
    decisions = swfd.Decisions()
    decisions.schedule_activity_task("fails", "A", "1")
    decisions.schedule_activity_task("canceled", "A", "1")
    decider.complete(decisions=decisions)

    first = worker.poll()
    second = worker.poll()
    by_id = {first["activityId"]: first, second["activityId"]: second}
    worker.fail(by_id["fails"]["taskToken"], details="traceback", reason="boom")

    decider.poll()
    decisions = swfd.Decisions()
    decisions.request_cancel_activity_task("canceled")
    decider.complete(decisions=decisions)
    beat = worker.heartbeat(by_id["canceled"]["taskToken"])
    assert beat["cancelRequested"] is True
    worker.cancel(by_id["canceled"]["taskToken"], details="stopped")

    events = history(swf_client, types, execution)
    failed = next(e for e in events if e["eventType"] == "ActivityTaskFailed")
    assert failed["activityTaskFailedEventAttributes"]["reason"] == "boom"
    assert failed["activityTaskFailedEventAttributes"]["details"] == "traceback"
    canceled = next(e for e in events if e["eventType"] == "ActivityTaskCanceled")
    assert canceled["activityTaskCanceledEventAttributes"]["details"] == "stopped"


def test_decider_poll_gathers_every_page(local_endpoint, swf_client, types):
    execution = start(swf_client, types)
    decider = SeedDecider(types, client=swf_client)
    decider.poll()
    decisions = swfd.Decisions()
    for i in range(30):
        decisions.record_marker(f"m{i}", details=str(i))
    decider.complete(decisions=decisions)
    swf_client.signal_workflow_execution(domain=types, signalName="go", **execution)

    task = wait_for(lambda: decider.poll(maximum_page_size=7), timeout=10, message="decision")
    full = history(swf_client, types, execution)
    assert len(task["events"]) == len(full) > 30
    assert [e["eventId"] for e in task["events"]] == list(range(1, len(full) + 1))
    assert "nextPageToken" not in task
    # The remembered token answers the task (every page carried the same task).
    decider.complete(decisions=COMPLETE)
    assert event_types(swf_client, types, execution)[-1] == "WorkflowExecutionCompleted"


def test_decider_complete_validates_a_batch_before_sending(local_endpoint, swf_client, types):
    execution = start(swf_client, types)
    decider = SeedDecider(types, client=swf_client)
    decider.poll()
    bad = swfd.Decisions()
    bad.complete_workflow_execution()
    bad.record_marker("after-close")
    with pytest.raises(DecisionError, match="must be last"):
        decider.complete(decisions=bad)
    # Nothing was sent: the task is still open and can be answered.
    decider.complete(decisions=None)
    assert event_types(swf_client, types, execution)[-1] == "DecisionTaskCompleted"


def test_connect_shares_a_client_per_endpoint(local_endpoint):
    assert connect(local_endpoint.url) is connect(local_endpoint.url)
    assert connect(local_endpoint.url) is not connect(local_endpoint.url, "eu-west-1")
    domains = connect(local_endpoint.url).list_domains(registrationStatus="REGISTERED")
    assert "domainInfos" in domains


def test_start_runs_rounds_until_stop(local_endpoint, swf_client, types):
    """The swf library's actor interface: start() loops over run(), stop() ends it."""

    class CountingWorker(SeedWorker):
        def run(self):
            task = self.poll()
            if "activityId" in task:
                self.handled.append(task["activityId"])
                self.complete(result="ok")
            return bool(task)

    worker = CountingWorker(types, client=swf_client)
    worker.handled = []
    thread = threading.Thread(target=worker.start, daemon=True)
    thread.start()
    execution = start(swf_client, types)
    decider = SeedDecider(types, client=swf_client)
    wait_for(decider.poll, timeout=10, message="the first decision task")
    decisions = swfd.Decisions()
    decisions.schedule_activity_task("a1", "A", "1")
    decider.complete(decisions=decisions)
    wait_for(lambda: worker.handled == ["a1"], timeout=10, message="the worker to handle a1")
    worker.stop()
    thread.join(timeout=10)  # the poll in flight returns within the endpoint's 1 s poll timeout
    assert not thread.is_alive()
    assert "ActivityTaskCompleted" in event_types(swf_client, types, execution)
