"""Acceptance: an outsider's plugin (entry point, DESIGN.md's API only) under a real
daemon on the embedded endpoint, driven by plain boto3.

One daemon serves the module: codecs (json, raw, None results, unicode,
payloads at SWF's 32 KiB limit), task.history over activities, timers,
signals, markers, child workflows and continue-as-new, cancellation of an
activity by the decider and of a workflow by a client, heartbeats, and the
identity template.
"""

from __future__ import annotations

import json
import socket

import pytest
from test_acceptance_support import SECRET, AccDaemon, json_lines
from test_daemon_support import attrs

from swfd.testing import wait_for

UNICODE = "héllo wörld ✓ 日本語 🚀 \u2028 \"quoted\" \\ back"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    base = tmp_path_factory.mktemp("acc")
    (base / "hooks").mkdir()
    d = AccDaemon(base, env={"ACC_HOOK_DIR": str(base / "hooks")})
    d.hooks = base / "hooks"
    try:
        d.start().wait_ready()
        d.ready_pool("worker:default", 2)
        d.ready_pool("decider:main", 1)
        yield d
    finally:
        d.close()


def _run(daemon, name, input, raw=False, timeout=30):
    execution = daemon.start_workflow(name, "1", input=input, raw=raw)
    info = daemon.wait_closed(execution, timeout=timeout)
    return execution, info


def _result(daemon, execution):
    last = daemon.history(execution)[-1]
    assert last["eventType"] == "WorkflowExecutionCompleted", daemon.event_types(execution)
    return attrs(last).get("result")


def test_json_and_raw_codecs_and_none_result_round_trip(daemon):
    payload = {"text": UNICODE, "n": [1, 2.5, None, True], "nested": {"k": "v"}}
    execution, info = _run(daemon, "AccPipeline", {"payload": payload, "raw": "abc ✓"})
    assert info["closeStatus"] == "COMPLETED", daemon.event_types(execution)
    result = json.loads(_result(daemon, execution))
    assert result["echo"]["echo"] == payload
    assert result["echo"]["activityId"] == "echo"
    assert result["none"] is None
    assert result["raw"] == "✓ cba"
    events = daemon.history(execution)
    done = {attrs(e)["scheduledEventId"]: attrs(e) for e in events
            if e["eventType"] == "ActivityTaskCompleted"}
    scheduled = {e["eventId"]: attrs(e)["activityId"] for e in events
                 if e["eventType"] == "ActivityTaskScheduled"}
    by_id = {scheduled[k]: v for k, v in done.items()}
    assert "result" not in by_id["none"], "an activity returning None sends no result"
    assert by_id["raw"]["result"] == "✓ cba", "raw codec: the string itself, not JSON"
    assert json.loads(by_id["echo"]["result"])["echo"] == payload


def test_raw_workflow_codec(daemon):
    execution, info = _run(daemon, "AccRawWf", "not json ✓ {", raw=True)
    assert info["closeStatus"] == "COMPLETED", daemon.event_types(execution)
    assert _result(daemon, execution) == "NOT JSON ✓ {"


@pytest.mark.parametrize("n,ok", [(32768 - 2, True), (32768 - 1, False)])
def test_result_at_swf_limit(daemon, n, ok):
    """A json result of exactly 32768 characters passes; one more fails the task clearly."""
    execution, info = _run(daemon, "AccOne", {"activity": "AccSized", "input": {"n": n}})
    if ok:
        assert info["closeStatus"] == "COMPLETED", daemon.event_types(execution)
        assert len(_result(daemon, execution)) == 32768
    else:
        assert info["closeStatus"] == "FAILED", daemon.event_types(execution)
        failed = [attrs(e) for e in daemon.history(execution)
                  if e["eventType"] == "ActivityTaskFailed"]
        assert "too large" in failed[0]["reason"], failed


def test_input_at_swf_limit(daemon):
    """A workflow input near 32768 characters reaches the activity and comes back."""
    text = "é" + "a" * (32768 - 120)
    body = json.dumps({"payload": text, "raw": "r"}, ensure_ascii=False)
    assert 32600 < len(body) <= 32768
    execution, info = _run(daemon, "AccPipeline", body, raw=True)
    assert info["closeStatus"] == "COMPLETED", daemon.event_types(execution)
    assert json.loads(_result(daemon, execution))["echo"]["echo"] == text


def test_timer_signal_marker_through_history(daemon):
    execution = daemon.start_workflow("AccSignals", "1", input={})
    wait_for(lambda: "TimerStarted" in daemon.event_types(execution), 20,
             message="timer t1 started")
    daemon.client.signal_workflow_execution(
        domain=daemon.domain, workflowId=execution["workflowId"], runId=execution["runId"],
        signalName="go", input=json.dumps({"msg": UNICODE}))
    info = daemon.wait_closed(execution, timeout=30)
    assert info["closeStatus"] == "COMPLETED", daemon.event_types(execution)
    result = json.loads(_result(daemon, execution))
    assert result["signal"] == {"msg": UNICODE}
    assert result["marker"] == {"msg": UNICODE}
    assert result["timers"] == ["t1", "t2"]
    assert "WorkflowExecutionSignaled" in result["events"]
    assert "MarkerRecorded" in result["events"]


def test_child_workflow_with_continue_as_new(daemon):
    execution, info = _run(daemon, "AccParent", {}, timeout=40)
    assert info["closeStatus"] == "COMPLETED", daemon.event_types(execution)
    assert json.loads(_result(daemon, execution)) == {"child": {"count": 2}}
    child_id = execution["workflowId"] + "-child"
    runs = daemon.client.list_closed_workflow_executions(
        domain=daemon.domain, startTimeFilter={"oldestDate": 0},
        executionFilter={"workflowId": child_id})["executionInfos"]
    statuses = sorted(r["closeStatus"] for r in runs)
    assert statuses == ["COMPLETED", "CONTINUED_AS_NEW", "CONTINUED_AS_NEW"], statuses


def test_decider_cancels_an_activity(daemon):
    execution, info = _run(daemon, "AccCancelActivity", {}, timeout=30)
    types = daemon.event_types(execution)
    assert info["closeStatus"] == "COMPLETED", types
    assert "ActivityTaskCancelRequested" in types and "ActivityTaskCanceled" in types
    assert "ActivityTaskTimedOut" not in types
    result = json.loads(_result(daemon, execution))
    assert result["state"] == "canceled"
    assert result["details"]["stopped_at"] >= 1


def test_client_cancel_request_handled_by_workflow(daemon):
    execution = daemon.start_workflow("AccCancelMe", "1", input={})
    wait_for(lambda: "DecisionTaskCompleted" in daemon.event_types(execution), 20,
             message="first decision")
    daemon.client.request_cancel_workflow_execution(
        domain=daemon.domain, workflowId=execution["workflowId"], runId=execution["runId"])
    info = daemon.wait_closed(execution, timeout=20)
    assert info["closeStatus"] == "CANCELED", daemon.event_types(execution)
    canceled = daemon.history(execution)[-1]
    assert attrs(canceled)["details"] == "canceled on request"


def test_running_activity_shows_in_describe(daemon):
    """While a heartbeating activity runs, DescribeWorkflowExecution reports it open,
    with latestActivityTaskTimestamp set."""
    execution = daemon.start_workflow("AccCancelActivity", "1", input={})

    def started():
        described = daemon.client.describe_workflow_execution(
            domain=daemon.domain, execution=execution)
        if described["openCounts"]["openActivityTasks"] and (
                described.get("latestActivityTaskTimestamp")):
            return described
        return None

    first = wait_for(started, 20, message="activity started")
    assert first["openCounts"]["openActivityTasks"] == 1
    daemon.wait_closed(execution, timeout=30)


def test_identity_template_expanded(daemon):
    execution, info = _run(daemon, "AccOne", {"activity": "AccWhoAmI"})
    assert info["closeStatus"] == "COMPLETED", daemon.event_types(execution)
    events = daemon.history(execution)
    started = [attrs(e)["identity"] for e in events if e["eventType"] == "ActivityTaskStarted"]
    decided = [attrs(e)["identity"] for e in events if e["eventType"] == "DecisionTaskStarted"]
    host = socket.gethostname()
    workers = set(daemon.children("worker:default"))
    deciders = set(daemon.children("decider:main"))
    prefix, pid, pool = started[0].split("/")
    assert prefix == f"acc@{host}" and pool == "default" and int(pid) in workers, started
    prefix, pid, pool = decided[0].split("/")
    assert prefix == f"acc@{host}" and pool == "main" and int(pid) in deciders, decided


def test_failure_log_lines_carry_context_and_no_payload(daemon):
    execution, info = _run(daemon, "AccOne", {"activity": "AccBoom", "input": SECRET})
    assert info["closeStatus"] == "FAILED", daemon.event_types(execution)
    failed = [attrs(e) for e in daemon.history(execution) if e["eventType"] == "ActivityTaskFailed"]
    assert failed[0]["reason"] == "RuntimeError: the handler broke"
    assert "Traceback" in failed[0]["details"]
    activity_id = "one"

    def task_lines():
        lines = [line for line in json_lines(daemon.text())
                 if line.get("workflowId") == execution["workflowId"]]
        return lines if any("raised" in line["message"] for line in lines) else None

    lines = wait_for(task_lines, 10, message="the failure's log lines")
    for line in lines:
        assert line["runId"] == execution["runId"], line
        assert isinstance(line["pid"], int), line
        assert line.get("activityId") == activity_id or line.get("decisionStartedEventId"), line
        assert line["pool"] in ("worker:default", "decider:main"), line
    assert SECRET not in daemon.text()


def test_result_utf8_cannot_carry_fails_the_task_at_once(daemon):
    """A lone surrogate is a Python str but not UTF-8: SWF cannot take it. The task is
    failed with a clear reason, not left to its start-to-close timeout."""
    execution, info = _run(daemon, "AccOne", {"activity": "AccSurrogate"}, timeout=20)
    types = daemon.event_types(execution)
    assert info["closeStatus"] == "FAILED", types
    assert "ActivityTaskTimedOut" not in types, types
    failed = [attrs(e) for e in daemon.history(execution) if e["eventType"] == "ActivityTaskFailed"]
    assert "encoded" in failed[0]["reason"], failed


@pytest.mark.parametrize("mode", ["builder", "list", "surrogate"])
def test_refused_decisions_never_log_the_payload(daemon, mode):
    secret = f"{SECRET}-{mode}"
    execution = daemon.start_workflow("AccLeaky", "1", input={"mode": mode, "secret": secret})
    try:
        lines = wait_for(
            lambda: [line for line in json_lines(daemon.text())
                     if line.get("workflowId") == execution["workflowId"]
                     and line["level"] == "ERROR"] or None,
            20, message="the decision error's log line")
        assert lines[0].get("decisionStartedEventId"), lines[0]
        wait_for(lambda: "MarkerRecorded" in daemon.event_types(execution), 20,
                 message="the decision error's marker")
        assert secret not in daemon.text()
    finally:
        daemon.client.terminate_workflow_execution(
            domain=daemon.domain, workflowId=execution["workflowId"], runId=execution["runId"])


def test_activity_type_no_plugin_registered_fails_clearly(daemon):
    daemon.client.register_activity_type(
        domain=daemon.domain, name="AccNobodyRuns", version="1",
        defaultTaskList={"name": "acc"}, defaultTaskHeartbeatTimeout="NONE",
        defaultTaskScheduleToStartTimeout="60", defaultTaskScheduleToCloseTimeout="120",
        defaultTaskStartToCloseTimeout="60")
    execution, info = _run(daemon, "AccOne", {"activity": "AccNobodyRuns"}, timeout=20)
    assert info["closeStatus"] == "FAILED", daemon.event_types(execution)
    failed = [attrs(e) for e in daemon.history(execution) if e["eventType"] == "ActivityTaskFailed"]
    assert "AccNobodyRuns" in failed[0]["reason"] and "no handler" in failed[0]["reason"], failed


def test_failure_reason_utf8_cannot_carry_still_fails_the_task(daemon):
    execution, info = _run(daemon, "AccOne", {"activity": "AccBoomSurrogate"}, timeout=20)
    types = daemon.event_types(execution)
    assert info["closeStatus"] == "FAILED", types
    assert "ActivityTaskTimedOut" not in types, types
    failed = [attrs(e) for e in daemon.history(execution) if e["eventType"] == "ActivityTaskFailed"]
    assert failed[0]["reason"].startswith("RuntimeError: broke on "), failed


def test_heartbeat_details_utf8_cannot_carry_keep_the_task_alive(daemon):
    execution, info = _run(daemon, "AccOne", {"activity": "AccBeatSurrogate"}, timeout=20)
    types = daemon.event_types(execution)
    assert info["closeStatus"] == "COMPLETED", types
    assert "ActivityTaskTimedOut" not in types, types
    assert _result(daemon, execution) == "survived"


def test_history_past_one_page_reaches_the_handler_whole(daemon):
    execution, info = _run(daemon, "AccMany", {"events": 1300}, timeout=40)
    assert info["closeStatus"] == "COMPLETED", daemon.event_types(execution)[-5:]
    result = json.loads(_result(daemon, execution))
    assert result["seen"] >= 1300 and result["markers"] >= 1200, result
    assert result["last"] == "DecisionTaskStarted"
    # since the previous DecisionTaskStarted: its Completed, 100 markers, the timer's
    # Started and Fired, this task's Scheduled and Started
    assert result["new"] == 105, result
    assert result["seen"] == len(daemon.history(execution)) - 2  # + DecisionTaskCompleted, close


def test_plugin_hooks_called_in_the_generation_and_each_child(daemon):
    """swfd_configure runs in the generation (the supervisor imports no plugin)."""
    configure = list(daemon.hooks.glob("configure-*"))
    assert [p.read_text() for p in configure] == [daemon.domain]
    generation_pid = int(configure[0].name.split("-")[1])
    assert generation_pid != daemon.proc.pid
    assert f"started generation 1 (pid {generation_pid})" in daemon.text()
    inits = {int(p.name.split("-")[1]): p.read_text() for p in daemon.hooks.glob("init-*")}
    for pid in daemon.children("worker:default"):
        assert inits.get(pid) == "worker default acc", (pid, inits)
    for pid in daemon.children("decider:main"):
        assert inits.get(pid) == "decider main acc", (pid, inits)


@pytest.mark.parametrize("n,ok", [(16383, True), (16384, False)])
def test_result_limit_counts_as_swf_does(daemon, n, ok):
    """SWF's 32768 is in UTF-16 units: each 🚀 counts twice. One over fails the task
    at once with a clear reason; it is not refused by SWF and left to time out."""
    execution, info = _run(daemon, "AccOne", {"activity": "AccSized",
                                              "input": {"n": n, "char": "🚀"}}, timeout=20)
    if ok:
        assert info["closeStatus"] == "COMPLETED", daemon.event_types(execution)
        assert json.loads(_result(daemon, execution)) == "🚀" * n
    else:
        assert info["closeStatus"] == "FAILED", daemon.event_types(execution)
        failed = [attrs(e) for e in daemon.history(execution)
                  if e["eventType"] == "ActivityTaskFailed"]
        assert "too large" in failed[0]["reason"], failed
    assert "🚀🚀🚀" not in daemon.text(), "the payload reached the log"


def test_failure_reason_and_details_cut_to_swf_limits_in_utf16(daemon):
    execution, info = _run(daemon, "AccOne", {"activity": "AccBoomWide",
                                              "input": {"n": 20000}}, timeout=20)
    types = daemon.event_types(execution)
    assert info["closeStatus"] == "FAILED", types
    assert "ActivityTaskTimedOut" not in types, types
    failed = [attrs(e) for e in daemon.history(execution) if e["eventType"] == "ActivityTaskFailed"]
    assert "MarkerRecorded" not in types, "the decider did not fail"
    assert failed[0]["reason"].startswith("RuntimeError: 🚀"), failed[0]["reason"][:50]
    assert len(failed[0]["reason"].encode("utf-16-le")) <= 2 * 256
    assert len(failed[0]["details"].encode("utf-16-le")) <= 2 * 32768


def test_decision_error_with_a_long_non_ascii_message_is_still_recorded(daemon):
    execution = daemon.start_workflow("AccLeaky", "1", input={"mode": "wide", "secret": "s"})
    try:
        wait_for(lambda: "MarkerRecorded" in daemon.event_types(execution), 20,
                 message="the decision error's marker")
        marker = next(attrs(e) for e in daemon.history(execution)
                      if e["eventType"] == "MarkerRecorded")
        assert marker["markerName"] == "swfd:decider-error"
        assert "ValueError" in json.loads(marker["details"])["error"]
    finally:
        daemon.client.terminate_workflow_execution(
            domain=daemon.domain, workflowId=execution["workflowId"], runId=execution["runId"])


def test_decisions_builder_counts_lengths_as_swf_does(daemon):
    """200 🚀 are 400 UTF-16 units: over the 256 of a reason. The builder says so
    (naming the field), rather than SWF refusing the batch."""
    execution = daemon.start_workflow("AccLeaky", "1", input={"mode": "widereason",
                                                              "secret": "s"})
    try:
        wait_for(lambda: "MarkerRecorded" in daemon.event_types(execution), 20,
                 message="the decision error's marker")
        marker = next(attrs(e) for e in daemon.history(execution)
                      if e["eventType"] == "MarkerRecorded")
        error = json.loads(marker["details"])["error"]
        assert error.startswith("DecisionError") and "field reason" in error, error
        assert "length 400 exceeds the maximum 256" in error, error
    finally:
        daemon.client.terminate_workflow_execution(
            domain=daemon.domain, workflowId=execution["workflowId"], runId=execution["runId"])


def test_plugin_log_lines_during_a_task_carry_the_task(daemon):
    """A plugin's own logging inside its handlers names the task, as swfd's lines do."""
    execution, info = _run(daemon, "AccOne", {"activity": "AccWhoAmI"})
    assert info["closeStatus"] == "COMPLETED", daemon.event_types(execution)
    lines = wait_for(lambda: [line for line in json_lines(daemon.text())
                              if line.get("logger") == "acc_plugin"
                              and line.get("workflowId") == execution["workflowId"]] or None,
                     10, message="the plugin's log lines")
    handler = [line for line in lines if line["message"] == "whoami handler running"]
    assert handler and handler[0]["activityId"] == "one", lines
    assert handler[0]["runId"] == execution["runId"] and handler[0]["pool"] == "worker:default"
    decider = [line for line in lines if line["message"] == "deciding AccOne"]
    assert len(decider) >= 2 and all(line.get("decisionStartedEventId") for line in decider)
    orphans = [line for line in json_lines(daemon.text())
               if line.get("logger") == "acc_plugin" and "workflowId" not in line]
    assert not orphans, orphans
