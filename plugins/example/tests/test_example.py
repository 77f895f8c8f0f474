"""Tests of the example plugin with swfd's test kit (swfd.testing): copy this file.

Activities run on a fake task (run_activity); workflows run to completion in
this process against a local SWF endpoint whose clock skips ahead whenever
nothing is runnable, so an hour's timer takes milliseconds (run_workflow);
histories recorded with ``swfd history --json`` are replayed against today's
code (check_replay); one test runs the plugin under a real swfd daemon (the
swfd_daemon fixture).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from swfd_example import RETRY_DELAY, count_to, greet, greet_later, greet_later_async

import swfd
from swfd.testing import check_replay, run_activity, run_workflow

HISTORIES = Path(__file__).parent / "histories"

# -- activities, one at a time ---------------------------------------------------------


def test_greet_returns_a_greeting():
    assert run_activity(greet, {"name": "Ada"}).result == "Hello, Ada!"


def test_greet_without_a_name_fails():
    outcome = run_activity(greet, {})
    assert outcome.status == "failed"
    assert isinstance(outcome.exception, ValueError)
    assert outcome.reason == "ValueError: nobody to greet: input has no name"


def test_count_to_heartbeats_each_number():
    outcome = run_activity(count_to, {"n": 3})
    assert outcome.result == 3
    assert outcome.heartbeats == [{"at": 1}, {"at": 2}, {"at": 3}]


def test_count_to_stops_when_a_cancel_is_requested():
    outcome = run_activity(count_to, {"n": 1000}, cancel_after_heartbeats=2)
    assert outcome.canceled
    assert outcome.details == "stopped at 2 of 1000"
    assert len(outcome.heartbeats) == 2


# -- the workflow, to completion ---------------------------------------------------------


def test_greet_later_waits_an_hour_then_greets():
    run = run_workflow(greet_later, {"name": "Ada", "delay": 3600}, activities=[greet])
    assert run.status == "COMPLETED"
    assert run.result == "Hello, Ada!"
    assert run.timers() == [("delay", 3600)]
    assert run.activities() == ["Greet"]
    assert run.elapsed >= 3600  # on the endpoint's clock, skipped ahead


@pytest.mark.parametrize("workflow", [greet_later, greet_later_async])
def test_both_styles_retry_a_failing_greet(workflow):
    calls = []

    def greet_fails_twice(task):  # a fake stands in for the real Greet
        calls.append(task.input)
        if len(calls) < 3:
            raise ConnectionError("mail server down")
        return "Hello again, Ada!"

    run = run_workflow(workflow, {"name": "Ada", "delay": 30}, activities=[greet],
                       fakes={("Greet", "1.0"): greet_fails_twice})
    assert run.result == "Hello again, Ada!"
    assert calls == [{"name": "Ada", "delay": 30}] * 3
    assert run.elapsed == pytest.approx(30 + 2 * RETRY_DELAY, abs=0.1)
    failures = run.events_of("ActivityTaskFailed")
    assert [f["reason"] for f in failures] == ["ConnectionError: mail server down"] * 2


@pytest.mark.parametrize("workflow", [greet_later, greet_later_async])
def test_both_styles_fail_after_three_attempts(workflow):
    run = run_workflow(workflow, {"delay": 5}, activities=[greet])  # no name: Greet fails
    assert run.status == "FAILED"
    assert run.reason == "Greet failed 3 times"
    assert run.activities() == ["Greet"] * 3


# -- replay: what running executions recorded, against today's code ----------------------


def test_recorded_histories_replay_against_the_code():
    recorded = sorted(HISTORIES.glob("greet-later-async-*.json"))
    assert recorded
    for path in recorded:
        check_replay(greet_later_async, path)


def test_a_change_that_would_break_running_executions_is_caught():
    @swfd.workflow("GreetLaterAsync", "1.0", task_list="example")
    async def greet_first(wf, request):  # Greet moved before the timer
        greeting = await wf.activity(greet, request)
        await wf.sleep(int(request.get("delay", 0)))
        return greeting

    with pytest.raises(swfd.NonDeterminismError):
        check_replay(greet_first, HISTORIES / "greet-later-async-1.json")


# -- under a real daemon ----------------------------------------------------------------

CONFIG = """
[swfd]
domain = example
endpoint_url = embedded
plugins = example
graceful_timeout = 12
pidfile = swfd.pid

[embedded]
port = 0
database = swf.sqlite3
poll_timeout = 1

[decider:example]
task_list = example

[worker:example]
task_list = example
"""


def test_the_daemon_runs_both_styles(swfd_daemon):
    daemon = swfd_daemon(CONFIG)
    for name in ("GreetLater", "GreetLaterAsync"):
        execution = daemon.start_workflow(name, "1.0", {"name": "Ada", "delay": 1})
        assert daemon.wait_closed(execution, timeout=60)["closeStatus"] == "COMPLETED"
        assert daemon.event_types(execution).count("ActivityTaskCompleted") == 1
