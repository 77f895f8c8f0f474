"""A child's outcome reaches its parent as the API reference's Child* events describe.

Sources: ChildWorkflowExecution{Started,Completed,Failed,Canceled,Terminated,TimedOut}
EventAttributes (workflowExecution, workflowType, initiatedEventId, startedEventId and
the outcome's own members), TerminateWorkflowExecution ("The child policy ... is
applied to any open child workflow executions of this workflow execution") and
WorkflowExecutionTerminatedEventAttributes / WorkflowExecutionCancelRequestedEventAttributes
(cause CHILD_POLICY_APPLIED).
"""

from __future__ import annotations

from test_local_support import (  # noqa: F401 (no_internal_failures is autouse)
    attributes,
    complete_workflow,
    decision,
    find,
    history,
    no_internal_failures,
    poll_decision,
    register_workflow_type,
    respond,
    start,
    unique,
)

from swfd.testing import wait_for

W = {"name": "W", "version": "1.0"}


def start_children(client, domain, specs: dict[str, dict]):
    """A parent that starts one child per spec; returns parent, its task list, the
    children's executions by name and the parent's events so far."""
    register_workflow_type(client, domain, "W")
    tl = unique("parent")
    parent = start(client, domain, "W", taskList={"name": tl})
    task = poll_decision(client, domain, tl)
    respond(client, task, [
        decision("StartChildWorkflowExecution", workflowId=f"{tl}-{name}", workflowType=W,
                 taskList={"name": f"{tl}-{name}"}, input=name, control=f"c-{name}", **extra)
        for name, extra in specs.items()
    ])
    events = history(client, domain, parent)
    children = {}
    for event in find(events, "ChildWorkflowExecutionStarted"):
        run = attributes(event)["workflowExecution"]
        children[run["workflowId"].rsplit("-", 1)[1]] = run
    assert set(children) == set(specs)
    return parent, tl, children, events


def test_each_child_outcome_reaches_the_parent(swf_client, domain):
    client = swf_client
    parent, tl, kids, events = start_children(client, domain, {
        "ok": {}, "fails": {}, "cancels": {}, "killed": {},
        "late": {"executionStartToCloseTimeout": "1"},
    })
    initiated = {attributes(e)["workflowId"].rsplit("-", 1)[1]: e
                 for e in find(events, "StartChildWorkflowExecutionInitiated")}
    started = {attributes(e)["workflowExecution"]["workflowId"].rsplit("-", 1)[1]: e
               for e in find(events, "ChildWorkflowExecutionStarted")}
    for name, event in started.items():
        assert attributes(event)["initiatedEventId"] == initiated[name]["eventId"]
        assert attributes(event)["workflowType"] == W
        assert attributes(initiated[name])["control"] == f"c-{name}"

    for name, close in [("ok", complete_workflow("result")),
                        ("fails", decision("FailWorkflowExecution", reason="r", details="d")),
                        ("cancels", decision("CancelWorkflowExecution", details="cd"))]:
        task = poll_decision(client, domain, f"{tl}-{name}")
        assert task["workflowExecution"] == kids[name]
        respond(client, task, [close])
    client.terminate_workflow_execution(domain=domain, workflowId=kids["killed"]["workflowId"],
                                        reason="stop")
    wait_for(lambda: find(history(client, domain, parent), "ChildWorkflowExecutionTimedOut"),
             timeout=10, message="the child's timeout in the parent's history")

    events = history(client, domain, parent)
    expected = {
        "ChildWorkflowExecutionCompleted": ("ok", {"result": "result"}),
        "ChildWorkflowExecutionFailed": ("fails", {"reason": "r", "details": "d"}),
        "ChildWorkflowExecutionCanceled": ("cancels", {"details": "cd"}),
        "ChildWorkflowExecutionTerminated": ("killed", {}),
        "ChildWorkflowExecutionTimedOut": ("late", {"timeoutType": "START_TO_CLOSE"}),
    }
    for event_type, (name, members) in expected.items():
        found = find(events, event_type)
        assert len(found) == 1, event_type
        attrs = attributes(found[0])
        assert attrs["workflowExecution"] == kids[name]
        assert attrs["workflowType"] == W
        assert attrs["initiatedEventId"] == initiated[name]["eventId"]
        assert attrs["startedEventId"] == started[name]["eventId"]
        for key, value in members.items():
            assert attrs[key] == value, (event_type, key)
    # Each outcome is news for the parent's decider.
    task = poll_decision(client, domain, tl)
    seen = {e["eventType"] for e in task["events"]}
    assert set(expected) <= seen
    respond(client, task, [complete_workflow()])
    assert client.describe_workflow_execution(
        domain=domain, execution=parent)["openCounts"]["openChildWorkflowExecutions"] == 0


def test_terminating_a_parent_applies_its_child_policy(swf_client, domain):
    client = swf_client
    # The parent's type registers TERMINATE; the override below wins.
    parent, _tl, kids, _ = start_children(client, domain, {"one": {}, "two": {}})
    # The override given to TerminateWorkflowExecution applies to all open children.
    client.terminate_workflow_execution(domain=domain, workflowId=parent["workflowId"],
                                        childPolicy="REQUEST_CANCEL")
    terminated = history(client, domain, parent)[-1]
    assert terminated["eventType"] == "WorkflowExecutionTerminated"
    assert attributes(terminated)["childPolicy"] == "REQUEST_CANCEL"
    for name in kids:
        events = history(client, domain, kids[name])
        requested = find(events, "WorkflowExecutionCancelRequested")
        assert len(requested) == 1, name
        assert attributes(requested[0])["cause"] == "CHILD_POLICY_APPLIED"
        info = client.describe_workflow_execution(domain=domain, execution=kids[name])
        assert info["executionInfo"]["executionStatus"] == "OPEN"
        assert info["executionInfo"]["cancelRequested"] is True


def test_a_parent_terminated_with_terminate_policy_terminates_its_children(swf_client, domain):
    client = swf_client
    parent, _tl, kids, _ = start_children(client, domain, {"one": {}, "two": {}})
    client.terminate_workflow_execution(domain=domain, workflowId=parent["workflowId"],
                                        childPolicy="TERMINATE")
    for run in kids.values():
        last = history(client, domain, run)[-1]
        assert last["eventType"] == "WorkflowExecutionTerminated"
        assert attributes(last)["cause"] == "CHILD_POLICY_APPLIED"
        info = client.describe_workflow_execution(domain=domain, execution=run)["executionInfo"]
        assert info["closeStatus"] == "TERMINATED"
