"""Cross-check with moto: for scenarios moto's SWF handles correctly (the tutorial's three
workflows, timers, markers, signals, failing and canceling the workflow itself), the
local endpoint's event-type sequences equal moto's.

Each scenario is one function run against both backends with the same plain
boto3 calls. moto runs in-process (``mock_aws``); its part runs first, outside
any use of the local endpoint.
"""

from __future__ import annotations

import boto3
import pytest
import test_local_tutorial as tutorial
from moto import mock_aws
from test_local_support import (  # noqa: F401 (no_internal_failures is autouse)
    decision,
    event_types,
    find,
    history,
    no_internal_failures,
    poll_decision,
    register_tutorial,
    respond,
    start,
)

from swfd.testing import wait_for

DOMAIN = tutorial.DOMAIN


def _timer(client, domain=DOMAIN) -> dict:
    execution = start(client, domain, "HelloWorkflow", taskList={"name": "default"})
    task = poll_decision(client, domain, "default")
    respond(client, task, [decision("StartTimer", timerId="t1", startToFireTimeout="1")])
    wait_for(
        lambda: find(history(client, domain, execution), "TimerFired"),
        timeout=10,
        message="TimerFired",
    )
    task = poll_decision(client, domain, "default")
    respond(client, task, [decision("CompleteWorkflowExecution")])
    return execution


def _marker(client, domain=DOMAIN) -> dict:
    execution = start(client, domain, "HelloWorkflow", taskList={"name": "default"})
    task = poll_decision(client, domain, "default")
    respond(client, task, [decision("RecordMarker", markerName="m1", details="d")])
    client.signal_workflow_execution(domain=domain, signalName="go", input="x", **execution)
    task = poll_decision(client, domain, "default")
    respond(
        client,
        task,
        [
            decision("RecordMarker", markerName="m2"),
            decision("CompleteWorkflowExecution", result="ok"),
        ],
    )
    return execution


def _fail(client, domain=DOMAIN) -> dict:
    execution = start(client, domain, "HelloWorkflow", taskList={"name": "default"})
    task = poll_decision(client, domain, "default")
    respond(client, task, [decision("FailWorkflowExecution", reason="r", details="d")])
    return execution


def _cancel(client, domain=DOMAIN) -> dict:
    execution = start(client, domain, "HelloWorkflow", taskList={"name": "default"})
    task = poll_decision(client, domain, "default")
    respond(client, task, [decision("CancelWorkflowExecution", details="d")])
    return execution


def _activity_failed(client, domain=DOMAIN) -> dict:
    execution = start(client, domain, "HelloWorkflow", taskList={"name": "default"})
    task = poll_decision(client, domain, "default")
    respond(client, task, [tutorial.schedule_activity("a", "HelloWorld", task_list="default")])
    work = client.poll_for_activity_task(domain=domain, taskList={"name": "default"})
    client.respond_activity_task_failed(taskToken=work["taskToken"], reason="boom")
    task = poll_decision(client, domain, "default")
    respond(client, task, [decision("FailWorkflowExecution", reason="activity failed")])
    return execution


def _parallel_interleaved(client, domain=DOMAIN) -> dict:
    """The seed's parallel workflow with the decider answering after each completion.

    (With completions piling up while no decider runs, SWF folds them into one
    decision task; moto schedules one per completion, so that order is checked
    against the endpoint alone in test_local_tutorial.py.)
    """
    execution = start(client, domain, "ParallelWorkflow", taskList={"name": "default"})
    assert tutorial.parallel_decider(client, domain)
    seen: list = []
    for _ in range(tutorial.SCHED_COUNT):
        assert tutorial.parallel_worker(client, seen, domain)
        assert tutorial.parallel_decider(client, domain)
    return execution


SCENARIOS = {
    "hello": tutorial.run_hello,
    "serial": tutorial.run_serial,
    "parallel": _parallel_interleaved,
    "timer": _timer,
    "marker-and-signal": _marker,
    "fail": _fail,
    "cancel": _cancel,
    "activity-failed": _activity_failed,
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_event_types_match_moto(swf_client, name):
    scenario = SCENARIOS[name]
    with mock_aws():
        moto_client = boto3.client(
            "swf", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        register_tutorial(moto_client)
        moto_types = event_types(history(moto_client, DOMAIN, scenario(moto_client)))

    register_tutorial(swf_client)
    local_types = event_types(history(swf_client, DOMAIN, scenario(swf_client)))
    assert local_types == moto_types
    assert local_types[-1].startswith("WorkflowExecution")
