"""Models and querysets round trip against the local SWF endpoint."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from swfd.swf.models import (
    CLOSED,
    DEPRECATED,
    OPEN,
    REGISTERED,
    ActivityType,
    AlreadyExists,
    Difference,
    DoesNotExist,
    Domain,
    ModelDiff,
    WorkflowExecution,
    WorkflowType,
)
from swfd.swf.querysets import (
    ActivityTypeQuerySet,
    DomainQuerySet,
    WorkflowExecutionQuerySet,
    WorkflowTypeQuerySet,
)


@pytest.fixture
def client(swf_client):
    return swf_client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def workflow_type(client, domain):
    model = WorkflowType(
        domain,
        "HelloWorkflow",
        "1.0",
        default_task_list="default",
        default_execution_start_to_close_timeout="3600",
        default_task_start_to_close_timeout="300",
        default_child_policy="TERMINATE",
        client=client,
    )
    model.save()
    return model


def test_domain_save_then_exists_and_synced(client):
    name = unique("models")
    local = Domain(name, description="a test domain", retention_period=3, client=client)
    assert not local.exists
    assert not local.is_synced
    with pytest.raises(DoesNotExist, match=name):
        _ = local.changes
    local.save()
    assert local.exists
    assert local.is_synced
    assert local.changes == ModelDiff()
    assert repr(local.changes) == "ModelDiff()"
    assert local.upstream() == local


def test_domain_save_twice_raises_already_exists(client):
    name = unique("models")
    Domain(name, client=client).save()
    with pytest.raises(AlreadyExists, match=name):
        Domain(name, client=client).save()


def test_deprecated_domain_shows_as_a_change_until_pulled(client):
    domain = Domain(unique("models"), client=client)
    domain.save()
    deprecated = domain.deprecate()
    assert deprecated.status == DEPRECATED
    assert domain.status == REGISTERED  # models never change in place
    assert not domain.is_synced
    assert domain.changes == ModelDiff([Difference("status", REGISTERED, DEPRECATED)])
    assert repr(domain.changes) == (
        "ModelDiff(\n    Difference('status', 'REGISTERED', 'DEPRECATED')\n)"
    )
    pulled = domain.upstream()
    assert pulled.is_synced and pulled.status == DEPRECATED
    assert pulled.undeprecate().is_synced
    assert domain.is_synced


def test_domain_queryset_get_filter_get_or_create(client):
    queryset = DomainQuerySet(client)
    name = unique("qs")
    with pytest.raises(DoesNotExist, match=name):
        queryset.get(name)
    created, was_created = queryset.get_or_create(name, retention_period=2)
    assert was_created and created.retention_period == 2
    again, was_created = queryset.get_or_create(name, retention_period=5)
    assert not was_created and again.retention_period == 2
    assert queryset.get(name) == created
    assert [d.name for d in queryset.filter(name=name)] == [name]
    assert name in [d.name for d in queryset.all()]
    created.deprecate()
    assert name in [d.name for d in queryset.filter(status=DEPRECATED)]
    assert name not in [d.name for d in queryset.filter(status=REGISTERED)]
    with pytest.raises(AlreadyExists):
        queryset.create(name)


def test_workflow_type_round_trip(client, domain, workflow_type):
    assert workflow_type.exists
    assert workflow_type.is_synced
    upstream = workflow_type.upstream()
    assert upstream == workflow_type
    assert upstream.creation_date is not None
    different = WorkflowType(
        domain, "HelloWorkflow", "1.0", default_task_list="other", client=client
    )
    assert different.changes == ModelDiff(
        [
            Difference("default_task_list", "other", "default"),
            Difference("default_execution_start_to_close_timeout", None, "3600"),
            Difference("default_task_start_to_close_timeout", None, "300"),
            Difference("default_child_policy", None, "TERMINATE"),
        ]
    )
    with pytest.raises(AlreadyExists, match="HelloWorkflow"):
        workflow_type.save()


def test_type_deprecate_undeprecate_delete(client, domain):
    activity = ActivityType(
        domain, "HelloWorld", "1.0", default_task_list="default",
        default_task_heartbeat_timeout="600", client=client,
    )
    activity.save()
    deprecated = activity.deprecate()
    assert deprecated.is_synced and not activity.is_synced
    assert deprecated.upstream().deprecation_date is not None
    restored = deprecated.undeprecate()
    assert restored.is_synced and restored.status == REGISTERED
    restored.deprecate().delete()
    assert not activity.exists
    with pytest.raises(DoesNotExist, match="HelloWorld"):
        activity.upstream()


def test_type_querysets(client, domain, workflow_type):
    workflows = WorkflowTypeQuerySet(Domain(domain, client=client))
    assert workflows.all() == [workflow_type]
    assert workflows.get("HelloWorkflow", "1.0") == workflow_type
    with pytest.raises(DoesNotExist, match="Nope"):
        workflows.get("Nope", "1.0")
    v2, created = workflows.get_or_create("HelloWorkflow", "2.0", default_task_list="tl2")
    assert created and v2.default_task_list == "tl2"
    _, created = workflows.get_or_create("HelloWorkflow", "2.0", default_task_list="ignored")
    assert not created
    assert {t.version for t in workflows.filter(name="HelloWorkflow")} == {"1.0", "2.0"}
    v2.deprecate()
    assert [t.version for t in workflows.filter(status=DEPRECATED)] == ["2.0"]
    assert [t.version for t in workflows.filter(status=REGISTERED)] == ["1.0"]
    assert workflows.filter(version="2.0")[0].status == DEPRECATED

    activities = ActivityTypeQuerySet(domain, client)
    assert activities.all() == []
    made = activities.create(
        "HelloWorld",
        "1.0",
        default_task_list="default",
        default_task_heartbeat_timeout="600",
        default_task_schedule_to_start_timeout="300",
        default_task_schedule_to_close_timeout="3900",
        default_task_start_to_close_timeout="3600",
        default_task_priority="5",
        description="says hello",
    )
    assert activities.all() == [made]
    assert made.upstream().default_task_priority == "5"


def test_start_takes_every_parameter_and_describes_them(client, domain, workflow_type):
    execution = workflow_type.start(
        "wf-params",
        task_list="elsewhere",
        input="payload",
        execution_start_to_close_timeout="120",
        task_start_to_close_timeout="30",
        child_policy="ABANDON",
        tag_list=["a", "b"],
        task_priority="7",
    )
    assert execution.exists
    described = execution.upstream()
    assert described.task_list == "elsewhere"
    assert described.execution_start_to_close_timeout == "120"
    assert described.task_start_to_close_timeout == "30"
    assert described.child_policy == "ABANDON"
    assert described.task_priority == "7"
    assert described.tag_list == ("a", "b")
    assert described.workflow_type == ("HelloWorkflow", "1.0")
    assert described.status == OPEN
    assert execution.is_synced
    events = execution.history()
    assert events[0]["eventType"] == "WorkflowExecutionStarted"
    attributes = events[0]["workflowExecutionStartedEventAttributes"]
    assert attributes["input"] == "payload"
    assert attributes["taskList"] == {"name": "elsewhere"}


def test_execution_signal_cancel_terminate_and_history(client, domain, workflow_type):
    execution = workflow_type.start("wf-life")
    execution.signal("go", input="now")
    execution.request_cancel()
    assert execution.upstream().cancel_requested
    assert execution.changes == ModelDiff([Difference("cancel_requested", False, True)])
    execution.terminate(reason="done testing", details="details")
    closed = execution.upstream()
    assert closed.status == CLOSED and closed.close_status == "TERMINATED"
    assert {d.attr for d in execution.changes} >= {"status", "close_status", "close_timestamp"}
    types = [e["eventType"] for e in execution.history()]
    assert types[0] == "WorkflowExecutionStarted"
    assert "WorkflowExecutionSignaled" in types
    assert "WorkflowExecutionCancelRequested" in types
    assert types[-1] == "WorkflowExecutionTerminated"
    assert [e["eventType"] for e in execution.history(reverse=True)] == types[::-1]
    with pytest.raises(DoesNotExist, match="wf-life"):
        execution.signal("late")


def test_history_reads_every_page(client, domain, workflow_type):
    execution = workflow_type.start("wf-pages")
    for number in range(30):
        execution.signal(f"s{number}")
    events = execution.history(page_size=7)
    assert len(events) >= 31
    assert [e["eventId"] for e in events] == list(range(1, len(events) + 1))
    assert events == execution.history()
    backwards = execution.history(reverse=True, page_size=4)
    assert [e["eventId"] for e in backwards] == list(range(len(events), 0, -1))


def test_unknown_execution_does_not_exist(client, domain):
    ghost = WorkflowExecution(domain, "ghost", "0123456789", client=client)
    assert not ghost.exists
    with pytest.raises(DoesNotExist, match="ghost"):
        ghost.describe()
    with pytest.raises(DoesNotExist, match="ghost"):
        WorkflowExecutionQuerySet(domain, client).get("ghost")


def test_execution_queryset_filters_and_counts(client, domain, workflow_type):
    queryset = WorkflowExecutionQuerySet(Domain(domain, client=client))
    other = WorkflowTypeQuerySet(domain, client).create(
        "Other",
        "1.0",
        default_task_list="x",
        default_execution_start_to_close_timeout="600",
        default_task_start_to_close_timeout="60",
        default_child_policy="TERMINATE",
    )
    first = queryset.create(workflow_type, "wf-a", tag_list=["red"], input="1")
    second = queryset.create(("HelloWorkflow", "1.0"), "wf-b", tag_list=["red", "blue"])
    third = queryset.create(other, "wf-c", tag_list=["blue"])
    third.terminate(reason="test")
    second.request_cancel()
    second.terminate()

    assert {e.workflow_id for e in queryset.all()} == {"wf-a", "wf-b", "wf-c"}
    assert [e.workflow_id for e in queryset.filter(OPEN)] == ["wf-a"]
    assert {e.workflow_id for e in queryset.filter(CLOSED)} == {"wf-b", "wf-c"}
    assert {e.workflow_id for e in queryset.filter(tag="red")} == {"wf-a", "wf-b"}
    assert [e.workflow_id for e in queryset.filter(CLOSED, tag="red")] == ["wf-b"]
    assert {e.workflow_id for e in queryset.filter(workflow_type="HelloWorkflow")} == {
        "wf-a",
        "wf-b",
    }
    # SWF takes one of these filters per call; the rest is applied locally
    assert [
        e.workflow_id
        for e in queryset.filter(workflow_type=("HelloWorkflow", "1.0"), tag="blue")
    ] == ["wf-b"]
    assert [e.workflow_id for e in queryset.filter(workflow_id="wf-c")] == ["wf-c"]
    terminated_blue = queryset.filter(close_status="TERMINATED", tag="blue")
    assert {e.workflow_id for e in terminated_blue} == {"wf-b", "wf-c"}
    now = datetime.now(timezone.utc)
    assert queryset.filter(start_oldest=now + timedelta(hours=1)) == []
    assert len(queryset.filter(CLOSED, close_oldest=now - timedelta(hours=1))) == 2
    assert queryset.filter(CLOSED, close_latest=now - timedelta(hours=1)) == []

    assert queryset.count(OPEN) == 1
    assert queryset.count(CLOSED) == 2
    assert queryset.count() == 3
    assert queryset.count(tag="red") == 2
    assert queryset.count(close_status="TERMINATED") == 2
    assert queryset.count(workflow_type="HelloWorkflow", tag="blue") == 1

    assert queryset.get("wf-a") == first.upstream()
    got, created = queryset.get_or_create(workflow_type, "wf-a")
    assert not created and got.run_id == first.run_id
    fresh, created = queryset.get_or_create(workflow_type, "wf-b", input="again")
    assert created and fresh.run_id != second.run_id
    assert queryset.get("wf-b").run_id == fresh.run_id  # the latest run
    assert queryset.get("wf-b", second.run_id).status == CLOSED
