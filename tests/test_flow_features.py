"""What an ``async def`` workflow can do, each against the local endpoint with swfd's
real decider and worker code: retry policies, timeouts, signals, children, markers,
cancellation both ways, continue-as-new, and how outcomes close the workflow."""

from __future__ import annotations

import asyncio
import json

from test_flow_support import Driver, attrs, closing, decider_errors, types

import swfd
from swfd.flow.replay import check_history


def attempt_of(task) -> int:
    return int(task.activity_id.rpartition("#")[2]) if "#" in task.activity_id else 1


@swfd.activity("Flaky", "1", task_list="flow-acts")
def flaky(task):
    """Fails until attempt ``fail_until``; raises what ``error`` names."""
    spec = task.input
    if attempt_of(task) < spec.get("fail_until", 1 << 30):
        if spec.get("error") == "declined":
            raise CardDeclined("card 4111 declined")
        if spec.get("error") == "key":
            raise KeyError("no such card")
        raise RuntimeError(f"attempt {attempt_of(task)} failed")
    return attempt_of(task)


class CardDeclined(swfd.NonRetryable):
    pass


@swfd.activity("Echo", "1", task_list="flow-acts")
def echo(task):
    return task.input


@swfd.workflow("Retrying", "1", task_list="flow")
async def retrying(wf, spec):
    policy = swfd.Retry(**spec.pop("retry"))
    try:
        return {"attempt": await wf.activity(flaky, spec, retry=policy)}
    except swfd.ActivityFailed as failed:
        if spec.get("uncaught"):
            raise
        return {"cause": failed.cause, "attempts": failed.attempts,
                "error_type": failed.error_type, "non_retryable": failed.non_retryable,
                "reason": failed.reason}


def _driver(tmp_path, local_endpoint, swf_client, domain, *defs):
    return Driver(tmp_path, local_endpoint.url, swf_client, domain,
                  [flaky, echo, retrying, *defs])


def test_retries_back_off_on_visible_timers_with_attempt_numbers(tmp_path, local_endpoint,
                                                                 swf_client, domain):
    driver = _driver(tmp_path, local_endpoint, swf_client, domain)
    execution = driver.start(retrying, {"fail_until": 3, "retry": {
        "max_attempts": 4, "initial_delay": 1, "backoff": 1}})
    events = driver.run(execution)
    assert json.loads(closing(events)["result"]) == {"attempt": 3}
    scheduled = [attrs(e) for e in events if e["eventType"] == "ActivityTaskScheduled"]
    assert [(a["activityId"], a["control"]) for a in scheduled] == [
        ("Flaky-1", "attempt 1 of 4"), ("Flaky-1#2", "attempt 2 of 4"),
        ("Flaky-1#3", "attempt 3 of 4")]
    timers = [attrs(e) for e in events if e["eventType"] == "TimerStarted"]
    assert [(t["timerId"], t["startToFireTimeout"]) for t in timers] == [
        ("backoff-Flaky-1#2", "1"), ("backoff-Flaky-1#3", "1")]
    assert types(events).count("TimerFired") == 2
    assert decider_errors(events) == []


def test_retries_used_up_raise_activity_failed_or_fail_the_workflow(tmp_path, local_endpoint,
                                                                    swf_client, domain):
    driver = _driver(tmp_path, local_endpoint, swf_client, domain)
    caught = driver.start(retrying, {"retry": {"max_attempts": 2, "initial_delay": 0}})
    uncaught = driver.start(retrying, {"uncaught": True,
                                       "retry": {"max_attempts": 2, "initial_delay": 0}})
    result = json.loads(closing(driver.run(caught))["result"])
    assert result["cause"] == "failed" and result["attempts"] == 2
    assert result["error_type"] == "RuntimeError" and not result["non_retryable"]
    assert result["reason"] == "RuntimeError: attempt 2 failed"
    events = driver.run(uncaught)
    assert events[-1]["eventType"] == "WorkflowExecutionFailed"
    reason = closing(events)["reason"]
    assert "Flaky/1 Flaky-1#2 failed after 2 attempt(s): RuntimeError: attempt 2" in reason
    assert "Traceback" in closing(events)["details"]


def test_non_retryable_errors_fail_at_once(tmp_path, local_endpoint, swf_client, domain):
    driver = _driver(tmp_path, local_endpoint, swf_client, domain)
    declined = driver.start(retrying, {"error": "declined", "retry": {"max_attempts": 5}})
    listed = driver.start(retrying, {"error": "key", "retry": {
        "max_attempts": 5, "non_retryable": ["KeyError"]}})
    first = json.loads(closing(driver.run(declined))["result"])
    assert first["attempts"] == 1 and first["non_retryable"]
    assert first["error_type"] == "CardDeclined"
    assert first["reason"] == "non-retryable CardDeclined: card 4111 declined"
    second = json.loads(closing(driver.run(listed))["result"])
    assert second["attempts"] == 1 and second["error_type"] == "KeyError"


def test_retry_stops_when_schedule_to_close_would_pass(tmp_path, local_endpoint, swf_client,
                                                       domain):
    driver = _driver(tmp_path, local_endpoint, swf_client, domain)
    execution = driver.start(retrying, {"retry": {"max_attempts": None, "initial_delay": 1,
                                                  "backoff": 1, "schedule_to_close": 2}})
    result = json.loads(closing(driver.run(execution))["result"])
    assert result["cause"] == "failed" and 2 <= result["attempts"] <= 3


@swfd.workflow("ByName", "1", task_list="flow")
async def by_name(wf, _input):
    """Another plugin's activity type, by name, on a task list nobody polls here."""
    try:
        await wf.activity("Elsewhere", None, version="7", task_list="nobody",
                          schedule_to_start_timeout=1,
                          retry=swfd.Retry(max_attempts=2, initial_delay=0))
    except swfd.ActivityFailed as failed:
        return [failed.cause, failed.attempts, failed.reason]
    return "completed?"


def test_timeouts_count_as_failures_for_activities_by_name(tmp_path, local_endpoint,
                                                          swf_client, domain):
    driver = _driver(tmp_path, local_endpoint, swf_client, domain, by_name)
    swf_client.register_activity_type(
        domain=domain, name="Elsewhere", version="7", defaultTaskList={"name": "nobody"},
        defaultTaskStartToCloseTimeout="60", defaultTaskScheduleToCloseTimeout="120",
        defaultTaskHeartbeatTimeout="NONE")
    events = driver.run(driver.start(by_name, None))
    assert json.loads(closing(events)["result"]) == [
        "timed_out", 2, "timed out (SCHEDULE_TO_START)"]
    scheduled = [attrs(e) for e in events if e["eventType"] == "ActivityTaskScheduled"]
    assert [(s["activityType"], s["taskList"]["name"]) for s in scheduled] == [
        ({"name": "Elsewhere", "version": "7"}, "nobody")] * 2


@swfd.workflow("Signals", "1", task_list="flow")
async def signals(wf, _input):
    early = [await wf.signal("early"), await wf.signal("early")]
    missing = await wf.signal("never", timeout=1)
    late = await wf.signal("late", timeout=60)
    return {"early": early, "missing": missing, "late": late}


def test_signals_queue_in_order_and_wait_with_a_timeout(tmp_path, local_endpoint, swf_client,
                                                        domain):
    driver = _driver(tmp_path, local_endpoint, swf_client, domain, signals)
    execution = driver.start(signals, None)
    driver.signal(execution, "early", 1)
    driver.signal(execution, "early", 2)
    driver.run(execution, until=lambda ev: "TimerFired" in types(ev))
    driver.signal(execution, "late", {"x": 1})
    events = driver.run(execution)
    assert json.loads(closing(events)["result"]) == {
        "early": [1, 2], "missing": None, "late": {"x": 1}}
    started = [attrs(e)["timerId"] for e in events if e["eventType"] == "TimerStarted"]
    canceled = [attrs(e)["timerId"] for e in events if e["eventType"] == "TimerCanceled"]
    assert started == ["signal-wait-1", "signal-wait-2"] and canceled == ["signal-wait-2"]


@swfd.workflow("Child", "1", task_list="flow")
async def child(wf, spec):
    if spec.get("fail"):
        raise swfd.WorkflowFailed("child says no", details="because")
    if spec.get("wait"):
        await wf.signal("never")
    return spec["n"] * 10


@swfd.workflow("Parent", "1", task_list="flow", child_policy="ABANDON")
async def parent(wf, _input):
    wf.record_marker("note", {"stage": "children"})
    ok = await wf.child(child, {"n": 4})
    try:
        await wf.child(child, {"fail": True})
    except swfd.ChildWorkflowFailed as failed:
        refused = [failed.cause, failed.reason]
    waiting = wf.child(child, {"wait": True})
    await swfd.wait([waiting, wf.activity(echo, "tick")])
    waiting.cancel()
    try:
        await waiting
    except swfd.CancelledError:
        cancelled = True
    return {"ok": ok, "refused": refused, "cancelled": cancelled}


def test_children_markers_and_cancelling_a_child(tmp_path, local_endpoint, swf_client, domain):
    driver = _driver(tmp_path, local_endpoint, swf_client, domain, child, parent)
    execution = driver.start(parent, None, workflow_id="parent-1")
    events = driver.run(execution)
    assert json.loads(closing(events)["result"]) == {
        "ok": 40, "refused": ["failed", "child says no"], "cancelled": True}
    [marker] = [attrs(e) for e in events if e["eventType"] == "MarkerRecorded"]
    assert (marker["markerName"], json.loads(marker["details"])) == ("note", {"stage": "children"})
    children = [attrs(e)["workflowId"] for e in events
                if e["eventType"] == "StartChildWorkflowExecutionInitiated"]
    assert children == ["parent-1-child-1", "parent-1-child-2", "parent-1-child-3"]
    [cancel] = [attrs(e) for e in events
                if e["eventType"] == "RequestCancelExternalWorkflowExecutionInitiated"]
    assert cancel["workflowId"] == "parent-1-child-3"
    waiting_child = {"workflowId": "parent-1-child-3", "runId": next(
        attrs(e)["workflowExecution"]["runId"] for e in events
        if e["eventType"] == "ChildWorkflowExecutionStarted"
        and attrs(e)["workflowExecution"]["workflowId"] == "parent-1-child-3")}
    child_events = driver.run(waiting_child)
    assert child_events[-1]["eventType"] == "WorkflowExecutionCanceled"
    check_history(parent, events)


@swfd.workflow("Cancellable", "1", task_list="flow")
async def cancellable(wf, _input):
    stuck = wf.activity("Elsewhere", None, version="7", task_list="nobody")
    timer = wf.sleep(3600)
    await swfd.wait([timer, wf.activity(echo, "first")])
    timer.cancel()
    try:
        await stuck
    except swfd.CancelledError:
        await wf.activity(echo, "cleanup")
        raise
    return "not cancelled"


def test_cancellation_both_ways(tmp_path, local_endpoint, swf_client, domain):
    driver = _driver(tmp_path, local_endpoint, swf_client, domain, cancellable)
    swf_client.register_activity_type(
        domain=domain, name="Elsewhere", version="7", defaultTaskList={"name": "nobody"},
        defaultTaskStartToCloseTimeout="60", defaultTaskScheduleToCloseTimeout="120",
        defaultTaskScheduleToStartTimeout="120", defaultTaskHeartbeatTimeout="NONE")
    execution = driver.start(cancellable, None)
    driver.run(execution, until=lambda ev: "TimerCanceled" in types(ev))
    swf_client.request_cancel_workflow_execution(domain=domain, **execution)
    events = driver.run(execution)
    assert events[-1]["eventType"] == "WorkflowExecutionCanceled"
    kinds = types(events)
    assert kinds.index("ActivityTaskCancelRequested") < kinds.index("ActivityTaskCanceled")
    assert [json.loads(attrs(e)["input"]) for e in events
            if e["eventType"] == "ActivityTaskScheduled" and "input" in attrs(e)] == [
        "first", "cleanup"]
    assert decider_errors(events) == []


@swfd.workflow("Counter", "1", task_list="flow", continue_as_new_after=15)
async def counter(wf, count):
    while count < 4:
        count = await wf.activity(echo, count + 1)
        if wf.continue_as_new_suggested:
            wf.continue_as_new(count)
    return count


def test_continue_as_new_when_the_history_grows(tmp_path, local_endpoint, swf_client, domain):
    driver = _driver(tmp_path, local_endpoint, swf_client, domain, counter)
    execution = driver.start(counter, 0, workflow_id="counter")
    first = driver.run(execution)
    assert first[-1]["eventType"] == "WorkflowExecutionContinuedAsNew"
    assert len(first) < 25
    runs = [first]
    for _ in range(5):
        new_run = attrs(runs[-1][-1]).get("newExecutionRunId")
        if not new_run:
            break
        runs.append(driver.run({"workflowId": "counter", "runId": new_run}))
    assert runs[-1][-1]["eventType"] == "WorkflowExecutionCompleted"
    assert json.loads(closing(runs[-1])["result"]) == 4
    assert len(runs) >= 2


@swfd.workflow("Outcomes", "1", task_list="flow")
async def outcomes(wf, how):
    if how == "fail":
        raise swfd.WorkflowFailed("no payment method", details="gave up")
    if how == "bug":
        return {}["missing"]
    if how == "asyncio":
        await asyncio.sleep(1)
    return how


def test_outcomes_map_to_close_decisions_and_bugs_to_decider_errors(
        tmp_path, local_endpoint, swf_client, domain):
    driver = _driver(tmp_path, local_endpoint, swf_client, domain, outcomes)
    failed = driver.run(driver.start(outcomes, "fail"))
    assert failed[-1]["eventType"] == "WorkflowExecutionFailed"
    assert (closing(failed)["reason"], closing(failed)["details"]) == (
        "no payment method", "gave up")
    assert closing(driver.run(driver.start(outcomes, "done")))["result"] == '"done"'
    for how, expected in (("bug", "KeyError"), ("asyncio", "swfd's deterministic loop")):
        execution = driver.start(outcomes, how)
        events = driver.run(execution, until=lambda ev: bool(decider_errors(ev)))
        assert expected in decider_errors(events)[0]
        swf_client.terminate_workflow_execution(domain=domain, **execution)


@swfd.workflow("Listener", "1", task_list="flow")
async def listener(wf, _input):
    return await wf.signal("data")


def test_a_signal_input_the_codec_cannot_decode_fails_the_workflow_clearly(
        tmp_path, local_endpoint, swf_client, domain):
    driver = _driver(tmp_path, local_endpoint, swf_client, domain, listener)
    execution = driver.start(listener, None)
    swf_client.signal_workflow_execution(domain=domain, signalName="data", input="{not json",
                                         **execution)
    events = driver.run(execution)
    assert events[-1]["eventType"] == "WorkflowExecutionFailed"
    reason = closing(events)["reason"]
    assert reason.startswith("swfd-codec-error: input of signal 'data' (event ")
    assert "is not valid JSON" in reason


@swfd.workflow("Deployed", "1", task_list="flow")
async def buggy(wf, _input):
    first = await wf.activity(echo, "one")
    return first["missing"]  # a bug: the result is a string


@swfd.workflow("Deployed", "1", task_list="flow")
async def fixed(wf, _input):
    first = await wf.activity(echo, "one")
    return [first, await wf.activity(echo, "two")]


def test_a_fixed_deploy_resumes_after_decider_errors(tmp_path, local_endpoint, swf_client,
                                                     domain):
    """The decision tasks that failed recorded nothing of the workflow's: the fixed code
    replays over them and carries on from where the history stands."""
    driver = _driver(tmp_path, local_endpoint, swf_client, domain, buggy)
    execution = driver.start(buggy, None)
    driver.run(execution, until=lambda ev: len(decider_errors(ev)) >= 2)
    driver.registry.workflows[("Deployed", "1")] = fixed
    events = driver.run(execution)
    assert json.loads(closing(events)["result"]) == ["one", "two"]
    assert len(decider_errors(events)) == 2
    assert decider_errors(events)[0].startswith("TypeError")
    check_history(fixed, events)


@swfd.workflow("Peer", "1", task_list="flow")
async def peer(wf, _input):
    return await wf.signal("hello")


@swfd.workflow("Caller", "1", task_list="flow")
async def caller(wf, targets):
    await wf.signal_external(targets["greet"], "hello", {"from": wf.workflow_id})
    await wf.cancel_external(targets["stop"])
    try:
        await wf.signal_external("nobody-runs-this", "hello")
    except swfd.ExternalWorkflowFailed as failed:
        return failed.cause


def test_signalling_and_cancelling_other_executions(tmp_path, local_endpoint, swf_client,
                                                    domain):
    driver = _driver(tmp_path, local_endpoint, swf_client, domain, peer, caller)
    greeted = driver.start(peer, None, workflow_id="peer-greeted")
    stopped = driver.start(peer, None, workflow_id="peer-stopped")
    execution = driver.start(caller, {"greet": "peer-greeted", "stop": "peer-stopped"},
                             workflow_id="caller")
    events = driver.run(execution)
    assert json.loads(closing(events)["result"]) == "UNKNOWN_EXTERNAL_WORKFLOW_EXECUTION"
    assert json.loads(closing(driver.run(greeted))["result"]) == {"from": "caller"}
    assert driver.run(stopped)[-1]["eventType"] == "WorkflowExecutionCanceled"
    check_history(caller, events, {"workflowId": "caller", "runId": execution["runId"]})
