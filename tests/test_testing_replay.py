"""swfd.testing.load_history / check_replay: recorded histories in every form they come in.

The JSON file is written by the real ``swfd history --json`` against a local
endpoint, so the test follows that command's format wherever it goes.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import swfd
from swfd.testing import check_replay, dump_history, load_history, run_workflow


@pytest.fixture
def recorded(tmp_path, local_endpoint, swf_client, domain):
    """A short history (a decision with a timer) and `swfd history --json`'s file of it."""
    swf_client.register_workflow_type(
        domain=domain, name="Rec", version="1", defaultTaskList={"name": "rec"},
        defaultExecutionStartToCloseTimeout="600", defaultTaskStartToCloseTimeout="60",
        defaultChildPolicy="TERMINATE")
    run = swf_client.start_workflow_execution(domain=domain, workflowId="rec-1",
                                              workflowType={"name": "Rec", "version": "1"},
                                              input='{"n": 1}')
    task = swf_client.poll_for_decision_task(domain=domain, taskList={"name": "rec"})
    swf_client.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[{
        "decisionType": "StartTimer",
        "startTimerDecisionAttributes": {"timerId": "t", "startToFireTimeout": "300"}}])
    config = tmp_path / "swfd.ini"
    config.write_text(f"[swfd]\ndomain = {domain}\nendpoint_url = {local_endpoint.url}\n"
                      "log_format = text\n[worker:default]\ntask_list = rec\n")
    out = subprocess.run([sys.executable, "-m", "swfd.cli", "--config", str(config),
                          "history", "rec-1", "--json"], check=False, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    path = tmp_path / "rec-1.json"
    path.write_text(out.stdout)
    events = swf_client.get_workflow_execution_history(
        domain=domain, execution={"workflowId": "rec-1", "runId": run["runId"]})["events"]
    return path, events


def test_the_cli_s_json_loads_as_boto3_s_events(recorded):
    path, events = recorded
    loaded = load_history(path)
    assert loaded == events  # the same dicts, timestamps as datetimes again
    assert load_history(str(path)) == loaded
    assert load_history(json.loads(path.read_text())) == loaded
    assert load_history({"closeStatus": None, "events": list(reversed(events))}) == loaded


def test_histories_saved_by_the_kit_are_what_the_cli_prints(recorded):
    path, events = recorded
    assert dump_history(events) == path.read_text()


def test_what_is_not_a_whole_history_is_named(tmp_path, recorded):
    path, events = recorded
    with pytest.raises(ValueError, match="not a readable JSON history"):
        load_history(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="without 'events'"):
        load_history({"workflowId": "x"})
    broken = json.loads(path.read_text())
    del broken[1]["eventId"]
    with pytest.raises(ValueError, match="event #1 is not a history event"):
        load_history(broken)
    with pytest.raises(ValueError, match="does not begin with WorkflowExecutionStarted"):
        load_history(events[2:])
    with pytest.raises(ValueError, match="expected a non-empty list"):
        load_history([])


def test_a_history_of_another_type_is_refused(recorded):
    @swfd.workflow("Other", "1")
    def other(task):
        return None

    with pytest.raises(ValueError, match="is of workflow type Rec 1, not Other 1"):
        check_replay(other, recorded[0])


@swfd.activity("Step", "1", task_list="steps")
def step(task):
    return task.input + 1


@swfd.workflow("Steps", "1", task_list="steps")
async def steps(wf, n):
    first = await wf.activity(step, n)
    await wf.sleep(600)
    return await wf.activity(step, first)


def test_check_replay_takes_the_history_in_every_form(tmp_path):
    run = run_workflow(steps, 1, activities=[step])
    assert (run.result, run.elapsed) == (3, pytest.approx(600, abs=0.01))
    run.save_history(tmp_path / "steps.json")
    for history in (tmp_path / "steps.json", str(tmp_path / "steps.json"), run.events,
                    json.loads((tmp_path / "steps.json").read_text()),
                    {"closeStatus": "COMPLETED", "events": run.events}):
        check_replay(steps, history)


def test_check_replay_catches_changed_code_naming_the_event(tmp_path):
    run = run_workflow(steps, 1, activities=[step])
    run.save_history(tmp_path / "steps.json")

    @swfd.workflow("Steps", "1", task_list="steps")
    async def steps_without_the_sleep(wf, n):
        first = await wf.activity(step, n)
        return await wf.activity(step, first)

    with pytest.raises(swfd.NonDeterminismError) as caught:
        check_replay(steps_without_the_sleep, tmp_path / "steps.json")
    message = str(caught.value)
    assert "at event 11 (TimerStarted)" in message
    assert "test_testing_replay.py:" in message  # the line of the changed code
