"""swfd.testing.run_workflow: a workflow to completion in-process, with time skipping.

The workflows here are history-style deciders written for the test; each test
says what the kit must do with them (skip a timer, deliver a signal, follow a
child or a continue-as-new, stop on a decider error, bound a run that never ends).
"""

from __future__ import annotations

import pytest

import swfd
from swfd.testing import (
    DeciderFailed,
    MissingDefinition,
    WorkflowDidNotClose,
    load_history,
    run_workflow,
)


@swfd.activity("Double", "1", task_list="math")
def double(task):
    return task.input * 2


@swfd.activity("Tick", "1", task_list="ticks", heartbeat_timeout=30)
def tick(task):
    for i in range(3):
        task.heartbeat({"tick": i})
    return "ticked"


def types(task):
    return [e["eventType"] for e in task.events]


@swfd.workflow("Nap", "1", execution_start_to_close_timeout=86400)
def nap(task):
    decisions = swfd.Decisions()
    timer = task.history.timers.get("nap")
    if timer is None:
        decisions.start_timer(task.input, "nap")
    elif timer.state == "fired":
        decisions.complete_workflow_execution(result={"slept": task.input})
    return decisions


def test_an_hour_long_timer_is_skipped_not_waited_for(tmp_path):
    run = run_workflow(nap, 3600)
    assert (run.status, run.result) == ("COMPLETED", {"slept": 3600})
    assert run.timers() == [("nap", 3600)]
    fired = run.events_of("TimerFired")[0]["eventId"]
    stamps = {e["eventId"]: e["eventTimestamp"] for e in run.events}
    assert (stamps[fired] - stamps[1]).total_seconds() == pytest.approx(3600, abs=0.01)
    assert run.elapsed == pytest.approx(3600, abs=0.01)
    run.save_history(tmp_path / "nap.json")
    assert load_history(tmp_path / "nap.json") == run.events


@swfd.workflow("Chain", "1", task_list="chain")
def chain(task):
    """Double, Tick, then complete with Double's result."""
    decisions = swfd.Decisions()
    acts = task.history.activities
    if "double" not in acts:
        decisions.schedule_activity_task("double", "Double", "1", input=task.history.input)
    elif acts["double"].state == "completed" and "tick" not in acts:
        decisions.schedule_activity_task("tick", "Tick", "1")
    elif "tick" in acts and acts["tick"].state == "completed":
        decisions.complete_workflow_execution(result=acts["double"].result)
    return decisions


def test_activities_run_inline_on_their_task_lists_with_heartbeats():
    run = run_workflow(chain, 21, activities=[double, tick])
    assert run.result == 42
    assert run.activities() == ["Double", "Tick"]
    assert [a["taskList"]["name"] for a in run.events_of("ActivityTaskScheduled")] == [
        "math", "ticks"]
    assert run.heartbeats == {"tick": ['{"tick": 0}', '{"tick": 1}', '{"tick": 2}']}


def test_fakes_replace_handlers_and_add_types_from_elsewhere():
    run = run_workflow(chain, 21, activities=[tick],
                       fakes={("Double", "1"): lambda task: -1, tick: lambda task: "faked"})
    assert run.result == -1
    assert run.events_of("ActivityTaskCompleted")[1]["result"] == '"faked"'
    assert run.heartbeats == {}


@swfd.workflow("Broken", "1")
def broken(task):
    if task.attempt < 3:
        raise RuntimeError(f"attempt {task.attempt} went wrong")
    decisions = swfd.Decisions()
    decisions.complete_workflow_execution(result="third time")
    return decisions


def test_a_decider_error_stops_the_run_with_its_traceback():
    with pytest.raises(DeciderFailed, match="RuntimeError: attempt 1 went wrong") as caught:
        run_workflow(broken)
    assert 'raise RuntimeError(f"attempt {task.attempt} went wrong")' in str(caught.value)
    assert caught.value.run.status == "OPEN"


def test_or_runs_the_daemon_s_retries_on_the_skipped_clock():
    run = run_workflow(broken, stop_on_decider_error=False)
    assert (run.status, run.result) == ("COMPLETED", "third time")
    assert [e["attempt"] for e in run.decider_errors()] == [1, 2]
    assert run.elapsed == pytest.approx(1 + 2, abs=0.01)  # the backoff timers: 1 s, 2 s
    failed = run_workflow(broken, stop_on_decider_error=False, decider_max_attempts=2)
    assert failed.status == "FAILED"
    assert failed.reason.startswith("swfd: decision logic failed 2 times")


@swfd.workflow("Await", "1", execution_start_to_close_timeout=600)
def await_signal(task):
    """Complete with the first "go" signal's input; cancel when asked to."""
    decisions = swfd.Decisions()
    if task.history.cancel_requested is not None:
        decisions.cancel_workflow_execution(details="as asked")
    elif any(s.name == "go" for s in task.history.signals):
        go = next(s for s in task.history.signals if s.name == "go")
        decisions.complete_workflow_execution(result=go.input)
    return decisions


def test_signals_at_a_virtual_time_or_when_a_predicate_holds():
    run = run_workflow(await_signal, signals=[(90, "go", {"from": "timer"})])
    assert run.result == {"from": "timer"}
    assert run.elapsed == pytest.approx(90, abs=0.01)
    run = run_workflow(await_signal, signals=[
        (lambda r: "DecisionTaskCompleted" in r.event_types(), "go", "now")])
    assert run.result == "now"
    assert run.elapsed == 0


def test_cancel_requests_and_a_workflow_left_waiting_times_out():
    canceled = run_workflow(await_signal, cancel_at=30)
    assert (canceled.status, canceled.details) == ("CANCELED", "as asked")
    forgotten = run_workflow(await_signal)
    assert forgotten.status == "TIMED_OUT"
    assert forgotten.elapsed == pytest.approx(600, abs=0.01)


@swfd.workflow("Parent", "1", task_list="parents")
def parent(task):
    decisions = swfd.Decisions()
    child = task.history.child_workflows.get("child-1")
    if child is None:
        decisions.start_child_workflow_execution("Chain", "1", "child-1", input="5",
                                                 task_list="chain")
    elif child.state == "completed":
        decisions.complete_workflow_execution(result=f"child said {child.result}")
    return decisions


def test_child_workflows_are_driven_too():
    run = run_workflow(parent, activities=[chain, double, tick])
    assert run.result == "child said 10"
    assert list(run.children) == ["child-1"]
    assert run.children["child-1"][-1]["eventType"] == "WorkflowExecutionCompleted"


@swfd.workflow("Again", "1")
def again(task):
    decisions = swfd.Decisions()
    if task.input < 3:
        decisions.continue_as_new_workflow_execution(input=str(task.input + 1))
    else:
        decisions.complete_workflow_execution(result=task.input)
    return decisions


def test_continue_as_new_is_followed_to_the_last_run():
    run = run_workflow(again, 1)
    assert (run.status, run.result) == ("COMPLETED", 3)
    assert [events[-1]["eventType"] for _, events in run.runs] == [
        "WorkflowExecutionContinuedAsNew", "WorkflowExecutionContinuedAsNew",
        "WorkflowExecutionCompleted"]
    assert len({execution["runId"] for execution, _ in run.runs}) == 3
    first = run_workflow(again, 1, follow_continue_as_new=False)
    assert first.status == "CONTINUED_AS_NEW"


@swfd.workflow("Forever", "1", execution_start_to_close_timeout=31536000)
def forever(task):
    decisions = swfd.Decisions()
    decisions.start_timer(60, f"t{len(task.history.timers)}")
    return decisions


def test_a_workflow_that_never_closes_hits_the_step_bound():
    with pytest.raises(WorkflowDidNotClose, match="still open after 20 steps"):
        run_workflow(forever, max_steps=20)


def test_a_type_the_run_was_not_given_is_named():
    with pytest.raises(MissingDefinition, match="activity type Double 1, which it has no "):
        run_workflow(chain, 1, activities=[tick])
    with pytest.raises(MissingDefinition, match="workflow type Chain 1"):
        run_workflow(parent, activities=[double, tick])


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="needs an @swfd.workflow definition"):
        run_workflow(double)
    with pytest.raises(TypeError, match="fakes: expected"):
        run_workflow(nap, 1, activities=[], fakes={"Double": lambda task: 1})
