"""The tutorial plugin (plugins/tutorial) runs the seed's three workflows with the seed's histories."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "plugins"))

import swfd_harness as h

import swfd
from swfd.plugins import load_plugins
from swfd.registry import Registry

POOLS = "".join(
    f"[{kind}:{name}]\ntask_list = {name}\nprocesses = 1\n\n"
    for kind, name in [("decider", "default"), ("decider", "default_tasks"),
                       ("worker", "default"), ("worker", "a_tasks"), ("worker", "b_tasks"),
                       ("worker", "c_tasks")]
)

SEED_HELLO = [
    ("WorkflowExecutionStarted", {"childPolicy": "TERMINATE",
                                  "executionStartToCloseTimeout": "3600",
                                  "taskList": {"name": "default"},
                                  "taskStartToCloseTimeout": "300",
                                  "workflowType": {"name": "HelloWorkflow", "version": "1.0"}}),
    ("DecisionTaskScheduled", {"startToCloseTimeout": "300", "taskList": {"name": "default"}}),
    ("DecisionTaskStarted", {"scheduledEventId": 2}),
    ("DecisionTaskCompleted", {"scheduledEventId": 2, "startedEventId": 3}),
    ("ActivityTaskScheduled", {"activityId": "saying_hi",
                               "activityType": {"name": "HelloWorld", "version": "1.0"},
                               "decisionTaskCompletedEventId": 4, "heartbeatTimeout": "600",
                               "scheduleToCloseTimeout": "3900", "scheduleToStartTimeout": "300",
                               "startToCloseTimeout": "3600", "taskList": {"name": "default"}}),
    ("ActivityTaskStarted", {"scheduledEventId": 5}),
    ("ActivityTaskCompleted", {"scheduledEventId": 5, "startedEventId": 6}),
    ("DecisionTaskScheduled", {"startToCloseTimeout": "300", "taskList": {"name": "default"}}),
    ("DecisionTaskStarted", {"scheduledEventId": 8}),
    ("DecisionTaskCompleted", {"scheduledEventId": 8, "startedEventId": 9}),
    ("WorkflowExecutionCompleted", {"decisionTaskCompletedEventId": 10}),
]


@pytest.fixture
def tutorial(local_endpoint, swf_client, domain, tmp_path):
    """Every tutorial pool running as loop threads against the local endpoint."""
    settings = h.load_settings(h.write_config(tmp_path, local_endpoint.url, domain,
                                              plugins="tutorial", pools=POOLS))
    registry = load_plugins(settings)
    h.register_types(swf_client, domain, registry)
    threads = [h.LoopThread(p.kind, settings, p, registry) for p in settings.pools]
    for thread in threads:
        thread.start()
    yield swf_client, domain
    for thread in threads:
        thread.lifecycle.drain("test over")
    for thread in threads:
        thread.stop()


def test_plugin_declares_the_seed_types_on_the_seed_task_lists():
    registry = load_plugins(["tutorial"])
    assert {k: a.task_list for k, a in registry.activities.items()} == {
        ("HelloWorld", "1.0"): "default", ("ActivityA", "1.0"): "a_tasks",
        ("ActivityB", "1.0"): "b_tasks", ("ActivityC", "1.0"): "c_tasks",
    }
    assert {k: w.task_list for k, w in registry.workflows.items()} == {
        ("HelloWorkflow", "1.0"): "default", ("SerialWorkflow", "1.0"): "default_tasks",
        ("ParallelWorkflow", "1.0"): "default",
        ("HelloWorkflowAsync", "1.0"): "default",
        ("SerialWorkflowAsync", "1.0"): "default_tasks",
        ("ParallelWorkflowAsync", "1.0"): "default",
    }
    assert {d.codec for d in [*registry.activities.values(), *registry.workflows.values()]} == {
        "raw"
    }


def test_hello_workflow_history_is_the_seeds_eleven_events(tutorial):
    client, domain = tutorial
    run = h.start(client, domain, "HelloWorkflow", "1.0")
    events = h.wait_closed(client, domain, run)
    assert [(e["eventId"], e["eventType"]) for e in events] == [
        (i, kind) for i, (kind, _) in enumerate(SEED_HELLO, start=1)
    ]
    for event, (_, expected) in zip(events, SEED_HELLO):
        attrs = h.attrs(event)
        assert {k: attrs.get(k) for k in expected} == expected, event["eventType"]
    assert "result" not in h.attrs(events[6])


def test_serial_workflow_passes_a_result_to_b_then_runs_c(tutorial):
    client, domain = tutorial
    run = h.start(client, domain, "SerialWorkflow", "1.0")
    events = h.wait_closed(client, domain, run)
    assert events[-1]["eventType"] == "WorkflowExecutionCompleted"
    scheduled = [h.attrs(e) for e in events if e["eventType"] == "ActivityTaskScheduled"]
    assert [(s["activityType"]["name"], s["taskList"]["name"]) for s in scheduled] == [
        ("ActivityA", "a_tasks"), ("ActivityB", "b_tasks"), ("ActivityC", "c_tasks")
    ]
    assert scheduled[1]["input"] == "Now don't be givin him sambuca!"
    assert "input" not in scheduled[2]
    assert h.attrs(events[0])["taskList"] == {"name": "default_tasks"}


def test_parallel_workflow_runs_five_activities_and_completes_when_all_did(tutorial):
    client, domain = tutorial
    run = h.start(client, domain, "ParallelWorkflow", "1.0")
    events = h.wait_closed(client, domain, run)
    assert events[-1]["eventType"] == "WorkflowExecutionCompleted"
    scheduled = [h.attrs(e) for e in events if e["eventType"] == "ActivityTaskScheduled"]
    assert sorted(s["activityId"] for s in scheduled) == [f"activity{i}" for i in range(5)]
    assert {s["taskList"]["name"] for s in scheduled} == {"default"}
    assert h.types(events).count("ActivityTaskCompleted") == 5


@pytest.fixture
def hello_with_worker(local_endpoint, swf_client, domain, tmp_path):
    """The tutorial's deciders, and a worker whose HelloWorld handler the test supplies."""
    settings = h.load_settings(h.write_config(tmp_path, local_endpoint.url, domain,
                                              plugins="tutorial", pools=POOLS))
    registry = load_plugins(settings)
    h.register_types(swf_client, domain, registry)
    threads: list[h.LoopThread] = []

    def start(handler):
        worker_registry = Registry.from_defs([handler])
        threads.append(h.LoopThread("decider", settings, h.pool_of(settings, "decider",
                                                                   "default"), registry))
        threads.append(h.LoopThread("worker", settings, h.pool_of(settings, "worker",
                                                                  "default"), worker_registry))
        for thread in threads:
            thread.start()

    yield start
    for thread in threads:
        thread.lifecycle.drain("test over")
    for thread in threads:
        thread.stop()


def test_a_failed_activity_is_retried_and_the_workflow_completes(hello_with_worker, swf_client,
                                                                  domain):
    calls = []

    @swfd.activity("HelloWorld", "1.0", codec="raw")
    def flaky_hello(task):
        calls.append(task.activity_id)
        if len(calls) == 1:
            raise RuntimeError("first attempt fails")

    hello_with_worker(flaky_hello)
    run = h.start(swf_client, domain, "HelloWorkflow", "1.0")
    events = h.wait_closed(swf_client, domain, run)
    assert events[-1]["eventType"] == "WorkflowExecutionCompleted"
    assert calls == ["saying_hi", "saying_hi"]
    assert h.types(events).count("ActivityTaskFailed") == 1


def test_an_activity_failing_every_attempt_fails_the_workflow_with_its_reason(
        hello_with_worker, swf_client, domain):
    @swfd.activity("HelloWorld", "1.0", codec="raw")
    def broken_hello(task):
        raise RuntimeError("no greeting today")

    hello_with_worker(broken_hello)
    run = h.start(swf_client, domain, "HelloWorkflow", "1.0")
    events = h.wait_closed(swf_client, domain, run)
    assert events[-1]["eventType"] == "WorkflowExecutionFailed"
    assert h.attrs(events[-1])["reason"] == (
        "HelloWorld saying_hi failed 3 times: RuntimeError: no greeting today"
    )
    assert h.types(events).count("ActivityTaskFailed") == 3


def test_plugin_uses_only_the_public_api():
    """The tutorial is the example plugin: nothing a third-party plugin could not use."""
    import ast

    import swfd_tutorial

    tree = ast.parse(Path(swfd_tutorial.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    from_swfd = [node.module for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("swfd")]
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id == "swfd"}
    assert "swfd" in imported and not from_swfd
    assert used and used <= set(swfd.__all__)
