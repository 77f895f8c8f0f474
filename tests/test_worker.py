"""The activity worker loop against the local endpoint: answers, heartbeats, cancel, recycling.

Worker and decider loops run in threads of the test process (real HTTP to the
local endpoint); paths that end the process (fast stop, start-to-close overrun)
run in a real child process that gets real signals (test_worker_signals.py).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys

import pytest

TESTPLUGINS = os.path.join(os.path.dirname(__file__), "plugins")
sys.path.insert(0, TESTPLUGINS)

import swfd_harness as h

import swfd
from swfd.plugins import load_plugins
from swfd.testing import wait_for


@pytest.fixture
def env(local_endpoint, swf_client, domain, tmp_path):
    """Settings, registry (the test plugin) and registered types for one domain."""
    settings = h.load_settings(h.write_config(tmp_path, local_endpoint.url, domain))
    registry = load_plugins(settings)
    h.register_types(swf_client, domain, registry)
    return settings, registry


@pytest.fixture
def loops(env, swf_client):
    """Start worker/decider loop threads; every one is drained and joined at the end."""
    settings, registry = env
    started: list[h.LoopThread] = []

    def run(kind: str, **pool_changes) -> h.LoopThread:
        pool = dataclasses.replace(h.pool_of(settings, kind), **pool_changes)
        thread = h.LoopThread(kind, settings, pool, registry)
        thread.start()
        started.append(thread)
        return thread

    yield run
    for thread in started:
        thread.lifecycle.drain("test over")  # all at once: each waits for its poll to return
    for thread in started:
        thread.stop()


def run_activity(client, domain, spec: dict) -> dict:
    return h.start(client, domain, "RunActivity", input=json.dumps(spec))


def failed_event(events):
    return next(e for e in events if e["eventType"] == "ActivityTaskFailed")


def test_result_of_handler_completes_the_task_json_round_trip(loops, swf_client, domain):
    loops("worker"), loops("decider")
    run = run_activity(swf_client, domain, {"activity": "Echo", "input": {"a": [1, "é"]}})
    events = h.wait_closed(swf_client, domain, run)
    done = next(e for e in events if e["eventType"] == "ActivityTaskCompleted")
    assert json.loads(h.attrs(done)["result"]) == {"a": [1, "é"]}
    assert events[-1]["eventType"] == "WorkflowExecutionCompleted"


def test_handler_that_raises_fails_the_task_with_reason_and_traceback(loops, swf_client, domain):
    loops("worker"), loops("decider")
    run = run_activity(swf_client, domain,
                       {"activity": "Raise", "input": {"message": "disk on fire"}})
    events = h.wait_closed(swf_client, domain, run)
    attrs = h.attrs(failed_event(events))
    assert attrs["reason"] == "ValueError: disk on fire"
    assert "Traceback (most recent call last)" in attrs["details"]
    assert "raise ValueError" in attrs["details"]
    assert events[-1]["eventType"] == "WorkflowExecutionFailed"


def test_heartbeating_handler_outlives_its_heartbeat_timeout(loops, swf_client, domain):
    loops("worker", heartbeat_interval=30.0), loops("decider")  # declared 2 s wins: beats /0.67 s
    run = run_activity(swf_client, domain, {"activity": "Heartbeat", "input": {"seconds": 4}})
    events = h.wait_closed(swf_client, domain, run, timeout=40)
    assert "ActivityTaskTimedOut" not in h.types(events)
    done = next(e for e in events if e["eventType"] == "ActivityTaskCompleted")
    assert "survived 4" in h.attrs(done)["result"]


def test_cancel_request_reaches_the_handler_and_ends_canceled(loops, swf_client, domain):
    loops("worker"), loops("decider")
    run = run_activity(swf_client, domain, {"activity": "WaitCancel", "input": {"seconds": 20}})
    h.wait_for_event(swf_client, domain, run, "ActivityTaskStarted")
    swf_client.signal_workflow_execution(domain=domain, signalName="cancel", **run)
    events = h.wait_closed(swf_client, domain, run, timeout=40)
    canceled = next(e for e in events if e["eventType"] == "ActivityTaskCanceled")
    assert h.attrs(canceled).get("details") == "canceled by request"  # str: sent as is
    assert "ActivityTaskCancelRequested" in h.types(events)
    assert events[-1]["eventType"] == "WorkflowExecutionCompleted"


def test_unknown_activity_type_is_failed_with_a_clear_reason(loops, swf_client, domain):
    swf_client.register_activity_type(
        domain=domain, name="Nobody", version="1", defaultTaskList={"name": "test"},
        defaultTaskStartToCloseTimeout="60", defaultTaskHeartbeatTimeout="NONE",
        defaultTaskScheduleToStartTimeout="60", defaultTaskScheduleToCloseTimeout="120",
    )
    loops("worker"), loops("decider")
    run = run_activity(swf_client, domain, {"activity": "Nobody"})
    attrs = h.attrs(failed_event(h.wait_closed(swf_client, domain, run)))
    assert attrs["reason"] == (
        "swfd: no handler for activity type 'Nobody' version '1' in this worker"
    )
    assert "Echo 1" in attrs["details"]  # what this worker does have


@pytest.mark.parametrize(
    ("activity", "reason_start"),
    [
        ("BigResult", "swfd: result too large: 40002 characters, SWF allows 32768"),
        ("Unencodable", "swfd: result could not be encoded: result of activity Unencodable 1"),
    ],
)
def test_result_swf_cannot_take_fails_the_task_clearly(loops, swf_client, domain, activity,
                                                        reason_start):
    loops("worker"), loops("decider")
    run = run_activity(swf_client, domain, {"activity": activity})
    reason = h.attrs(failed_event(h.wait_closed(swf_client, domain, run)))["reason"]
    assert reason.startswith(reason_start)
    assert len(reason) <= 256


def test_raw_codec_passes_strings_through(loops, swf_client, domain):
    loops("worker"), loops("decider")
    run = run_activity(swf_client, domain, {"activity": "RawEcho", "input": "not json {"})
    events = h.wait_closed(swf_client, domain, run)
    scheduled = next(e for e in events if e["eventType"] == "ActivityTaskScheduled")
    assert h.attrs(scheduled)["input"] == '"not json {"'  # RunActivity json-encodes its spec
    done = next(e for e in events if e["eventType"] == "ActivityTaskCompleted")
    assert h.attrs(done)["result"] == '"not json {"'


def test_max_tasks_per_child_recycles_with_exit_code_3(loops, swf_client, domain):
    worker = loops("worker", max_tasks_per_child=2)
    loops("decider")
    run = run_activity(swf_client, domain, {"activity": "Echo", "count": 3, "input": 1})
    worker.join(30)
    assert worker.exit_code == 3
    events = h.history(swf_client, domain, run)
    assert h.types(events).count("ActivityTaskCompleted") == 2
    loops("worker")  # the slot comes back: the third task is done by a fresh worker
    events = h.wait_closed(swf_client, domain, run)
    assert h.types(events).count("ActivityTaskCompleted") == 3


def test_max_memory_per_child_recycles_between_tasks(loops, swf_client, domain):
    worker = loops("worker", max_memory_per_child=1)  # any real RSS is above one byte
    loops("decider")
    run = run_activity(swf_client, domain, {"activity": "Echo", "input": 1})
    worker.join(30)
    assert worker.exit_code == 3
    assert h.wait_closed(swf_client, domain, run)[-1]["eventType"] == "WorkflowExecutionCompleted"


def test_failing_worker_init_hook_exits_1_before_polling(env, monkeypatch):
    settings, _ = env
    monkeypatch.syspath_prepend(TESTPLUGINS)
    registry = load_plugins(["testplugin-badinit"])
    thread = h.LoopThread("worker", settings, h.pool_of(settings, "worker"), registry)
    thread.start()
    thread.join(10)
    assert thread.exit_code == 1


def test_worker_init_hook_gets_pool_and_kind(env):
    settings, _ = env
    seen = []

    class Plugin:
        @staticmethod
        def swfd_worker_init(pool, kind):
            seen.append((pool.name, kind))

    import swfd

    Plugin.swfd_worker_init = swfd.hookimpl(Plugin.swfd_worker_init)
    registry = load_plugins([], modules=[])
    registry.pm.register(Plugin, name="recorder")
    for kind in ("worker", "decider"):
        thread = h.LoopThread(kind, settings, h.pool_of(settings, kind), registry)
        thread.start()
        thread.stop()
        assert thread.exit_code == 0
    assert seen == [("test", "worker"), ("test", "decider")]


def test_task_gone_stops_heartbeats_and_the_result_is_discarded_and_logged(
        loops, swf_client, domain, caplog):
    loops("worker"), loops("decider")
    run = run_activity(swf_client, domain, {"activity": "WaitCancel", "input": {"seconds": 3}})
    h.wait_for_event(swf_client, domain, run, "ActivityTaskStarted")
    swf_client.terminate_workflow_execution(domain=domain, reason="test", **run)

    def discarded():
        return [r for r in caplog.records if "answer discarded" in r.getMessage()
                or "discarding completed answer" in r.getMessage()]

    records = wait_for(discarded, timeout=20, message="the discarded result to be logged")
    assert records[0].activityId == "act-0" and records[0].workflowId == run["workflowId"]
    assert any("heartbeats stop" in r.getMessage() for r in caplog.records)


def test_heartbeat_errors_are_retried_and_the_task_survives_an_endpoint_restart(
        swf_client, domain, tmp_path, caplog):
    """Heartbeats fail while the endpoint is down; logged, retried, the task still completes."""
    from conftest import make_boto3_client

    from swfd.local.server import LocalEndpoint
    from swfd.testing import free_port

    port = free_port()
    database = str(tmp_path / "restart.sqlite3")
    endpoint = LocalEndpoint(port=port, database=database, poll_timeout=1.0).start()
    client = make_boto3_client(endpoint.url)
    client.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    settings = h.load_settings(h.write_config(tmp_path, endpoint.url, domain))
    registry = load_plugins(settings)
    h.register_types(client, domain, registry)
    worker = h.LoopThread("worker", settings, h.pool_of(settings, "worker"), registry)
    decider = h.LoopThread("decider", settings, h.pool_of(settings, "decider"), registry)
    worker.start(), decider.start()
    try:
        # Scheduled with a 10 s heartbeat timeout so the outage cannot time it out; the
        # worker still beats every 0.67 s (a third of the declared 2 s).
        run = run_activity(client, domain, {"activity": "Heartbeat", "input": {"seconds": 4},
                                            "heartbeat_timeout": 10})
        h.wait_for_event(client, domain, run, "ActivityTaskStarted")
        endpoint.stop()
        wait_for(lambda: any("heartbeat failed" in r.getMessage() for r in caplog.records),
                   timeout=10, message="a heartbeat error to be logged")
        endpoint = LocalEndpoint(port=port, database=database, poll_timeout=1.0).start()
        events = h.wait_closed(client, domain, run, timeout=60)
        assert "ActivityTaskCompleted" in h.types(events)
        assert worker.is_alive()
    finally:
        worker.lifecycle.drain("test over"), decider.lifecycle.drain("test over")
        worker.stop(60), decider.stop(60)
        endpoint.stop()


def test_long_reason_and_traceback_are_truncated_to_swf_limits(loops, swf_client, domain):
    loops("worker"), loops("decider")
    run = run_activity(swf_client, domain, {"activity": "Raise",
                                                 "input": {"message": "m", "repeat": 40000}})
    attrs = h.attrs(failed_event(h.wait_closed(swf_client, domain, run)))
    assert len(attrs["reason"]) == 256 and attrs["reason"].endswith("...[truncated]")
    assert attrs["reason"].startswith("ValueError: mmm")
    assert len(attrs["details"]) == 32768 and attrs["details"].startswith("...[truncated]")
    assert attrs["details"].rstrip().endswith("m")  # the tail (the error line) is kept


def test_heartbeat_interval_is_the_pool_setting_or_a_third_of_the_declared_timeout():
    from swfd.worker import heartbeat_interval

    assert heartbeat_interval(30, swfd.activity("A", "1", heartbeat_timeout=600)(print)) == 30
    assert heartbeat_interval(30, swfd.activity("A", "1", heartbeat_timeout=6)(print)) == 2
    assert heartbeat_interval(30, swfd.activity("A", "1", heartbeat_timeout=None)(print)) == 30


def test_a_task_returned_by_a_poll_outstanding_at_drain_is_still_processed(
        env, local_endpoint, swf_client, domain):
    """Drain while the poll is on its way: the task it returns is run and answered, then exit."""
    from conftest import make_boto3_client

    settings, registry = env
    client = make_boto3_client(local_endpoint.url)
    worker = h.LoopThread("worker", settings, h.pool_of(settings, "worker"), registry,
                          client=client)
    polls = []
    run: dict = {}

    def drain_then_schedule(request, **kwargs):
        polls.append(1)
        if len(polls) > 1:
            return
        worker.lifecycle.drain("SIGTERM")  # the poll below is already under way
        run.update(run_activity(swf_client, domain, {"activity": "Echo", "input": "late"}))
        decision = swf_client.poll_for_decision_task(domain=domain, taskList={"name": "test"})
        swf_client.respond_decision_task_completed(taskToken=decision["taskToken"], decisions=[{
            "decisionType": "ScheduleActivityTask",
            "scheduleActivityTaskDecisionAttributes": {
                "activityId": "late", "activityType": {"name": "Echo", "version": "1"},
                "input": '"late"'}}])

    client.meta.events.register("before-send.swf.PollForActivityTask", drain_then_schedule)
    worker.start()
    worker.join(30)
    assert worker.exit_code == 0 and len(polls) == 1
    done = h.wait_for_event(swf_client, domain, run, "ActivityTaskCompleted")
    assert h.attrs(done)["result"] == '"late"'


def test_handler_heartbeats_are_sent_promptly_coalesced_and_spaced(env, local_endpoint,
                                                                    swf_client, domain):
    """Heartbeat600 declares 600 s (a silent handler's keep-alive would come every 30 s)
    and calls task.heartbeat() every 0.1 s: its calls are what reach SWF, at once for the
    first, then coalesced to one per heartbeat_min_gap."""
    import time

    from swfd.swf.client import EMBEDDED_CREDENTIALS, make_client

    settings, registry = env
    client = make_client(local_endpoint.url, "us-east-1", credentials=EMBEDDED_CREDENTIALS)
    sent: list[float] = []
    client.meta.events.register("before-call.swf.RecordActivityTaskHeartbeat",
                                lambda **_: sent.append(time.monotonic()))
    pool = dataclasses.replace(h.pool_of(settings, "worker"), heartbeat_min_gap=0.5)
    worker = h.LoopThread("worker", settings, pool, registry, client=client)
    decider = h.LoopThread("decider", settings, h.pool_of(settings, "decider"), registry)
    worker.start(), decider.start()
    try:
        run = run_activity(swf_client, domain, {"activity": "Heartbeat600",
                                                "input": {"seconds": 3}})
        events = h.wait_closed(swf_client, domain, run)
        assert events[-1]["eventType"] == "WorkflowExecutionCompleted"
        started = next(e for e in events if e["eventType"] == "ActivityTaskStarted")
        done = next(e for e in events if e["eventType"] == "ActivityTaskCompleted")
        ran = (done["eventTimestamp"] - started["eventTimestamp"]).total_seconds()
        gaps = [b - a for a, b in zip(sent, sent[1:])]
        assert 4 <= len(sent) <= ran / 0.5 + 1, sent  # ~30 calls coalesced to one per 0.5 s
        assert min(gaps) >= 0.45, gaps
    finally:
        worker.stop(), decider.stop()


def test_a_burst_of_tasks_does_not_wake_the_heartbeat_thread_for_each(loops, swf_client,
                                                                       domain, monkeypatch):
    """While tasks come the heartbeat thread looks at each tick; only a quiet one (no task
    for QUIET_AFTER seconds, in an untimed wait) is woken by the hand-over."""
    from swfd import worker

    asleep: list[bool] = []

    class Counting(worker.TaskSupervisor):
        def watch(self, task):
            asleep.append(self._idle)
            super().watch(task)

    monkeypatch.setattr(worker, "TaskSupervisor", Counting)
    loops("worker"), loops("decider")
    run = run_activity(swf_client, domain, {"activity": "Echo", "input": {"n": 1}, "count": 12})
    events = h.wait_closed(swf_client, domain, run, timeout=40)
    assert h.types(events).count("ActivityTaskCompleted") == 12
    assert events[-1]["eventType"] == "WorkflowExecutionCompleted"
    assert len(asleep) == 12 and sum(asleep) <= 2, asleep


def test_status_shows_tasks_that_last_a_tick_and_counts_every_task(env, swf_client, domain,
                                                                  tmp_path, monkeypatch):
    """The worker stages a task's start and end for its heartbeat thread (two scoreboard
    writes and two title changes fewer per short task): a task that lasts a tick shows
    as running with its type, short ones never do, and the count of tasks done is on
    the scoreboard within a tick of the last one, and stays there once the thread is
    quiet."""
    import threading

    from swfd import proctitle
    from swfd.lifecycle import Lifecycle
    from swfd.scoreboard import Scoreboard, ScoreboardSlot
    from swfd.worker import ActivityPoller

    settings, registry = env
    titles: list[str] = []
    monkeypatch.setattr(proctitle, "_set", titles.append)  # the test process's own title
    board = Scoreboard.create(str(tmp_path / "board"), 1)
    slot = ScoreboardSlot(board, 0, pool="worker:default", slot=0)
    lifecycle = Lifecycle()
    loop = threading.Thread(target=ActivityPoller.start, daemon=True, args=(
        settings, h.pool_of(settings, "worker"), registry, lifecycle), kwargs={"board": slot})
    decider = h.LoopThread("decider", settings, h.pool_of(settings, "decider"), registry)
    loop.start(), decider.start()
    try:
        run = run_activity(swf_client, domain, {"activity": "Echo", "input": {"n": 1},
                                                "count": 12})
        assert h.types(h.wait_closed(swf_client, domain, run, timeout=40)).count(
            "ActivityTaskCompleted") == 12
        wait_for(lambda: (board.read(0) or {}).get("tasks") == 12, 5,
                 message=f"12 tasks on the scoreboard: {board.read(0)}")
        assert board.read(0)["state"] == "polling" and board.read(0)["task"] is None
        run = run_activity(swf_client, domain, {"activity": "Sleep", "input": {"seconds": 1.5}})
        shown = wait_for(lambda: (r := board.read(0)) and r["state"] == "running" and r, 20,
                         message="the sleeping task on the scoreboard")
        assert shown["type"] == "Sleep/1" and shown["task"]["activityId"] == "act-0"
        assert any(t.endswith(" Sleep/1 0s") for t in titles), titles
        assert not any(" Echo/1 " in t for t in titles), titles  # never shown: too short
        h.wait_closed(swf_client, domain, run, timeout=40)
        wait_for(lambda: (board.read(0) or {}).get("tasks") == 13, 5,
                 message=f"13 tasks on the scoreboard: {board.read(0)}")
        assert board.read(0)["state"] == "polling" and titles[-1].endswith(" idle"), titles
    finally:
        lifecycle.drain("test over")
        decider.stop()
        loop.join(30)
        board.close()
