"""swfd.swf.executions: start by name, latest run, waiting with a deadline, retry bounds."""

from __future__ import annotations

import pytest
from botocore.exceptions import EndpointConnectionError

from swfd.swf import executions
from swfd.swf.client import EMBEDDED_CREDENTIALS, make_client
from swfd.swf.models import CLOSED, OPEN, DoesNotExist, Domain, WorkflowType, retry_bounds
from swfd.testing import free_port


@pytest.fixture
def workflow_type(swf_client, domain):
    model = WorkflowType(
        Domain(domain, client=swf_client),
        "Waited",
        "1.0",
        default_task_list="nobody",
        default_execution_start_to_close_timeout="600",
        default_task_start_to_close_timeout="60",
        default_child_policy="TERMINATE",
        client=swf_client,
    )
    model.save()
    return model


class FakeClock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_start_by_name_then_find_the_latest_run(swf_client, domain, workflow_type):
    assert workflow_type.domain == domain  # a Domain model is taken by name
    first = executions.start_workflow_execution(
        swf_client, domain, "Waited", "1.0", "job-1", input="x", tag_list=["t"]
    )
    assert executions.latest_run_id(swf_client, domain, "job-1") == first.run_id
    first.terminate()
    assert executions.latest_run_id(swf_client, domain, "job-1") == first.run_id
    second = executions.start_workflow_execution(swf_client, domain, "Waited", "1.0", "job-1")
    assert executions.latest_run_id(swf_client, domain, "job-1") == second.run_id
    got = executions.get_execution(swf_client, domain, "job-1")
    assert (got.run_id, got.status) == (second.run_id, OPEN)
    assert executions.get_execution(swf_client, domain, "job-1", first.run_id).status == CLOSED
    with pytest.raises(DoesNotExist, match="'job-2'"):
        executions.latest_run_id(swf_client, domain, "job-2")


def test_generated_workflow_ids_are_unique(swf_client, domain, workflow_type):
    one, two = workflow_type.start(), workflow_type.start()
    assert one.workflow_id != two.workflow_id


def test_wait_until_closed_gives_up_at_the_deadline(workflow_type):
    execution = workflow_type.start("never-decided")
    clock = FakeClock()
    assert executions.wait_until_closed(execution, 5.0, clock=clock, sleep=clock.sleep) is None
    assert clock.now - 1000.0 == pytest.approx(5.0)
    assert max(clock.sleeps) <= 2.0 and len(clock.sleeps) < 50


def test_wait_until_closed_returns_the_closed_execution(workflow_type):
    execution = workflow_type.start("closing")
    clock = FakeClock()

    def terminate_while_waiting(seconds: float) -> None:
        clock.sleep(seconds)
        if len(clock.sleeps) == 2:
            execution.terminate(reason="done")

    closed = executions.wait_until_closed(
        execution, 60.0, clock=clock, sleep=terminate_while_waiting
    )
    assert closed is not None
    assert (closed.status, closed.close_status) == (CLOSED, "TERMINATED")
    assert len(clock.sleeps) == 2


def test_retry_bounds_stop_retries_against_a_dead_endpoint():
    client = make_client(
        f"http://127.0.0.1:{free_port()}", "us-east-1", credentials=EMBEDDED_CREDENTIALS
    )
    with retry_bounds(max_attempts=1), pytest.raises(EndpointConnectionError):
        Domain("anything", client=client).upstream()
