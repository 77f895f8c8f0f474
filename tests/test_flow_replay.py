"""Replay of ``async def`` workflows: the same decisions whatever order events arrive
in, a changed workflow caught (never a silent wrong decision), ``wf.patched`` for
changing code safely, and histories as ``swfd history --json`` prints them."""

from __future__ import annotations

import json
import random

import pytest
from test_flow_support import (
    Driver,
    attrs,
    closing,
    decider_errors,
    replay_each_decision,
    types,
)

import swfd
from swfd.admin import _print_json
from swfd.flow.replay import check_history


@swfd.activity("Echo", "1", task_list="flow-echo")
def echo(task):
    return task.input


@swfd.workflow("Interleave", "1", task_list="flow")
async def interleave(wf, n):
    """Parallel branches, first-completed, a signal with a timeout and a timer."""
    branches = [wf.activity(echo, i) for i in range(n)]
    done, _pending = await swfd.wait(branches)
    first = done[0].result()
    results = await swfd.gather(*branches)
    hurry = await wf.signal("hurry", timeout=1)
    extra = await swfd.gather(wf.activity(echo, "late"), wf.signal("go"))
    return {"first": first, "results": results, "hurry": hurry, "extra": extra,
            "uuid": str(wf.uuid4()), "roll": wf.random().randint(1, 10 ** 9),
            "started": wf.now().isoformat()}


def _first_completed_input(events):
    first = next(e for e in events if e["eventType"] == "ActivityTaskCompleted")
    return json.loads(attrs(first)["result"])


@pytest.mark.parametrize("seed", range(6))
def test_replay_is_deterministic_across_random_interleavings(tmp_path, local_endpoint,
                                                             swf_client, domain, seed):
    rng = random.Random(seed)
    driver = Driver(tmp_path, local_endpoint.url, swf_client, domain, [echo, interleave],
                    rng=rng)
    execution = driver.start(interleave, 4, workflow_id=f"interleave-{seed}")
    driver.extra.append(("signal go", lambda: driver.signal(execution, "go", "went")))
    if seed % 2:
        driver.extra.append(("signal hurry", lambda: driver.signal(execution, "hurry", seed)))
    events = driver.run(execution)

    assert decider_errors(events) == []
    assert events[-1]["eventType"] == "WorkflowExecutionCompleted"
    result = json.loads(closing(events)["result"])
    assert result["results"] == [0, 1, 2, 3]
    assert result["first"] == _first_completed_input(events)
    assert result["extra"] == ["late", "went"]
    if seed % 2 == 0:
        assert result["hurry"] is None and "TimerFired" in types(events)
    else:
        assert result["hurry"] in (None, seed)
    # every decision task re-decided from the history as it stood gives what it recorded
    assert replay_each_decision(interleave, events, execution) >= 3
    check_history(interleave, events)


@swfd.workflow("Kid", "1", task_list="flow")
async def kid(wf, n):
    return await wf.activity(echo, n * 100)


@swfd.workflow("Racer", "1", task_list="flow")
async def racer(wf, n):
    """A child and activities in parallel, raced by a cancel request at a random moment."""
    try:
        return await swfd.gather(wf.child(kid, n), *(wf.activity(echo, i) for i in range(n)))
    except swfd.CancelledError:
        await wf.activity(echo, "cleanup")
        raise


@pytest.mark.parametrize("seed", range(4))
def test_a_cancel_request_at_any_moment_replays_deterministically(
        tmp_path, local_endpoint, swf_client, domain, seed):
    driver = Driver(tmp_path, local_endpoint.url, swf_client, domain, [echo, kid, racer],
                    rng=random.Random(seed))
    execution = driver.start(racer, 3, workflow_id=f"racer-{seed}")
    driver.extra.append(("cancel", lambda: swf_client.request_cancel_workflow_execution(
        domain=domain, **execution)))
    events = driver.run(execution)
    assert decider_errors(events) == []
    inputs = [json.loads(attrs(e)["input"]) for e in events
              if e["eventType"] == "ActivityTaskScheduled"]
    if events[-1]["eventType"] == "WorkflowExecutionCanceled":
        # canceled before the first decision, the coroutine never starts (as asyncio's)
        assert inputs == [] or inputs[-1] == "cleanup"
    else:
        assert json.loads(closing(events)["result"]) == [300, 0, 1, 2]
    assert replay_each_decision(racer, events, execution) >= 1
    check_history(racer, events, execution)


@swfd.workflow("Interleave", "1", task_list="flow")
async def interleave_reordered(wf, n):
    """Interleave with the branches scheduled in the opposite order (a code change)."""
    branches = [wf.activity(echo, i) for i in reversed(range(n))]
    await swfd.gather(*branches)


@swfd.workflow("Interleave", "1", task_list="flow")
async def interleave_without_timer(wf, n):
    """Interleave minus the signal wait: it decides less than the history recorded."""
    branches = [wf.activity(echo, i) for i in range(n)]
    await swfd.gather(*branches)
    await wf.signal("go")


def _recorded(tmp_path, local_endpoint, swf_client, domain):
    driver = Driver(tmp_path, local_endpoint.url, swf_client, domain, [echo, interleave])
    execution = driver.start(interleave, 2)
    driver.extra.append(("signal go", lambda: driver.signal(execution, "go", 1)))
    driver.extra.append(("signal hurry", lambda: driver.signal(execution, "hurry", 1)))
    return driver, execution, driver.run(execution)


def test_changed_code_is_caught_naming_the_event_and_the_line(tmp_path, local_endpoint,
                                                              swf_client, domain):
    _driver, _execution, events = _recorded(tmp_path, local_endpoint, swf_client, domain)
    check_history(interleave, events)

    with pytest.raises(swfd.NonDeterminismError) as caught:
        check_history(interleave_reordered, events)
    message = str(caught.value)
    scheduled = next(e for e in events if e["eventType"] == "ActivityTaskScheduled")
    assert f"at event {scheduled['eventId']} (ActivityTaskScheduled)" in message
    assert "test_flow_replay.py:" in message and "ScheduleActivityTask('Echo-1'" in message

    with pytest.raises(swfd.NonDeterminismError) as caught:
        check_history(interleave_without_timer, events)
    assert "StartTimer('signal-wait-1')" in str(caught.value)
    assert "test_flow_replay.py:" in str(caught.value)


def test_changed_code_under_a_running_execution_is_a_decider_error_not_a_wrong_decision(
        tmp_path, local_endpoint, swf_client, domain):
    driver = Driver(tmp_path, local_endpoint.url, swf_client, domain, [echo, interleave])
    execution = driver.start(interleave, 2)
    driver.run(execution, until=lambda ev: "ActivityTaskScheduled" in types(ev))
    # deploy: the same type now runs the reordered code
    driver.registry.workflows[("Interleave", "1")] = interleave_reordered
    driver.act(("take", "flow-echo"))
    events = driver.run(execution, until=lambda ev: bool(decider_errors(ev)))
    [error] = decider_errors(events)
    assert error.startswith("NonDeterminismError: ")
    assert "(ActivityTaskScheduled)" in error and "test_flow_replay.py:" in error
    after_error = events[[e["eventType"] for e in events].index("MarkerRecorded"):]
    assert "ActivityTaskScheduled" not in types(after_error)


@swfd.workflow("Patched", "1", task_list="flow")
async def before_patch(wf, _input):
    await wf.activity(echo, "old")
    await wf.signal("next")
    return "old"


@swfd.workflow("Patched", "1", task_list="flow")
async def after_patch(wf, _input):
    if wf.patched("new-greeting"):
        await wf.activity(echo, "new")
    else:
        await wf.activity(echo, "old")
    await wf.signal("next")
    return "new" if wf.patched("new-greeting") else "old"


def test_patched_lets_new_code_branch_while_old_executions_finish(tmp_path, local_endpoint,
                                                                  swf_client, domain):
    driver = Driver(tmp_path, local_endpoint.url, swf_client, domain, [echo, before_patch])
    old = driver.start(before_patch, None)
    driver.run(old, until=lambda ev: "ActivityTaskCompleted" in types(ev))
    driver.registry.workflows[("Patched", "1")] = after_patch  # the deploy
    new = driver.start(after_patch, None)
    for execution in (old, new):
        driver.extra.append(("signal", lambda e=execution: driver.signal(e, "next")))
    old_events, new_events = driver.run(old), driver.run(new)
    assert decider_errors(old_events) == decider_errors(new_events) == []
    assert json.loads(closing(old_events)["result"]) == "old"
    assert json.loads(closing(new_events)["result"]) == "new"
    markers = [attrs(e)["markerName"] for e in new_events if e["eventType"] == "MarkerRecorded"]
    assert markers == ["patched:new-greeting"]
    check_history(after_patch, old_events)
    check_history(after_patch, new_events)
    with pytest.raises(swfd.NonDeterminismError):
        check_history(before_patch, new_events)


def test_history_as_swfd_history_json_prints_it_replays(tmp_path, local_endpoint, swf_client,
                                                        domain, capsys):
    _driver, _execution, events = _recorded(tmp_path, local_endpoint, swf_client, domain)
    capsys.readouterr()
    _print_json(events)
    printed = json.loads(capsys.readouterr().out)
    assert isinstance(printed[0]["eventTimestamp"], str)
    check_history(interleave, printed)
    with pytest.raises(swfd.NonDeterminismError):
        check_history(interleave_reordered, printed)
