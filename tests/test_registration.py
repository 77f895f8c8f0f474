"""register_all: idempotent registration of the domain and plugin types, and drift reports."""

from __future__ import annotations

import dataclasses
import types
import uuid

import pytest

import swfd
from swfd.registry import Registry
from swfd.swf.models import DEPRECATED, ActivityType, Domain, WorkflowType
from swfd.swf.registration import register_all


@swfd.activity("HelloWorld", "1.0", task_list="default", heartbeat_timeout=600,
               start_to_close_timeout=3600, codec="raw")
def hello(task):
    return "Hello, World!"


@swfd.activity("Shout", "2.0", task_list="loud", heartbeat_timeout="NONE", task_priority=3,
               description="says it loudly")
def shout(task):
    return task.input.upper()


@swfd.workflow("HelloWorkflow", "1.0", task_list="default", child_policy="ABANDON",
               execution_start_to_close_timeout=600, task_start_to_close_timeout="NONE")
def hello_workflow(task):
    return swfd.Decisions()


def registry_of(*definitions) -> Registry:
    return Registry.from_defs(list(definitions))


@pytest.fixture
def new_domain() -> str:
    return f"reg-{uuid.uuid4().hex[:10]}"


def test_register_all_registers_domain_and_types_with_their_defaults(swf_client, new_domain):
    lines = register_all(swf_client, new_domain, registry_of(hello, shout, hello_workflow), 3)
    assert lines == []
    domain = Domain(new_domain, client=swf_client).upstream()
    assert domain.retention_period == 3
    activity = ActivityType(new_domain, "Shout", "2.0", client=swf_client).upstream()
    assert activity.default_task_list == "loud"
    assert activity.default_task_heartbeat_timeout == "NONE"
    assert activity.default_task_start_to_close_timeout == "3600"
    assert activity.default_task_schedule_to_start_timeout == "300"
    assert activity.default_task_schedule_to_close_timeout == "3900"
    assert activity.default_task_priority == "3"
    assert activity.description == "says it loudly"
    workflow = WorkflowType(new_domain, "HelloWorkflow", "1.0", client=swf_client).upstream()
    assert workflow.default_child_policy == "ABANDON"
    assert workflow.default_execution_start_to_close_timeout == "600"
    assert workflow.default_task_start_to_close_timeout == "NONE"
    assert workflow.default_task_list == "default"


def test_register_all_twice_is_a_no_op(swf_client, new_domain):
    registry = registry_of(hello, shout, hello_workflow)
    assert register_all(swf_client, new_domain, registry, 1) == []
    assert register_all(swf_client, new_domain, registry, 1) == []
    listed = swf_client.list_activity_types(domain=new_domain, registrationStatus="REGISTERED")
    assert sorted(t["activityType"]["name"] for t in listed["typeInfos"]) == ["HelloWorld", "Shout"]


def test_changed_defaults_are_reported_not_ignored(swf_client, new_domain):
    register_all(swf_client, new_domain, registry_of(hello, hello_workflow), 1)
    changed_activity = dataclasses.replace(hello, heartbeat_timeout="300", task_list="other")
    changed_workflow = dataclasses.replace(hello_workflow, child_policy="TERMINATE")
    lines = register_all(swf_client, new_domain, registry_of(changed_activity, changed_workflow), 7)
    assert [(d.kind, d.field, d.upstream, d.declared) for d in lines] == [
        ("domain", "workflowExecutionRetentionPeriodInDays", "1", "7"),
        ("activity", "defaultTaskList", "default", "other"),
        ("activity", "defaultTaskHeartbeatTimeout", "600", "300"),
        ("workflow", "defaultChildPolicy", "ABANDON", "TERMINATE"),
    ]
    assert [str(d) for d in lines] == [
        (f"Domain {new_domain}: workflowExecutionRetentionPeriodInDays is '1' upstream, "
        "config declares '7'"),
        ("ActivityType HelloWorld 1.0: defaultTaskList is 'default' upstream, "
        "plugin declares 'other'"),
        ("ActivityType HelloWorld 1.0: defaultTaskHeartbeatTimeout is '600' upstream, "
        "plugin declares '300'"),
        ("WorkflowType HelloWorkflow 1.0: defaultChildPolicy is 'ABANDON' upstream, "
        "plugin declares 'TERMINATE'"),
    ]
    # SWF keeps what was registered first
    upstream = ActivityType(new_domain, "HelloWorld", "1.0", client=swf_client).upstream()
    assert upstream.default_task_heartbeat_timeout == "600"


def test_deprecated_type_and_domain_are_reported(swf_client, new_domain):
    register_all(swf_client, new_domain, registry_of(hello), 1)
    ActivityType(new_domain, "HelloWorld", "1.0", client=swf_client).deprecate()
    lines = register_all(swf_client, new_domain, registry_of(hello), 1)
    assert lines[0].as_dict() == {
        "kind": "activity", "name": "HelloWorld", "version": "1.0", "field": "status",
        "upstream": DEPRECATED, "declared": None, "message": str(lines[0])}
    assert [str(line) for line in lines] == [
        (f"ActivityType HelloWorld 1.0: is {DEPRECATED} upstream; "
        "deciders cannot schedule a deprecated type")
    ]
    Domain(new_domain, client=swf_client).deprecate()
    lines = register_all(swf_client, new_domain, registry_of(), 1)
    assert (lines[0].kind, lines[0].name, lines[0].field) == ("domain", new_domain, "status")
    assert [str(line) for line in lines] == [
        f"Domain {new_domain}: is DEPRECATED upstream; no new executions can start"
    ]


def test_any_object_with_the_definition_attributes_registers(swf_client, new_domain):
    @dataclasses.dataclass
    class PlainActivity:
        name: str = "Plain"
        version: str = "1"
        task_list: str = "plain"
        heartbeat_timeout: int = 60
        start_to_close_timeout: int = 120
        schedule_to_start_timeout: str = "NONE"
        schedule_to_close_timeout: str = "NONE"

    plain = types.SimpleNamespace(activities={("Plain", "1"): PlainActivity()}, workflows={})
    assert register_all(swf_client, new_domain, plain, 1) == []
    assert register_all(swf_client, new_domain, plain, 1) == []
    upstream = ActivityType(new_domain, "Plain", "1", client=swf_client).upstream()
    assert upstream.default_task_heartbeat_timeout == "60"
    assert upstream.default_task_schedule_to_close_timeout == "NONE"
