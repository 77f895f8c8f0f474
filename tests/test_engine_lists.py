"""Engine unit tests: list/count filters and paging, tags, type lifecycle, retention."""

from __future__ import annotations

import pytest
from test_engine_support import (
    ACT,
    WF,
    decide,
    decision,
    describe,
    make_engine,
    poll_decision,
    start,
)

from swfd.local.faults import SWFFault

ARN = "arn:aws:swf:us-east-1:000000000000:/domain/d"


@pytest.fixture
def engine():
    eng = make_engine()
    yield eng
    eng.close()


def close(engine, result="r"):
    decide(engine, poll_decision(engine)["taskToken"],
           decision("CompleteWorkflowExecution", result=result))


def ids(resp):
    return [i["execution"]["workflowId"] for i in resp["executionInfos"]]


def test_list_and_count_open_and_closed(engine):
    for i in range(5):
        start(engine, f"w{i}", tagList=["even" if i % 2 == 0 else "odd"])
    close(engine)  # closes w0 (the first decision task in the queue)
    engine.call("TerminateWorkflowExecution", {"domain": "d", "workflowId": "w1"})
    c = engine.call
    everything = {"domain": "d", "startTimeFilter": {"oldestDate": 0}}
    assert ids(c("ListOpenWorkflowExecutions", everything)) == ["w4", "w3", "w2"]
    assert ids(c("ListOpenWorkflowExecutions", {**everything, "reverseOrder": True})) == [
        "w2", "w3", "w4"]
    assert c("CountOpenWorkflowExecutions", everything) == {"count": 3, "truncated": False}
    assert ids(c("ListOpenWorkflowExecutions", {**everything, "tagFilter": {"tag": "even"}})) \
        == ["w4", "w2"]
    assert ids(c("ListOpenWorkflowExecutions",
                 {**everything, "executionFilter": {"workflowId": "w3"}})) == ["w3"]
    assert ids(c("ListOpenWorkflowExecutions", {**everything, "typeFilter": WF})) == [
        "w4", "w3", "w2"]
    assert ids(c("ListClosedWorkflowExecutions", everything)) == ["w1", "w0"]
    assert ids(c("ListClosedWorkflowExecutions", {
        "domain": "d", "closeTimeFilter": {"oldestDate": 0},
        "closeStatusFilter": {"status": "TERMINATED"}})) == ["w1"]
    assert ids(c("ListClosedWorkflowExecutions", {**everything, "tagFilter": {"tag": "even"}})) \
        == ["w0"]
    assert c("CountClosedWorkflowExecutions", everything)["count"] == 2
    with pytest.raises(SWFFault) as err:
        c("ListClosedWorkflowExecutions", {"domain": "d"})
    assert err.value.code == "ValidationException"
    with pytest.raises(SWFFault) as err:
        c("ListOpenWorkflowExecutions", {**everything, "tagFilter": {"tag": "x"},
                                         "typeFilter": WF})
    assert err.value.code == "ValidationException"
    future = {"domain": "d", "startTimeFilter": {"oldestDate": 4102444800}}
    assert ids(c("ListOpenWorkflowExecutions", future)) == []


def test_list_paging(engine):
    for i in range(7):
        start(engine, f"w{i}")
    for _ in range(7):
        close(engine)
    for op in ("ListOpenWorkflowExecutions", "ListClosedWorkflowExecutions"):
        seen, token = [], None
        for _ in range(10):
            params = {"domain": "d", "startTimeFilter": {"oldestDate": 0},
                      "maximumPageSize": 3, "reverseOrder": True}
            if token:
                params["nextPageToken"] = token
            resp = engine.call(op, params)
            seen += ids(resp)
            token = resp.get("nextPageToken")
            if not token:
                break
        expected = [] if op == "ListOpenWorkflowExecutions" else [f"w{i}" for i in range(7)]
        assert seen == expected


def test_domain_tags(engine):
    c = engine.call
    c("TagResource", {"resourceArn": ARN, "tags": [{"key": "a", "value": "1"}, {"key": "b"}]})
    c("UntagResource", {"resourceArn": ARN, "tagKeys": ["b"]})
    assert c("ListTagsForResource", {"resourceArn": ARN}) == {"tags": [{"key": "a",
                                                                         "value": "1"}]}
    with pytest.raises(SWFFault) as err:
        c("TagResource", {"resourceArn": ARN,
                          "tags": [{"key": f"k{i}"} for i in range(51)]})
    assert err.value.code == "TooManyTagsFault"
    with pytest.raises(SWFFault) as err:
        c("ListTagsForResource", {"resourceArn": ARN + "x"})
    assert err.value.code == "UnknownResourceFault"


def test_type_deprecate_undeprecate_delete(engine):
    c = engine.call
    ref = {"domain": "d", "activityType": ACT}
    with pytest.raises(SWFFault) as err:
        c("DeleteActivityType", ref)
    assert err.value.code == "TypeNotDeprecatedFault"
    with pytest.raises(SWFFault) as err:
        c("UndeprecateActivityType", ref)
    assert err.value.code == "TypeAlreadyExistsFault"
    c("DeprecateActivityType", ref)
    with pytest.raises(SWFFault) as err:
        c("DeprecateActivityType", ref)
    assert err.value.code == "TypeDeprecatedFault"
    listed = c("ListActivityTypes", {"domain": "d", "registrationStatus": "DEPRECATED"})
    assert listed["typeInfos"][0]["activityType"] == ACT
    assert "deprecationDate" in listed["typeInfos"][0]
    c("UndeprecateActivityType", ref)
    c("DeprecateActivityType", ref)
    c("DeleteActivityType", ref)
    with pytest.raises(SWFFault) as err:
        c("DescribeActivityType", ref)
    assert err.value.code == "UnknownResourceFault"
    c("DeprecateWorkflowType", {"domain": "d", "workflowType": WF})
    with pytest.raises(SWFFault) as err:
        start(engine)
    assert err.value.code == "TypeDeprecatedFault"


def test_domain_deprecation(engine):
    c = engine.call
    c("DeprecateDomain", {"name": "d"})
    with pytest.raises(SWFFault) as err:
        c("DeprecateDomain", {"name": "d"})
    assert err.value.code == "DomainDeprecatedFault"
    assert c("ListDomains", {"registrationStatus": "DEPRECATED"})["domainInfos"][0]["status"] \
        == "DEPRECATED"
    with pytest.raises(SWFFault):
        start(engine)
    c("UndeprecateDomain", {"name": "d"})
    with pytest.raises(SWFFault) as err:
        c("UndeprecateDomain", {"name": "d"})
    assert err.value.code == "DomainAlreadyExistsFault"


def test_retention_purges_closed_executions(engine):
    engine.call("RegisterDomain", {"name": "r0", "workflowExecutionRetentionPeriodInDays": "0"})
    engine.call("RegisterWorkflowType", {
        "domain": "r0", **WF, "defaultTaskList": {"name": "tl"},
        "defaultExecutionStartToCloseTimeout": "60", "defaultTaskStartToCloseTimeout": "10",
        "defaultChildPolicy": "TERMINATE"})
    run_r0 = engine.call("StartWorkflowExecution",
                         {"domain": "r0", "workflowId": "x", "workflowType": WF})["runId"]
    engine.call("TerminateWorkflowExecution", {"domain": "r0", "workflowId": "x"})
    run_d = start(engine)
    engine.call("TerminateWorkflowExecution", {"domain": "d", "workflowId": "w1"})
    with pytest.raises(SWFFault):
        engine.call("DescribeWorkflowExecution",
                    {"domain": "r0", "execution": {"workflowId": "x", "runId": run_r0}})
    assert engine.retention.sweep() == 1
    assert engine.store.load_execution(run_r0) is None
    assert describe(engine, run_d)["executionInfo"]["closeStatus"] == "TERMINATED"


def test_domain_quota(engine):
    for i in range(99):
        engine.call("RegisterDomain",
                    {"name": f"x{i}", "workflowExecutionRetentionPeriodInDays": "1"})
    with pytest.raises(SWFFault) as err:
        engine.call("RegisterDomain", {"name": "one-too-many",
                                       "workflowExecutionRetentionPeriodInDays": "1"})
    assert err.value.code == "LimitExceededFault"


def test_pages_neither_repeat_nor_skip_when_things_change_between_calls(engine):
    run_id = start(engine)
    for i in range(5):
        engine.call("SignalWorkflowExecution", {"domain": "d", "workflowId": "w1",
                                                "signalName": f"s{i}"})
    params = {"domain": "d", "execution": {"workflowId": "w1", "runId": run_id},
              "reverseOrder": True, "maximumPageSize": 3}
    first = engine.call("GetWorkflowExecutionHistory", params)
    assert [e["eventId"] for e in first["events"]] == [7, 6, 5]
    for i in range(2):
        engine.call("SignalWorkflowExecution", {"domain": "d", "workflowId": "w1",
                                                "signalName": f"late{i}"})
    second = engine.call("GetWorkflowExecutionHistory",
                         {**params, "nextPageToken": first["nextPageToken"]})
    assert [e["eventId"] for e in second["events"]] == [4, 3, 2]
    for i in range(2, 5):
        start(engine, f"w{i}")
    listing = {"domain": "d", "startTimeFilter": {"oldestDate": 0}, "maximumPageSize": 2}
    page1 = engine.call("ListOpenWorkflowExecutions", listing)
    assert ids(page1) == ["w4", "w3"]
    start(engine, "w5")
    page2 = engine.call("ListOpenWorkflowExecutions",
                        {**listing, "nextPageToken": page1["nextPageToken"]})
    assert ids(page2) == ["w2", "w1"]


def test_deprecating_a_domain_deprecates_its_types(engine):
    engine.call("DeprecateDomain", {"name": "d"})
    desc = engine.call("DescribeActivityType", {"domain": "d", "activityType": ACT})
    assert desc["typeInfo"]["status"] == "DEPRECATED" and "deprecationDate" in desc["typeInfo"]
    assert engine.call("ListWorkflowTypes", {"domain": "d",
                                             "registrationStatus": "REGISTERED"}) == {
        "typeInfos": []}


def test_closed_runs_of_one_workflow_id_list_and_count_in_order_through_pages(engine):
    """executionFilter goes through the workflowId index (not the time index SQLite
    would walk for its order): the same runs, the same order and pages."""
    run_ids = []
    for _ in range(5):  # five runs of "again", one after another, among other closed ones
        run_ids.append(start(engine, "again"))
        start(engine, "other")
        engine.call("TerminateWorkflowExecution", {"domain": "d", "workflowId": "again"})
        engine.call("TerminateWorkflowExecution", {"domain": "d", "workflowId": "other"})
    start(engine, "again")  # an open run is not listed as closed
    for window in ("startTimeFilter", "closeTimeFilter"):
        query = {"domain": "d", window: {"oldestDate": 0},
                 "executionFilter": {"workflowId": "again"}}
        assert engine.call("CountClosedWorkflowExecutions", query)["count"] == 5
        for reverse in (False, True):
            seen, token = [], None
            for _ in range(10):
                page = engine.call("ListClosedWorkflowExecutions", {
                    **query, "maximumPageSize": 2, "reverseOrder": reverse,
                    **({"nextPageToken": token} if token else {})})
                seen += [i["execution"]["runId"] for i in page["executionInfos"]]
                token = page.get("nextPageToken")
                if not token:
                    break
            assert seen == (run_ids if reverse else run_ids[::-1])
    statements: list[str] = []
    engine.store.db.set_trace_callback(statements.append)
    engine.call("ListClosedWorkflowExecutions", {"domain": "d", "startTimeFilter": {
        "oldestDate": 0}, "executionFilter": {"workflowId": "again"}})
    assert any("INDEXED BY executions_workflow_id" in s for s in statements)


def test_closed_tag_filter_finds_tags_that_json_escapes(engine):
    """The tag filter's quick test looks for the tag as stored (JSON, escaped): tags with
    quotes, backslashes and non-ASCII letters are found, look-alikes are not."""
    tags = ['a"b', "back\\slash", "ünïcode", "plain"]
    for i, tag in enumerate(tags):
        start(engine, f"w{i}", tagList=[tag, "common"])
        engine.call("TerminateWorkflowExecution", {"domain": "d", "workflowId": f"w{i}"})
    start(engine, "near", tagList=['"plain"', "plai", "unicode"])
    engine.call("TerminateWorkflowExecution", {"domain": "d", "workflowId": "near"})
    everything = {"domain": "d", "startTimeFilter": {"oldestDate": 0}}
    for i, tag in enumerate(tags):
        query = {**everything, "tagFilter": {"tag": tag}}
        assert ids(engine.call("ListClosedWorkflowExecutions", query)) == [f"w{i}"]
        assert engine.call("CountClosedWorkflowExecutions", query)["count"] == 1
    query = {**everything, "tagFilter": {"tag": "common"}}
    assert engine.call("CountClosedWorkflowExecutions", query)["count"] == 4
