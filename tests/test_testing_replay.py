"""swfd.testing.load_history / check_replay: recorded histories in every form they come in.

The JSON file is written by the real ``swfd history --json`` against a local
endpoint, so the test follows that command's format wherever it goes.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from swfd.testing import check_replay, dump_history, load_history


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
    import swfd

    @swfd.workflow("Other", "1")
    def other(task):
        return None

    with pytest.raises(ValueError, match="is of workflow type Rec 1, not Other 1"):
        check_replay(other, recorded[0])
