"""List* and Count* semantics as the SWF API reference documents them.

Sources: ListOpenWorkflowExecutions / CountOpenWorkflowExecutions
("executionFilter, typeFilter and tagFilter are mutually exclusive. You can
specify at most one of these in a request"; reverseOrder: "By default the
results are returned in descending order of the start time of the
executions"), ListClosedWorkflowExecutions / CountClosedWorkflowExecutions
("startTimeFilter and closeTimeFilter are mutually exclusive. You must
specify one of these in a request but not both"; closeStatusFilter,
executionFilter, typeFilter and tagFilter mutually exclusive; descending
order of the start or close time), ListDomains / ListActivityTypes /
ListWorkflowTypes ("ascending alphabetical order by name"), WorkflowTypeFilter
(version optional) and nextPageToken ("Keep all other arguments unchanged").
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from test_local_support import (  # noqa: F401 (no_internal_failures is autouse)
    no_internal_failures,
    register_workflow_type,
    start,
    unique,
)

ALL_TIME = {"oldestDate": 0}


def ids(infos) -> list[str]:
    return [info["execution"]["workflowId"] for info in infos]


def error_code(call, **params) -> str:
    with pytest.raises(ClientError) as caught:
        call(**params)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return caught.value.response["Error"]["Code"]


@pytest.fixture
def executions(swf_client, domain):
    """Three executions of W (tags t0..t2) and one of V, in start order; the first of W
    is terminated, then the third of W: so close order is the reverse of start order."""
    client = swf_client
    register_workflow_type(client, domain, "W")
    register_workflow_type(client, domain, "W", version="2.0")
    register_workflow_type(client, domain, "V")
    started = [start(client, domain, "W", workflow_id=f"w{i}", taskList={"name": unique("tl")},
                     tagList=[f"t{i}", "all"]) for i in range(3)]
    client.start_workflow_execution(domain=domain, workflowId="w3",
                                    workflowType={"name": "W", "version": "2.0"},
                                    taskList={"name": unique("tl")})
    started.append(start(client, domain, "V", workflow_id="v0", taskList={"name": unique("tl")}))
    client.terminate_workflow_execution(domain=domain, workflowId="w2")
    client.terminate_workflow_execution(domain=domain, workflowId="w0")
    return started


def test_open_list_order_and_filters(swf_client, domain, executions):
    client = swf_client

    def listed(**params):
        return ids(client.list_open_workflow_executions(
            domain=domain, startTimeFilter=ALL_TIME, **params)["executionInfos"])

    assert listed() == ["v0", "w3", "w1"]  # newest start first
    assert listed(reverseOrder=True) == ["w1", "w3", "v0"]
    assert listed(typeFilter={"name": "W"}) == ["w3", "w1"]  # any version
    assert listed(typeFilter={"name": "W", "version": "2.0"}) == ["w3"]
    assert listed(tagFilter={"tag": "t1"}) == ["w1"]
    assert listed(executionFilter={"workflowId": "w1"}) == ["w1"]
    assert listed(executionFilter={"workflowId": "w0"}) == []  # closed
    infos = client.list_open_workflow_executions(domain=domain, startTimeFilter=ALL_TIME,
                                                 tagFilter={"tag": "t1"})["executionInfos"]
    assert infos[0]["executionStatus"] == "OPEN"
    assert infos[0]["tagList"] == ["t1", "all"]
    assert infos[0]["workflowType"] == {"name": "W", "version": "1.0"}

    count = client.count_open_workflow_executions(domain=domain, startTimeFilter=ALL_TIME,
                                                  typeFilter={"name": "W"})
    assert (count["count"], count["truncated"]) == (2, False)
    assert client.count_open_workflow_executions(
        domain=domain, startTimeFilter=ALL_TIME, tagFilter={"tag": "all"})["count"] == 1


def test_time_filters_bound_by_start_time(swf_client, domain, executions):
    client = swf_client
    infos = client.list_open_workflow_executions(domain=domain,
                                                 startTimeFilter=ALL_TIME)["executionInfos"]
    newest = max(info["startTimestamp"] for info in infos)
    later = client.list_open_workflow_executions(
        domain=domain, startTimeFilter={"oldestDate": newest})["executionInfos"]
    assert ids(later) == ["v0"]
    none_yet = client.list_open_workflow_executions(
        domain=domain, startTimeFilter={"oldestDate": 0, "latestDate": 1})["executionInfos"]
    assert none_yet == []


def test_closed_list_order_and_filters(swf_client, domain, executions):
    client = swf_client

    def listed(**params):
        return ids(client.list_closed_workflow_executions(domain=domain,
                                                          **params)["executionInfos"])

    assert listed(startTimeFilter=ALL_TIME) == ["w2", "w0"]  # newest start first
    assert listed(closeTimeFilter=ALL_TIME) == ["w0", "w2"]  # newest close first
    assert listed(closeTimeFilter=ALL_TIME, reverseOrder=True) == ["w2", "w0"]
    assert listed(startTimeFilter=ALL_TIME, closeStatusFilter={"status": "TERMINATED"}) == [
        "w2", "w0"]
    assert listed(startTimeFilter=ALL_TIME, closeStatusFilter={"status": "COMPLETED"}) == []
    assert listed(startTimeFilter=ALL_TIME, tagFilter={"tag": "t0"}) == ["w0"]
    assert listed(startTimeFilter=ALL_TIME, executionFilter={"workflowId": "w2"}) == ["w2"]
    assert listed(startTimeFilter=ALL_TIME, typeFilter={"name": "V"}) == []
    info = client.list_closed_workflow_executions(
        domain=domain, closeTimeFilter=ALL_TIME)["executionInfos"][0]
    assert info["executionStatus"] == "CLOSED"
    assert info["closeStatus"] == "TERMINATED"
    assert info["closeTimestamp"] >= info["startTimestamp"]
    count = client.count_closed_workflow_executions(domain=domain, closeTimeFilter=ALL_TIME,
                                                    closeStatusFilter={"status": "TERMINATED"})
    assert (count["count"], count["truncated"]) == (2, False)


def test_filters_are_mutually_exclusive(swf_client, domain, executions):
    client = swf_client
    for call in (client.list_open_workflow_executions, client.count_open_workflow_executions):
        for pair in [
            {"executionFilter": {"workflowId": "w1"}, "tagFilter": {"tag": "t1"}},
            {"typeFilter": {"name": "W"}, "tagFilter": {"tag": "t1"}},
            {"executionFilter": {"workflowId": "w1"}, "typeFilter": {"name": "W"}},
        ]:
            assert error_code(call, domain=domain, startTimeFilter=ALL_TIME,
                              **pair) == "ValidationException", (call.__name__, pair)
    for call in (client.list_closed_workflow_executions,
                 client.count_closed_workflow_executions):
        assert error_code(call, domain=domain, startTimeFilter=ALL_TIME,
                          closeStatusFilter={"status": "TERMINATED"},
                          typeFilter={"name": "W"}) == "ValidationException"
        assert error_code(call, domain=domain, startTimeFilter=ALL_TIME,
                          closeTimeFilter=ALL_TIME) == "ValidationException"
        assert error_code(call, domain=domain) == "ValidationException"


def test_pages_cover_the_list_once(swf_client, domain, executions):
    client = swf_client
    seen: list[str] = []
    token = None
    for _ in range(10):
        params = {"nextPageToken": token} if token else {}
        page = client.list_closed_workflow_executions(domain=domain, startTimeFilter=ALL_TIME,
                                                      maximumPageSize=1, **params)
        seen += ids(page["executionInfos"])
        token = page.get("nextPageToken")
        if not token:
            break
    assert seen == ["w2", "w0"]

    first = client.list_open_workflow_executions(domain=domain, startTimeFilter=ALL_TIME,
                                                 maximumPageSize=2)
    assert ids(first["executionInfos"]) == ["v0", "w3"]
    rest = client.list_open_workflow_executions(domain=domain, startTimeFilter=ALL_TIME,
                                                maximumPageSize=2,
                                                nextPageToken=first["nextPageToken"])
    assert ids(rest["executionInfos"]) == ["w1"]
    assert "nextPageToken" not in rest
    # A page that holds exactly the rest has no token.
    exact = client.list_open_workflow_executions(domain=domain, startTimeFilter=ALL_TIME,
                                                 maximumPageSize=3)
    assert len(exact["executionInfos"]) == 3 and "nextPageToken" not in exact
    # A token that is not one the service made is a client error, not a 500.
    error_code(client.list_open_workflow_executions, domain=domain, startTimeFilter=ALL_TIME,
               nextPageToken="not-a-token")


def test_domains_and_types_list_by_name(swf_client):
    client = swf_client
    prefix = unique("z")
    names = [f"{prefix}-b", f"{prefix}-a", f"{prefix}-c"]
    for name in names:
        client.register_domain(name=name, workflowExecutionRetentionPeriodInDays="1")
    client.deprecate_domain(name=names[2])

    listed = [d["name"] for d in client.list_domains(registrationStatus="REGISTERED")["domainInfos"]
              if d["name"].startswith(prefix)]
    assert listed == sorted(names[:2])
    listed = [d["name"] for d in client.list_domains(
        registrationStatus="REGISTERED", reverseOrder=True)["domainInfos"]
        if d["name"].startswith(prefix)]
    assert listed == sorted(names[:2], reverse=True)
    deprecated = client.list_domains(registrationStatus="DEPRECATED")["domainInfos"]
    assert [d["name"] for d in deprecated if d["name"].startswith(prefix)] == [names[2]]

    domain = names[0]
    for name in ["beta", "alpha", "gamma"]:
        client.register_activity_type(domain=domain, name=name, version="1")
        client.register_workflow_type(domain=domain, name=name, version="1")
    client.deprecate_activity_type(domain=domain, activityType={"name": "gamma", "version": "1"})
    types = client.list_activity_types(domain=domain, registrationStatus="REGISTERED")
    assert [t["activityType"]["name"] for t in types["typeInfos"]] == ["alpha", "beta"]
    assert all(t["status"] == "REGISTERED" for t in types["typeInfos"])
    types = client.list_activity_types(domain=domain, registrationStatus="REGISTERED",
                                       reverseOrder=True)
    assert [t["activityType"]["name"] for t in types["typeInfos"]] == ["beta", "alpha"]
    types = client.list_activity_types(domain=domain, registrationStatus="DEPRECATED")
    assert [t["activityType"]["name"] for t in types["typeInfos"]] == ["gamma"]
    assert "deprecationDate" in types["typeInfos"][0]
    types = client.list_workflow_types(domain=domain, registrationStatus="REGISTERED",
                                       name="beta")
    assert [t["workflowType"] for t in types["typeInfos"]] == [{"name": "beta", "version": "1"}]
    page = client.list_workflow_types(domain=domain, registrationStatus="REGISTERED",
                                      maximumPageSize=2)
    assert len(page["typeInfos"]) == 2 and page["nextPageToken"]
    rest = client.list_workflow_types(domain=domain, registrationStatus="REGISTERED",
                                      maximumPageSize=2, nextPageToken=page["nextPageToken"])
    assert [t["workflowType"]["name"] for t in rest["typeInfos"]] == ["gamma"]
