"""swfd.testing.run_activity: one handler on a fake task, as the worker would run it."""

from __future__ import annotations

import pytest

import swfd
from swfd.errors import CodecError
from swfd.testing import run_activity


@swfd.activity("Echo", "1")
def echo(task):
    return {"got": task.input, "id": task.activity_id}


@swfd.activity("Steps", "1")
def steps(task):
    done = 0
    for i in range(int(task.input)):
        if task.heartbeat({"step": i}):
            raise swfd.Canceled(f"canceled after {done}")
        done += 1
    return done


@swfd.activity("Upper", "1", codec="raw")
def upper(task):
    task.heartbeat("halfway")
    return task.input.upper()


def test_the_result_and_the_task_the_handler_saw():
    outcome = run_activity(echo, {"a": [1, 2]}, activity_id="x-1")
    assert outcome.status == "completed"
    assert outcome.result == {"got": {"a": [1, 2]}, "id": "x-1"}
    assert outcome.encoded == '{"got": {"a": [1, 2]}, "id": "x-1"}'
    assert outcome.unwrap() == outcome.result
    assert outcome.task.workflow_execution == {"workflowId": "test-workflow", "runId": "test-run"}


def test_heartbeats_are_recorded_decoded_and_as_sent():
    outcome = run_activity(steps, 3)
    assert outcome.result == 3
    assert outcome.heartbeats == [{"step": 0}, {"step": 1}, {"step": 2}]
    assert outcome.raw_heartbeats == ['{"step": 0}', '{"step": 1}', '{"step": 2}']


def test_a_cancel_request_after_n_heartbeats_and_from_the_start():
    later = run_activity(steps, 10, cancel_after_heartbeats=3)
    assert later.canceled and later.details == "canceled after 2"
    assert isinstance(later.exception, swfd.Canceled)
    at_once = run_activity(steps, 10, cancel_after_heartbeats=0)
    assert at_once.canceled and at_once.details == "canceled after 0"
    with pytest.raises(swfd.Canceled):
        at_once.unwrap()


def test_a_raised_exception_is_the_worker_s_failure_reason():
    def broken(task):
        raise KeyError("card")

    outcome = run_activity(broken)
    assert outcome.status == "failed"
    assert outcome.reason == "KeyError: 'card'"
    assert "raise KeyError" in outcome.details
    with pytest.raises(KeyError):
        outcome.unwrap()


def test_the_raw_codec_and_a_plain_function():
    outcome = run_activity(upper, "shout")
    assert (outcome.result, outcome.heartbeats) == ("SHOUT", ["halfway"])
    plain = run_activity(lambda task: task.input["n"] * 2, {"n": 21})
    assert plain.result == 42


def test_undecodable_input_fails_as_under_the_worker():
    outcome = run_activity(echo, raw_input="{not json")
    assert outcome.status == "failed"
    assert isinstance(outcome.exception, CodecError)
    assert "input of activity Echo 1 is not valid JSON" in outcome.reason


def test_results_swf_would_refuse_fail_the_task():
    unencodable = run_activity(lambda task: {1, 2})
    assert unencodable.status == "failed"
    assert unencodable.reason.startswith("swfd: result could not be encoded")
    too_large = run_activity(lambda task: "x" * 40000)
    assert too_large.status == "failed"
    assert "result too large" in too_large.reason


def test_not_a_handler_is_a_clear_error():
    with pytest.raises(TypeError, match="run_activity needs an @swfd.activity definition"):
        run_activity(42)
