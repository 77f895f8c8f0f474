"""The tutorial's workflows in both styles: the seed's "look at the last event" functions
and their ``async def`` twins (swfd_tutorial.as_code) schedule the same activities in the
same order, on the local endpoint and on moto, and the twins replay the seed style's
own histories."""

from __future__ import annotations

import random

import boto3
import pytest
import swfd_tutorial
from moto import mock_aws
from swfd_tutorial import as_code
from test_flow_support import Driver, decider_errors, scheduled, types

import swfd
from swfd.flow.replay import check_history

PAIRS = {
    "hello": (swfd_tutorial.hello_workflow, as_code.hello_workflow_async),
    "serial": (swfd_tutorial.serial_workflow, as_code.serial_workflow_async),
    "parallel": (swfd_tutorial.parallel_workflow, as_code.parallel_workflow_async),
}
DEFS = [swfd_tutorial.hello_world, swfd_tutorial.activity_a, swfd_tutorial.activity_b,
        swfd_tutorial.activity_c, *(w for pair in PAIRS.values() for w in pair)]


def _task_lists(events):
    return [e["activityTaskScheduledEventAttributes"]["taskList"]["name"]
            for e in events if e["eventType"] == "ActivityTaskScheduled"]


def _run(driver, definition):
    execution = driver.start(definition, raw="")
    events = driver.run(execution)
    assert decider_errors(events) == []
    assert events[-1]["eventType"] == "WorkflowExecutionCompleted"
    return events


@pytest.mark.parametrize("name", list(PAIRS))
def test_both_styles_schedule_the_same_activities_in_the_same_order(
        tmp_path, local_endpoint, swf_client, domain, name):
    seed_style, as_code_style = PAIRS[name]
    driver = Driver(tmp_path, local_endpoint.url, swf_client, domain, DEFS)
    seed_events, async_events = _run(driver, seed_style), _run(driver, as_code_style)
    assert scheduled(async_events) == scheduled(seed_events)
    assert _task_lists(async_events) == _task_lists(seed_events)
    assert types(async_events) == types(seed_events)
    check_history(as_code_style, async_events)
    if name != "serial":  # the seed's Serial names its activities after the clock
        check_history(as_code_style, seed_events)


def test_both_parallel_styles_agree_whatever_order_the_activities_finish(
        tmp_path, local_endpoint, swf_client, domain):
    seed_style, as_code_style = PAIRS["parallel"]
    for seed in range(3):
        driver = Driver(tmp_path, local_endpoint.url, swf_client, domain, DEFS,
                        rng=random.Random(seed))
        seed_events, async_events = _run(driver, seed_style), _run(driver, as_code_style)
        assert sorted(scheduled(async_events)) == sorted(scheduled(seed_events))
        check_history(as_code_style, seed_events)
        check_history(as_code_style, async_events)


def test_a_failing_activity_is_retried_then_fails_the_workflow_in_both_styles(
        tmp_path, local_endpoint, swf_client, domain):
    @swfd.activity("HelloWorld", "1.0", task_list="default", codec="raw")
    def broken_hello(task):
        raise RuntimeError("no greeting today")

    defs = [broken_hello, *PAIRS["hello"]]
    driver = Driver(tmp_path, local_endpoint.url, swf_client, domain, defs)
    outcomes = []
    for definition in PAIRS["hello"]:
        events = driver.run(driver.start(definition, raw=""))
        assert events[-1]["eventType"] == "WorkflowExecutionFailed"
        outcomes.append((types(events).count("ActivityTaskFailed"),
                         [s[0] for s in scheduled(events)]))
    assert outcomes[0] == outcomes[1] == (3, ["HelloWorld"] * 3)


@pytest.mark.parametrize("name", list(PAIRS))
def test_async_twins_histories_match_moto(tmp_path, local_endpoint, swf_client, domain, name):
    definition = PAIRS[name][1]
    (tmp_path / "moto").mkdir()
    with mock_aws():
        moto_client = boto3.client("swf", region_name="us-east-1", aws_access_key_id="x",
                                   aws_secret_access_key="x")
        moto_client.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
        moto_driver = Driver(tmp_path / "moto", local_endpoint.url, moto_client, domain, DEFS)
        moto_events = _run(moto_driver, definition)
    local_driver = Driver(tmp_path, local_endpoint.url, swf_client, domain, DEFS)
    local_events = _run(local_driver, definition)
    assert types(local_events) == types(moto_events)
    assert scheduled(local_events) == scheduled(moto_events)
    check_history(definition, moto_events)
