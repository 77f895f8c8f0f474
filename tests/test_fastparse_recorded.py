"""The fast parse against botocore's on bodies recorded from real runs: the seed
tutorial's workflows on the local endpoint (every poll, answer and history page plain
boto3 received), and the test plugins' workflows run by a real daemon (their histories,
descriptions and listings)."""

from __future__ import annotations

import botocore.parsers
from conftest import make_boto3_client
from test_fastparse import same
from test_local_support import register_tutorial
from test_local_tutorial import DOMAIN, run_hello, run_parallel_sequentially, run_serial

from swfd.swf.fastparse import FastJSONParser


class Recorder:
    """Keeps every response body a plain boto3 client receives (botocore's before-parse
    event), to parse each again both ways."""

    def __init__(self, client) -> None:
        self.seen: list[tuple] = []
        client.meta.events.register("before-parse.swf", self.keep)

    def keep(self, operation_model, response_dict, **_) -> None:
        self.seen.append((operation_model, dict(response_dict)))

    def check(self) -> set[str]:
        """Every recorded body parsed by botocore and by the fast parser: the same."""
        operations = set()
        for operation_model, response in self.seen:
            shape = operation_model.output_shape
            expected = botocore.parsers.create_parser("json").parse(response, shape)
            fast = FastJSONParser()
            same(fast.parse(response, shape), expected, operation_model.name)
            assert fast.fallbacks == 0 or response["status_code"] >= 300
            operations.add(operation_model.name)
        return operations


def all_of_history(client, domain: str, execution: dict) -> None:
    token = None
    for _ in range(100):
        page = client.get_workflow_execution_history(
            domain=domain, execution=execution, maximumPageSize=7,
            **({"nextPageToken": token} if token else {}))
        token = page.get("nextPageToken")
        if not token:
            return


def test_the_tutorials_recorded_bodies_parse_as_botocore(local_endpoint):
    client = make_boto3_client(local_endpoint.url)
    recorder = Recorder(client)
    register_tutorial(client)
    runs = [run_hello(client), run_serial(client), run_parallel_sequentially(client)]
    for execution in runs:
        all_of_history(client, DOMAIN, execution)
        client.describe_workflow_execution(domain=DOMAIN, execution=execution)
    client.list_closed_workflow_executions(domain=DOMAIN,
                                           startTimeFilter={"oldestDate": 0})
    client.list_activity_types(domain=DOMAIN, registrationStatus="REGISTERED")
    client.list_workflow_types(domain=DOMAIN, registrationStatus="REGISTERED")
    operations = recorder.check()
    assert {"PollForDecisionTask", "PollForActivityTask", "RespondDecisionTaskCompleted",
            "RespondActivityTaskCompleted", "GetWorkflowExecutionHistory",
            "DescribeWorkflowExecution", "ListClosedWorkflowExecutions"} <= operations


def test_the_test_plugins_recorded_histories_parse_as_botocore(daemon):
    d = daemon("[decider:test]\ntask_list = test\nprocesses = 1\n\n"
               "[worker:test]\ntask_list = test\nprocesses = 2\n").start().wait_ready()
    client = make_boto3_client(d.url)
    recorder = Recorder(client)
    d._client, d._client_url = client, d.url
    runs = [d.start_workflow(input={"activity": "Echo", "input": {"n": "é ✓"}, "count": 3}),
            d.start_workflow(input={"activity": "Raise", "input": {"message": "boom"}}),
            d.start_workflow(input={"activity": "RawEcho", "input": "raw", "count": 2})]
    for run in runs:
        d.wait_closed(run, 60)
        all_of_history(client, d.domain, run)
    client.list_closed_workflow_executions(domain=d.domain, startTimeFilter={"oldestDate": 0})
    assert {"GetWorkflowExecutionHistory", "DescribeWorkflowExecution"} <= recorder.check()
