"""SIGTERM drains: tasks in hand and tasks outstanding polls still get are answered;
a task longer than graceful_timeout is failed with swfd-shutdown, not left to time out."""

from __future__ import annotations

import signal
import time

from test_daemon_support import attrs

from swfd.testing import wait_for


def test_term_finishes_20_slow_activities_in_flight(daemon):
    d = daemon("[decider:test]\ntask_list = test\n\n"
               "[worker:test]\ntask_list = test\nprocesses = 20\n").start().wait_ready()
    run = d.start_workflow(input={"activity": "Sleep", "input": {"seconds": 8}, "count": 20})
    wait_for(lambda: d.count(run, "ActivityTaskStarted") == 20, 60, message="20 in flight")
    d.signal(signal.SIGTERM)
    assert d.wait(90) == 0
    d.reopen()
    types = d.event_types(run)
    assert types.count("ActivityTaskCompleted") == 20
    assert "ActivityTaskTimedOut" not in types and "ActivityTaskFailed" not in types
    assert "SIGTERM: draining 21 children" in d.text()


def test_term_with_polls_outstanding_still_processes_a_task_scheduled_after_it(daemon):
    # The test is the decider (no decider pool): it schedules activities itself.
    d = daemon("[worker:test]\ntask_list = test\nprocesses = 1\n",
               poll_timeout=5, graceful_timeout=20).start().wait_ready()
    run = d.start_workflow(input={})

    def decide(activity_id: str) -> None:
        task = wait_for(lambda: d.client.poll_for_decision_task(
            domain=d.domain, taskList={"name": "test"}, identity="test").get("taskToken") or None,
            30, message="a decision task")
        d.client.respond_decision_task_completed(taskToken=task, decisions=[{
            "decisionType": "ScheduleActivityTask",
            "scheduleActivityTaskDecisionAttributes": {
                "activityType": {"name": "Echo", "version": "1"}, "activityId": activity_id,
                "taskList": {"name": "test"}, "input": "{}",
            },
        }])

    decide("before")
    done = wait_for(lambda: [e for e in d.history(run)
                             if e["eventType"] == "ActivityTaskCompleted"], 30,
                    message="first activity")
    # The worker answered and went straight back to a 5 s poll. TERM it in the
    # middle of that poll (1 s in), then schedule a task while the poll is open.
    completed_at = done[0]["eventTimestamp"].timestamp()
    wait_for(lambda: time.time() >= completed_at + 1.0, 10, message="1 s into the poll")
    d.signal(signal.SIGTERM)
    wait_for(lambda: "SIGTERM: draining" in d.text(), 10, message="the drain")
    decide("after")
    assert d.wait(60) == 0
    d.reopen()
    completed = [attrs(e)["scheduledEventId"] for e in d.history(run)
                 if e["eventType"] == "ActivityTaskCompleted"]
    scheduled = {attrs(e)["activityId"]: e["eventId"] for e in d.history(run)
                 if e["eventType"] == "ActivityTaskScheduled"}
    assert sorted(completed) == sorted(scheduled.values()) and "after" in scheduled


def test_task_longer_than_graceful_timeout_fails_with_swfd_shutdown(daemon):
    d = daemon("[decider:test]\ntask_list = test\n\n[worker:test]\ntask_list = test\n",
               graceful_timeout=11).start().wait_ready()
    run = d.start_workflow(input={"activity": "Sleep", "input": {"seconds": 120}})
    wait_for(lambda: d.count(run, "ActivityTaskStarted") == 1, 30, message="task in hand")
    start = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.wait(60) == 0
    elapsed = time.monotonic() - start
    assert 10 <= elapsed < 30, elapsed
    d.reopen()
    failed = [attrs(e) for e in d.history(run) if e["eventType"] == "ActivityTaskFailed"]
    assert [f["reason"] for f in failed] == ["swfd-shutdown"]
    assert "ActivityTaskTimedOut" not in d.event_types(run)
    assert "graceful_timeout (11s) reached with 1 children busy" in d.text()
