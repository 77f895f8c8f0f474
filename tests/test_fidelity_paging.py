"""Page tokens resume where the previous page stopped, even when the list changed.

Sources: every List*/GetWorkflowExecutionHistory/PollForDecisionTask page of the
API reference: "If NextPageToken is returned there are more results available.
... To retrieve the next page of results, make the call again using the returned
token in nextPageToken. Keep all other arguments unchanged." A client paging a
live list (a console, simpleflow's listings, a history tail read newest first)
must see each item once. Also: a token the service did not make is a client
error (400), never a 500.
"""

from __future__ import annotations

import base64
import json

import pytest
from botocore.exceptions import ClientError
from test_local_support import (  # noqa: F401 (no_internal_failures is autouse)
    no_internal_failures,
    register_activity_type,
    register_workflow_type,
    start,
    unique,
)


def test_reverse_history_pages_do_not_repeat_events_added_between_pages(swf_client, domain):
    client = swf_client
    register_workflow_type(client, domain, "W")
    ex = start(client, domain, "W", taskList={"name": unique("tl")})
    for i in range(5):
        client.signal_workflow_execution(domain=domain, workflowId=ex["workflowId"],
                                         signalName=f"s{i}")
    first = client.get_workflow_execution_history(domain=domain, execution=ex,
                                                  reverseOrder=True, maximumPageSize=3)
    assert [e["eventId"] for e in first["events"]] == [7, 6, 5]
    for i in range(2):
        client.signal_workflow_execution(domain=domain, workflowId=ex["workflowId"],
                                         signalName=f"later{i}")
    second = client.get_workflow_execution_history(domain=domain, execution=ex,
                                                   reverseOrder=True, maximumPageSize=3,
                                                   nextPageToken=first["nextPageToken"])
    assert [e["eventId"] for e in second["events"]] == [4, 3, 2]


def test_open_list_pages_do_not_repeat_an_execution_started_between_pages(swf_client, domain):
    client = swf_client
    register_workflow_type(client, domain, "W")
    for i in range(4):
        start(client, domain, "W", workflow_id=f"w{i}", taskList={"name": unique("tl")})
    first = client.list_open_workflow_executions(domain=domain, startTimeFilter={"oldestDate": 0},
                                                 maximumPageSize=2)
    seen = [i["execution"]["workflowId"] for i in first["executionInfos"]]
    assert seen == ["w3", "w2"]
    start(client, domain, "W", workflow_id="w4", taskList={"name": unique("tl")})
    second = client.list_open_workflow_executions(domain=domain,
                                                  startTimeFilter={"oldestDate": 0},
                                                  maximumPageSize=2,
                                                  nextPageToken=first["nextPageToken"])
    assert [i["execution"]["workflowId"] for i in second["executionInfos"]] == ["w1", "w0"]


def test_closed_list_pages_do_not_repeat_an_execution_closed_between_pages(swf_client, domain):
    client = swf_client
    register_workflow_type(client, domain, "W")
    for i in range(5):
        start(client, domain, "W", workflow_id=f"w{i}", taskList={"name": unique("tl")})
    for i in range(4):
        client.terminate_workflow_execution(domain=domain, workflowId=f"w{i}")
    first = client.list_closed_workflow_executions(domain=domain,
                                                   closeTimeFilter={"oldestDate": 0},
                                                   maximumPageSize=2)
    assert [i["execution"]["workflowId"] for i in first["executionInfos"]] == ["w3", "w2"]
    client.terminate_workflow_execution(domain=domain, workflowId="w4")
    second = client.list_closed_workflow_executions(domain=domain,
                                                    closeTimeFilter={"oldestDate": 0},
                                                    maximumPageSize=2,
                                                    nextPageToken=first["nextPageToken"])
    assert [i["execution"]["workflowId"] for i in second["executionInfos"]] == ["w1", "w0"]


def test_type_and_domain_pages_do_not_skip_a_registration_between_pages(swf_client, domain):
    client = swf_client
    for name in ["b", "d", "f"]:
        client.register_activity_type(domain=domain, name=name, version="1")
    first = client.list_activity_types(domain=domain, registrationStatus="REGISTERED",
                                       maximumPageSize=2)
    assert [t["activityType"]["name"] for t in first["typeInfos"]] == ["b", "d"]
    client.register_activity_type(domain=domain, name="a", version="1")  # sorts before
    client.register_activity_type(domain=domain, name="e", version="1")  # sorts after
    second = client.list_activity_types(domain=domain, registrationStatus="REGISTERED",
                                        maximumPageSize=2, nextPageToken=first["nextPageToken"])
    assert [t["activityType"]["name"] for t in second["typeInfos"]] == ["e", "f"]
    assert "nextPageToken" not in second


def test_forward_history_pages_reach_events_added_between_pages(swf_client, domain):
    client = swf_client
    register_workflow_type(client, domain, "W")
    ex = start(client, domain, "W", taskList={"name": unique("tl")})
    first = client.get_workflow_execution_history(domain=domain, execution=ex,
                                                  maximumPageSize=1)
    assert [e["eventId"] for e in first["events"]] == [1]
    client.signal_workflow_execution(domain=domain, workflowId=ex["workflowId"], signalName="s")
    second = client.get_workflow_execution_history(domain=domain, execution=ex,
                                                   maximumPageSize=5,
                                                   nextPageToken=first["nextPageToken"])
    assert [e["eventId"] for e in second["events"]] == [2, 3]
    assert "nextPageToken" not in second


def test_a_token_from_another_list_is_a_validation_error(swf_client, domain):
    client = swf_client
    for name in ["a", "b"]:
        client.register_workflow_type(domain=domain, name=name, version="1")
        client.register_activity_type(domain=domain, name=name, version="1")
    token = client.list_workflow_types(domain=domain, registrationStatus="REGISTERED",
                                       maximumPageSize=1)["nextPageToken"]
    with pytest.raises(ClientError) as caught:
        client.list_activity_types(domain=domain, registrationStatus="REGISTERED",
                                   maximumPageSize=1, nextPageToken=token)
    assert caught.value.response["Error"]["Code"] == "ValidationException"


@pytest.mark.parametrize("token", ["not-base64!", base64.b64encode(b"[1,2]").decode()])
def test_garbage_tokens_are_validation_errors(swf_client, domain, token):
    with pytest.raises(ClientError) as caught:
        swf_client.list_domains(registrationStatus="REGISTERED", nextPageToken=token)
    assert caught.value.response["Error"]["Code"] == "ValidationException"


CRAFTED_KEYS = [5, [], ["x"], [1], [-5], [10**30, 1], ["a", "b"], [None, None], {"a": 1},
                [1.5, "x"]]


def crafted(operation: str, key) -> str:
    """A token that decodes like the endpoint's own but carries a key it never made."""
    return base64.urlsafe_b64encode(json.dumps({"op": operation, "k": key}).encode()).decode()


def test_crafted_page_tokens_are_client_errors(swf_client, domain):
    """Never a 500: a token the service did not make is refused with a 400 (or, if it
    happens to be a key of the right shape, answered as one)."""
    client = swf_client
    register_workflow_type(client, domain, "W")
    ex = start(client, domain, "W")
    client.terminate_workflow_execution(domain=domain, workflowId=ex["workflowId"])
    calls = {
        "GetWorkflowExecutionHistory": lambda t: client.get_workflow_execution_history(
            domain=domain, execution=ex, nextPageToken=t),
        "ListOpenWorkflowExecutions": lambda t: client.list_open_workflow_executions(
            domain=domain, startTimeFilter={"oldestDate": 0}, nextPageToken=t),
        "ListClosedWorkflowExecutions": lambda t: client.list_closed_workflow_executions(
            domain=domain, startTimeFilter={"oldestDate": 0}, nextPageToken=t),
        "ListDomains": lambda t: client.list_domains(registrationStatus="REGISTERED",
                                                     nextPageToken=t),
        "ListWorkflowTypes": lambda t: client.list_workflow_types(
            domain=domain, registrationStatus="REGISTERED", nextPageToken=t),
    }
    failures = []
    for operation, call in calls.items():
        for key in CRAFTED_KEYS:
            try:
                call(crafted(operation, key))
            except ClientError as error:
                status = error.response["ResponseMetadata"]["HTTPStatusCode"]
                if status != 400:
                    failures.append((operation, key, status))
    assert failures == []


CRAFTED_TASK_TOKENS = [5, [], ["A"], ["A", "RUN"], ["A", "RUN", 1, "x"], ["A", "RUN", "x", 1],
                       ["A", [], 1, 1], ["D", "RUN", 2, 3, 4], ["D", "RUN", "2", 3],
                       ["D", None, 2, 3], ["Z", "RUN", 1, 1], [None, None, None, None]]


def test_crafted_task_tokens_are_client_errors(swf_client, domain):
    """A task token the service did not make is a 400 (ValidationException or
    UnknownResourceFault) on every call that takes one, never a 500 or someone's events."""
    client = swf_client
    register_workflow_type(client, domain, "W")
    ex = start(client, domain, "W", taskList={"name": "tl"})
    client.poll_for_decision_task(domain=domain, taskList={"name": "tl"})

    def enc(value) -> str:
        text = json.dumps(value).replace('"RUN"', json.dumps(ex["runId"]))
        return base64.urlsafe_b64encode(text.encode()).decode()

    calls = {
        "RespondActivityTaskCompleted": lambda t: client.respond_activity_task_completed(
            taskToken=t),
        "RecordActivityTaskHeartbeat": lambda t: client.record_activity_task_heartbeat(
            taskToken=t),
        "RespondDecisionTaskCompleted": lambda t: client.respond_decision_task_completed(
            taskToken=t, decisions=[]),
        "PollForDecisionTask page": lambda t: client.poll_for_decision_task(
            domain=domain, taskList={"name": "tl"},
            nextPageToken=enc({"op": "PollForDecisionTask", "o": 1, "t": t})),
    }
    failures = []
    for name, call in calls.items():
        for token in CRAFTED_TASK_TOKENS:
            try:
                call(enc(token))
                failures.append((name, token, 200))
            except ClientError as error:
                status = error.response["ResponseMetadata"]["HTTPStatusCode"]
                if status != 400:
                    failures.append((name, token, status))
    assert failures == []
