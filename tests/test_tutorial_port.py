"""The seed tutorial's scripts (examples/tutorial) run as processes against the local endpoint.

Each test registers with register.py, starts the workflow with start.py, runs the
deciders and workers as separate processes (as the seed did from separate
terminals), waits for the execution to close and compares its history with the
seed's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from swfd.history import History
from swfd.testing import wait_for

TUTORIAL = Path(__file__).resolve().parent.parent / "examples" / "tutorial"
DOMAIN = "boto_tutorial"

# The seed's HelloWorld history without eventIds and timestamps; attributes are compared as a
# subset (identity, which boto never sent, is extra).
SEED_HELLO_EVENTS = [
    ("WorkflowExecutionStarted", {
        "childPolicy": "TERMINATE", "executionStartToCloseTimeout": "3600",
        "parentInitiatedEventId": 0, "taskList": {"name": "default"},
        "taskStartToCloseTimeout": "300",
        "workflowType": {"name": "HelloWorkflow", "version": "1.0"}}),
    ("DecisionTaskScheduled", {"startToCloseTimeout": "300", "taskList": {"name": "default"}}),
    ("DecisionTaskStarted", {"scheduledEventId": 2}),
    ("DecisionTaskCompleted", {"scheduledEventId": 2, "startedEventId": 3}),
    ("ActivityTaskScheduled", {
        "activityId": "saying_hi", "activityType": {"name": "HelloWorld", "version": "1.0"},
        "decisionTaskCompletedEventId": 4, "heartbeatTimeout": "600",
        "scheduleToCloseTimeout": "3900", "scheduleToStartTimeout": "300",
        "startToCloseTimeout": "3600", "taskList": {"name": "default"}}),
    ("ActivityTaskStarted", {"scheduledEventId": 5}),
    ("ActivityTaskCompleted", {"scheduledEventId": 5, "startedEventId": 6}),
    ("DecisionTaskScheduled", {"startToCloseTimeout": "300", "taskList": {"name": "default"}}),
    ("DecisionTaskStarted", {"scheduledEventId": 8}),
    ("DecisionTaskCompleted", {"scheduledEventId": 8, "startedEventId": 9}),
    ("WorkflowExecutionCompleted", {"decisionTaskCompletedEventId": 10}),
]  # fmt: skip


@pytest.fixture
def tutorial(local_endpoint):
    """Runs tutorial scripts against the endpoint; stops every process it started, by pid."""
    env = dict(os.environ)
    env.pop("AWS_PROFILE", None)
    env.update(
        SWFD_ENDPOINT_URL=local_endpoint.url,
        AWS_ACCESS_KEY_ID="swfd-local",
        AWS_SECRET_ACCESS_KEY="swfd-local",
        AWS_DEFAULT_REGION="us-east-1",
        PYTHONUNBUFFERED="1",
    )
    runner = Runner(env)
    try:
        yield runner
    finally:
        runner.stop_all()


class Runner:
    def __init__(self, env: dict[str, str]):
        self.env = env
        self.procs: list[subprocess.Popen] = []

    def run(self, script: str, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, str(TUTORIAL / script), *args], env=self.env, cwd=TUTORIAL,
            check=False, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, f"{script} exited {done.returncode}: {done.stderr}"
        return done.stdout

    def spawn(self, script: str, *args: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, str(TUTORIAL / script), *args], env=self.env, cwd=TUTORIAL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.procs.append(proc)
        return proc

    def finish(self, proc: subprocess.Popen) -> str:
        """Stop a looping actor (the seed stopped them with ^C) and return its output."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert "Traceback" not in err, err
        return out

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=30)

    def start(self, workflow: str) -> dict[str, str]:
        workflow_id, run_id = self.run("start.py", workflow).split()
        return {"workflowId": workflow_id, "runId": run_id}


def closed_history(client, execution: dict) -> list[dict]:
    def history():
        info = client.describe_workflow_execution(domain=DOMAIN, execution=execution)
        if info["executionInfo"]["executionStatus"] != "CLOSED":
            return None
        pages = client.get_paginator("get_workflow_execution_history").paginate(
            domain=DOMAIN, execution=execution
        )
        return [e for page in pages for e in page["events"]]

    return wait_for(history, timeout=60, message=f"{execution['workflowId']} to close")


def attrs(event: dict) -> dict:
    kind = event["eventType"]
    return event.get(kind[0].lower() + kind[1:] + "EventAttributes", {})


def test_register_script_output_like_the_seed(tutorial):
    first = tutorial.run("register.py").splitlines()
    assert first == [
        "boto_tutorial registered successfully",
        "HelloWorkflow registered successfully",
        "SerialWorkflow registered successfully",
        "ParallelWorkflow registered successfully",
        "HelloWorld registered successfully",
        "ActivityA registered successfully",
        "ActivityB registered successfully",
        "ActivityC registered successfully",
    ]
    again = tutorial.run("register.py").splitlines()
    assert again[0] == "Domain boto_tutorial already exists"
    assert again[1] == "WorkflowType HelloWorkflow already exists"
    assert again[-1] == "ActivityType ActivityC already exists"


def test_hello_world_history_is_the_seeds(tutorial, swf_client):
    tutorial.run("register.py")
    execution = tutorial.start("HelloWorkflow")
    assert execution["workflowId"].startswith("HelloWorkflow-1.0-")
    decider = tutorial.spawn("hello_decider.py")
    worker = tutorial.spawn("hello_worker.py")

    events = closed_history(swf_client, execution)
    assert tutorial.finish(worker) == "Hello, World!\n"
    tutorial.finish(decider)

    assert [e["eventType"] for e in events] == [kind for kind, _ in SEED_HELLO_EVENTS]
    assert [e["eventId"] for e in events] == list(range(1, 12))
    for event, (kind, seed_attrs) in zip(events, SEED_HELLO_EVENTS):
        actual = attrs(event)
        for key, value in seed_attrs.items():
            assert actual.get(key) == value, f"{kind}.{key}: {actual.get(key)!r} != {value!r}"

    history = History(events)
    assert history.workflow_type == {"name": "HelloWorkflow", "version": "1.0"}
    assert history.activities["saying_hi"].state == "completed"
    assert history.closed is events[-1]


def test_serial_passes_a_result_to_b(tutorial, swf_client):
    tutorial.run("register.py")
    execution = tutorial.start("SerialWorkflow")
    decider = tutorial.spawn("serial_decider.py")
    workers = [tutorial.spawn("serial_worker.py", name) for name in ("WorkerA", "WorkerB", "WorkerC")]

    events = closed_history(swf_client, execution)
    outputs = [tutorial.finish(worker) for worker in workers]
    tutorial.finish(decider)
    for task_list, output in zip(("a_tasks", "b_tasks", "c_tasks"), outputs):
        assert output.startswith(f"working on activity from tasklist {task_list} at ")

    assert events[-1]["eventType"] == "WorkflowExecutionCompleted"
    scheduled = [attrs(e) for e in events if e["eventType"] == "ActivityTaskScheduled"]
    assert [s["activityType"]["name"] for s in scheduled] == ["ActivityA", "ActivityB", "ActivityC"]
    assert [s["taskList"]["name"] for s in scheduled] == ["a_tasks", "b_tasks", "c_tasks"]
    completed = [attrs(e) for e in events if e["eventType"] == "ActivityTaskCompleted"]
    assert completed[0]["result"] == "Now don't be givin him sambuca!"
    assert scheduled[1]["input"] == completed[0]["result"]
    assert "input" not in scheduled[2]  # WorkerB completes without a result


def test_parallel_completes_after_five_activities(tutorial, swf_client):
    tutorial.run("register.py")
    execution = tutorial.start("ParallelWorkflow")
    decider = tutorial.spawn("parallel_decider.py")
    workers = [tutorial.spawn("parallel_worker.py") for _ in range(2)]

    events = closed_history(swf_client, execution)
    worked = "".join(tutorial.finish(worker) for worker in workers)
    progress = tutorial.finish(decider)

    assert events[-1]["eventType"] == "WorkflowExecutionCompleted"
    history = History(events)
    assert sorted(history.activities) == [f"activity{i}" for i in range(5)]
    assert all(a.state == "completed" and a.attempts == 1 for a in history.activities.values())
    assert sorted(worked.splitlines()) == [f"working on activity{i}" for i in range(5)]
    assert progress.splitlines()[-1] == "5/5"
    completes = [e for e in events if e["eventType"] == "ActivityTaskCompleted"]
    assert len(completes) == 5
    assert all(float(attrs(e)["result"]) > 0 for e in completes)  # the worker's time.time()


def test_actor_script_stops_after_idle_polls(tutorial):
    tutorial.run("register.py")
    proc = tutorial.spawn("hello_worker.py", "--idle-polls", "1")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out == ""
