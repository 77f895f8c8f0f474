"""The local endpoint's injectable clock: what swfd.testing's time skipping stands on.

An Engine built with a ManualClock stamps events with that clock's time and
fires timers and timeouts only when it has moved past their deadlines;
``timers.fire_due()`` fires them in the caller's thread.
"""

from __future__ import annotations

import pytest
from test_engine_support import attrs, decide, decision, poll_decision, setup, start, types

from swfd.local.engine import Engine
from swfd.testing import ManualClock


@pytest.fixture
def clocked():
    clock = ManualClock(start=1_700_000_000.0)
    engine = Engine(":memory:", poll_timeout=0.1, clock=clock)
    setup(engine, wf_exec="86400")
    try:
        yield engine, clock
    finally:
        engine.close()


def test_events_carry_the_engine_s_clock(clocked):
    engine, clock = clocked
    run_id = start(engine)
    clock.advance(42.5)
    engine.call("SignalWorkflowExecution", {"domain": "d", "workflowId": "w1",
                                            "signalName": "s"})
    events = engine.call("GetWorkflowExecutionHistory", {
        "domain": "d", "execution": {"workflowId": "w1", "runId": run_id}})["events"]
    assert [e["eventTimestamp"] for e in events[:1]] == [1_700_000_000.0]
    assert events[-1]["eventTimestamp"] == 1_700_000_042.5


def test_a_timer_fires_when_the_clock_passes_it_not_before(clocked):
    engine, clock = clocked
    run_id = start(engine)
    token = poll_decision(engine)["taskToken"]
    decide(engine, token, decision("StartTimer", timerId="t", startToFireTimeout="3600"))
    clock.advance(3599)
    engine.timers.fire_due()
    history = engine.call("GetWorkflowExecutionHistory", {
        "domain": "d", "execution": {"workflowId": "w1", "runId": run_id}})["events"]
    assert "TimerFired" not in types(history)
    assert engine.timers.next_deadline() == pytest.approx(clock() + 1)
    clock.advance(1)
    engine.timers.fire_due()
    history = engine.call("GetWorkflowExecutionHistory", {
        "domain": "d", "execution": {"workflowId": "w1", "runId": run_id}})["events"]
    assert types(history)[-2:] == ["TimerFired", "DecisionTaskScheduled"]
    assert attrs(history[-2])["timerId"] == "t"
    assert history[-2]["eventTimestamp"] == pytest.approx(1_700_003_600.0)


def test_the_execution_timeout_follows_the_clock(clocked):
    engine, clock = clocked
    run_id = start(engine, executionStartToCloseTimeout="60")
    clock.advance(61)
    engine.timers.fire_due()
    info = engine.call("DescribeWorkflowExecution", {
        "domain": "d", "execution": {"workflowId": "w1", "runId": run_id}})["executionInfo"]
    assert (info["executionStatus"], info["closeStatus"]) == ("CLOSED", "TIMED_OUT")


def test_a_manual_clock_never_goes_backwards():
    clock = ManualClock(start=10.0)
    assert clock.advance_to(5.0) == 10.0
    with pytest.raises(ValueError, match="never goes backwards"):
        clock.advance(-1)
    assert (clock.advance(2.5), clock.elapsed) == (12.5, 2.5)
