"""swfd.swf.settings: the seed `swf` library's settings and the default connection
every model, queryset and actor uses when given no client."""

from __future__ import annotations

import dataclasses
import os
import uuid
import warnings

import pytest
from conftest import make_boto3_client

from swfd.actors import ActivityWorker, Decider
from swfd.swf import settings
from swfd.swf.models import (
    DEPRECATED,
    ActivityType,
    DoesNotExist,
    Domain,
    MultipleObjectsReturned,
    NotSupportedBySWF,
    WorkflowExecution,
    WorkflowType,
)
from swfd.swf.querysets import (
    ActivityTypeQuerySet,
    DomainQuerySet,
    WorkflowExecutionQuerySet,
    WorkflowTypeQuerySet,
)

AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SWF", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "region",
)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A temporary HOME with no AWS variables in the environment and no set() settings."""
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    settings.clear()
    yield tmp_path
    settings.clear()


def write_swf_file(home, key_id="file-key", secret="file-secret", region="eu-west-1",
                   endpoint_url=None, mode=0o600):
    path = home / ".swf"
    text = (f"[credentials]\naws_access_key_id={key_id}\naws_secret_access_key={secret}\n"
            f"[defaults]\nregion={region}\n")
    if endpoint_url:
        text += f"endpoint_url={endpoint_url}\n"
    path.write_text(text)
    os.chmod(path, mode)
    return path


def key_of(client) -> str:
    return client._request_signer._credentials.access_key


# --------------------------------------------------------------------------- precedence


def test_without_any_setting_boto3_chain_and_us_east_1(home):
    resolved = settings.get()
    assert resolved["credentials"] is None and resolved["source"] == "boto3"
    assert resolved["region"] == "us-east-1" and resolved["endpoint_url"] is None


def test_swf_file_gives_credentials_and_region(home):
    write_swf_file(home)
    resolved = settings.get()
    assert resolved["credentials"] == {
        "aws_access_key_id": "file-key", "aws_secret_access_key": "file-secret"}
    assert resolved["region"] == "eu-west-1"
    assert resolved["source"] == str(home / ".swf")
    assert key_of(settings.client()) == "file-key"
    assert settings.client().meta.region_name == "eu-west-1"


def test_environment_wins_over_the_file(home, monkeypatch):
    write_swf_file(home)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "env-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.setenv("region", "ap-south-1")
    resolved = settings.get()
    assert resolved["credentials"]["aws_access_key_id"] == "env-key"
    assert resolved["source"] == "environment" and resolved["region"] == "ap-south-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")  # the standard name first
    assert settings.get()["region"] == "us-west-2"
    monkeypatch.setenv("AWS_SESSION_TOKEN", "env-token")  # temporary credentials
    assert settings.client()._request_signer._credentials.token == "env-token"


def test_half_a_pair_in_the_environment_is_not_mixed_with_the_file(home, monkeypatch):
    write_swf_file(home)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "env-key")
    assert settings.get()["credentials"]["aws_access_key_id"] == "file-key"


def test_set_wins_over_environment_and_file_and_rebuilds_the_client(home, monkeypatch):
    write_swf_file(home)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "env-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    before = settings.client()
    assert key_of(before) == "env-key"
    settings.set(aws_access_key_id="set-key", aws_secret_access_key="set-secret",
                 region="sa-east-1")
    after = settings.client()
    assert after is not before and key_of(after) == "set-key"
    assert after.meta.region_name == "sa-east-1"
    assert settings.client() is after  # cached while the settings stay
    settings.set(aws_access_key_id=None, aws_secret_access_key=None, region=None)
    assert key_of(settings.client()) == "env-key"


def test_set_refuses_unknown_settings(home):
    with pytest.raises(TypeError, match="aws_secret_key"):
        settings.set(aws_secret_key="typo")


def test_explicit_client_wins_over_settings(home, local_endpoint, domain):
    settings.set(endpoint_url="http://127.0.0.1:9", aws_access_key_id="x",
                 aws_secret_access_key="x")  # nothing listens there
    client = make_boto3_client(local_endpoint.url)
    assert Domain(domain, client=client).exists
    assert DomainQuerySet(client).get(domain).name == domain
    assert WorkflowTypeQuerySet(domain, client).all() == []
    assert Decider(domain, "tl", client=client).client is client


# --------------------------------------------------------------------------- ~/.swf mode


def test_swf_file_readable_by_others_warns(home):
    write_swf_file(home, mode=0o644)
    with pytest.warns(settings.InsecureSettingsFile, match="chmod 600"):
        assert settings.get()["credentials"]["aws_access_key_id"] == "file-key"


def test_private_swf_file_does_not_warn(home):
    write_swf_file(home, mode=0o600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        settings.get()


# --------------------------------------------------------------------------- default connection


def test_models_querysets_and_actors_use_the_default_connection(home, local_endpoint, swf_client):
    write_swf_file(home, endpoint_url=local_endpoint.url, region="us-east-1")
    name = f"settings-{uuid.uuid4().hex[:8]}"
    Domain(name, retention_period=2).save()
    assert DomainQuerySet().get(name).retention_period == 2
    assert swf_client.describe_domain(name=name)["domainInfo"]["name"] == name

    WorkflowType(name, "Flow", "1.0", task_list="flows",
                 default_execution_start_to_close_timeout="60",
                 default_task_start_to_close_timeout="10",
                 default_child_policy="TERMINATE").save()
    ActivityType(name, "Step", "1.0", task_list="steps").save()
    flow = WorkflowTypeQuerySet(name).get("Flow")
    assert flow.default_task_list == flow.task_list == "flows"
    assert ActivityTypeQuerySet(name).get("Step", "1.0").task_list == "steps"

    executions = WorkflowExecutionQuerySet(name)
    started = executions.create(flow, "wf-1")
    again, created = executions.get_or_create(flow, "wf-1")
    assert not created and again.run_id == started.run_id
    assert WorkflowExecution(name, "wf-1", started.run_id).exists

    decider = Decider(Domain(name), "flows")
    task = decider.poll()
    assert task["workflowExecution"]["workflowId"] == "wf-1"
    worker = ActivityWorker(name, "steps")
    assert "activityId" not in worker.poll(identity="seed-worker")


# --------------------------------------------------------------------------- seed signatures


def test_task_list_is_the_seed_name_of_default_task_list():
    assert WorkflowType("d", "n", "1", task_list="a").default_task_list == "a"
    activity = ActivityType("d", "n", "1", default_task_list="a")
    assert activity.task_list == "a"
    assert dataclasses.replace(activity, default_task_list="b").task_list == "b"
    assert dataclasses.replace(activity, status=DEPRECATED).task_list == "a"


def test_type_get_without_version(home, swf_client, domain):
    qs = WorkflowTypeQuerySet(domain, swf_client)
    with pytest.raises(DoesNotExist, match="'Flow'"):
        qs.get("Flow")
    qs.create("Flow", "1.0", task_list="tl")
    assert qs.get("Flow").version == "1.0"
    qs.create("Flow", "2.0").deprecate()
    with pytest.raises(MultipleObjectsReturned, match="'1.0', '2.0'"):
        qs.get("Flow")
    assert qs.filter(status=DEPRECATED) == [qs.get("Flow", "2.0")]


def test_execution_queryset_argument_order(swf_client, domain):
    flow = WorkflowType(domain, "Flow", "1.0", client=swf_client,
                        default_execution_start_to_close_timeout="60",
                        default_task_start_to_close_timeout="10",
                        default_child_policy="TERMINATE", task_list="tl")
    flow.save()
    qs = WorkflowExecutionQuerySet(domain, swf_client)
    made, created = qs.get_or_create(flow, "wf-x")
    assert created and made.workflow_id == "wf-x"
    with pytest.raises(TypeError, match="type comes first"):
        qs.get_or_create("wf-x", flow)


def test_operations_swf_lacks_say_so():
    with pytest.raises(NotSupportedBySWF, match="SWF has no call to delete a domain"):
        Domain("d").delete()
    with pytest.raises(NotSupportedBySWF, match="SWF has no call to save a workflow execution"):
        WorkflowExecution("d", "wf", "run").save()


def test_activity_worker_poll_takes_kwargs(swf_client, domain):
    from botocore.exceptions import ParamValidationError

    worker = ActivityWorker(domain, "tl", client=swf_client)
    assert "activityId" not in worker.poll(task_list="other", identity="me")
    with pytest.raises(ParamValidationError, match="noSuchParameter"):
        worker.poll(no_such_parameter=1)  # forwarded to PollForActivityTask as given


def test_actor_start_runs_until_stop(swf_client, domain):
    class OneRound(ActivityWorker):
        rounds = 0

        def run(self):
            self.rounds += 1
            self.stop()

    worker = OneRound(domain, "tl", client=swf_client)
    worker.start()
    assert worker.rounds == 1
