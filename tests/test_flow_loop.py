"""The pieces of swfd.flow that need no endpoint: the deterministic loop (gather, wait,
cancel), retry policies, and how a history is cut into activations."""

from __future__ import annotations

import pytest

import swfd
from swfd.decider import ERROR_MARKER
from swfd.errors import DefinitionError
from swfd.flow.commands import activations
from swfd.flow.futures import Future, Loop, gather, wait


def run(coro_fn, *futures):
    loop = Loop()
    task = loop.create_task(coro_fn(*futures))
    loop.run_until_blocked()
    return loop, task


def test_gather_keeps_argument_order_and_raises_the_first_failure():
    a, b, c = Future("a"), Future("b"), Future("c")

    async def body(*fs):
        return await gather(*fs)

    loop, task = run(body, a, b, c)
    b.set_result(2)
    a.set_result(1)
    c.set_result(3)
    loop.run_until_blocked()
    assert task.result() == [1, 2, 3]

    a, b = Future("a"), Future("b")
    loop, task = run(body, a, b)
    b.set_exception(KeyError("b"))
    loop.run_until_blocked()
    with pytest.raises(KeyError):
        task.result()
    assert not a.done()  # the other branch keeps running


def test_wait_returns_the_outcomes_in_the_order_they_arrived():
    a, b, c = Future("a"), Future("b"), Future("c")

    async def body(*fs):
        done, pending = await wait(list(fs))
        return [f.what for f in done], [f.what for f in pending]

    loop, task = run(body, a, b, c)
    c.set_result(None)
    a.set_result(None)  # both arrive before the loop runs again
    loop.run_until_blocked()
    assert task.result() == (["c", "a"], ["b"])


def test_cancel_reaches_what_the_task_waits_on_and_cleanup_may_await():
    issued = []
    leaf, cleanup = Future("activity"), Future("cleanup")
    leaf.on_cancel = lambda: issued.append("RequestCancelActivityTask")

    async def body(first, second):
        try:
            await first
        except swfd.CancelledError:
            await second
            raise

    loop, task = run(body, leaf, cleanup)
    task.cancel()
    loop.run_until_blocked()
    assert issued == ["RequestCancelActivityTask"] and not task.done()
    cleanup.set_result("cleaned")
    loop.run_until_blocked()
    assert task.cancelled()


def test_awaiting_something_foreign_is_a_clear_error():
    class Foreign:
        def __await__(self):
            yield "not a swfd future"

    async def body():
        await Foreign()

    _loop, task = run(body)
    with pytest.raises(TypeError, match="swfd's deterministic loop runs a workflow"):
        task.result()


def test_retry_policy_delays_and_validation():
    policy = swfd.Retry(max_attempts=5, backoff=2.0, initial_delay=1, max_delay=5)
    assert [policy.delay_before(n) for n in range(1, 6)] == [0, 1, 2, 4, 5]
    assert policy.gives_up_on("KeyError") is False
    assert swfd.Retry(non_retryable=[KeyError]).gives_up_on("KeyError")
    with pytest.raises(DefinitionError, match="max_attempts 0"):
        swfd.Retry(max_attempts=0)
    with pytest.raises(DefinitionError, match="schedule_to_close"):
        swfd.Retry(max_attempts=None)
    with pytest.raises(DefinitionError, match="retry must be a swfd.Retry"):
        swfd.activity("X", "1", retry={"max_attempts": 2})(lambda task: None)


def _event(event_id, kind, **attrs):
    key = kind[0].lower() + kind[1:] + "EventAttributes"
    return {"eventId": event_id, "eventType": kind, "eventTimestamp": 1_700_000_000 + event_id,
            key: attrs}


def test_a_failed_decision_task_folds_into_the_next_activation():
    events = [
        _event(1, "WorkflowExecutionStarted"),
        _event(2, "DecisionTaskScheduled"),
        _event(3, "DecisionTaskStarted"),
        _event(4, "DecisionTaskCompleted", startedEventId=3),
        _event(5, "MarkerRecorded", markerName=ERROR_MARKER, decisionTaskCompletedEventId=4),
        _event(6, "TimerStarted", timerId="swfd-retry-1", decisionTaskCompletedEventId=4),
        _event(7, "TimerFired", timerId="swfd-retry-1", startedEventId=6),
        _event(8, "DecisionTaskScheduled"),
        _event(9, "DecisionTaskStarted"),
        _event(10, "DecisionTaskCompleted", startedEventId=9),
        _event(11, "ActivityTaskScheduled", activityId="A-1",
               activityType={"name": "A", "version": "1"}, decisionTaskCompletedEventId=10),
        _event(12, "WorkflowExecutionSignaled", signalName="s"),
        _event(13, "DecisionTaskScheduled"),
        _event(14, "DecisionTaskStarted"),
    ]
    first, live = activations(events)
    assert [e["eventId"] for e in first.events] == [1]  # the swfd retry timer is not shown
    assert first.started["eventId"] == 9 and first.completed_event_id == 10
    assert [key for key, _ in first.recorded] == [("ScheduleActivityTask", "A-1", "A/1")]
    assert [e["eventId"] for e in live.events] == [11, 12]
    assert live.recorded is None and live.started["eventId"] == 14
    assert len(activations(events, live=False)) == 1


def test_an_id_still_in_use_is_refused_where_the_code_asks_for_it():
    from swfd.flow.replay import Replay

    async def twice(wf):
        first = wf.sleep(60, id="nap")
        wf.sleep(30, id="nap")
        await first

    events = [_event(1, "WorkflowExecutionStarted"), _event(2, "DecisionTaskScheduled"),
              _event(3, "DecisionTaskStarted")]
    with pytest.raises(ValueError, match=r"test_flow_loop.py:\d+ in twice: timer id 'nap' is "
                                         "already in use"):
        Replay(twice, events, {"workflowId": "w", "runId": "r"}, "json", 10_000).run()


def test_cancelling_a_gather_cancels_every_branch_still_open():
    issued = []
    a, b, c = Future("a"), Future("b"), Future("c")
    for future in (a, b, c):
        future.on_cancel = lambda f=future: issued.append(f.what)

    async def body(*fs):
        return await gather(*fs)

    loop, task = run(body, a, b, c)
    b.set_result(1)
    loop.run_until_blocked()
    task.cancel()
    loop.run_until_blocked()
    assert issued == ["a", "c"] and task.cancelled()
