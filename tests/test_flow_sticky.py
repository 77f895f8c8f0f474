"""An ``async def`` workflow's instance kept between decision tasks decides exactly as a
full replay would: over the test corpus (the flow features and replay tests' workflows,
the tutorial's async twins, the booking), random event interleavings, signals between
tasks, timers, children, cancellation, continue-as-new, lost and refused answers, and
code changed under a running execution."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
import swfd_tutorial
import test_flow_features as features
import test_flow_replay as replays
from swfd_tutorial import as_code
from test_flow_sticky_support import CLOSED, StickyDriver, _outcome, _same
from test_flow_support import attrs, decider_errors

import swfd
from swfd.flow.commands import activations
from swfd.flow.replay import Replay
from swfd.testing import InProcessEndpoint, ManualClock

ELSEWHERE = {"name": "Elsewhere", "version": "7", "defaultTaskList": {"name": "nobody"},
             "defaultTaskStartToCloseTimeout": "60", "defaultTaskScheduleToCloseTimeout": "120",
             "defaultTaskScheduleToStartTimeout": "120", "defaultTaskHeartbeatTimeout": "NONE"}
TUTORIAL = [swfd_tutorial.hello_world, swfd_tutorial.activity_a, swfd_tutorial.activity_b,
            swfd_tutorial.activity_c, *as_code.WORKFLOWS]


@pytest.fixture
def endpoint():
    """An in-process endpoint whose clock moves only when the test skips time."""
    served = InProcessEndpoint(clock=ManualClock()).start()
    try:
        yield served
    finally:
        served.stop()


def _interleave(d):
    execution = d.start(replays.interleave, 4)
    d.extra.append(("go", lambda: d.signal(execution, "go", "went")))
    d.extra.append(("hurry", lambda: d.signal(execution, "hurry", 7)))
    return [execution]


def _racer(d):
    execution = d.start(replays.racer, 3)
    d.extra.append(("cancel", lambda: d.client.request_cancel_workflow_execution(
        domain=d.domain, **execution)))
    return [execution]


def _retrying(d):
    return [d.start(features.retrying, {"fail_until": 3, "retry": {
        "max_attempts": 4, "initial_delay": 1, "backoff": 2}})]


def _signals(d):
    execution = d.start(features.signals, None)
    d.signal(execution, "early", 1)
    d.extra.append(("early", lambda: d.signal(execution, "early", 2)))
    d.extra.append(("late", lambda: d.signal(execution, "late", {"x": 1})))
    return [execution]


def _parent(d):
    return [d.start(features.parent, None, workflow_id=f"parent-{random.random()}")]


def _cancellable(d):
    d.client.register_activity_type(domain=d.domain, **ELSEWHERE)
    execution = d.start(features.cancellable, None)
    d.extra.append(("cancel", lambda: d.client.request_cancel_workflow_execution(
        domain=d.domain, **execution)))
    return [execution]


def _counter(d):
    return [d.start(features.counter, 0, workflow_id=f"counter-{random.random()}")]


def _caller(d):
    d.start(features.peer, None, workflow_id="peer-greeted")
    d.start(features.peer, None, workflow_id="peer-stopped")
    return [d.start(features.caller, {"greet": "peer-greeted", "stop": "peer-stopped"})]


def _patched(d):
    execution = d.start(replays.after_patch, None)
    d.extra.append(("next", lambda: d.signal(execution, "next")))
    return [execution]


def _outcomes(d):
    listener = d.start(features.listener, None)
    d.client.signal_workflow_execution(domain=d.domain, signalName="data", input="{not json",
                                       **listener)
    return [d.start(features.outcomes, "fail"), listener]


def _tutorial(d):
    return [d.start(w, raw="") for w in as_code.WORKFLOWS]


def _booking(d):
    booking = pytest.importorskip("swfd_booking", reason="pip install -e plugins/booking")
    trip = {"from": "LHR", "to": "JFK", "date": "2027-03-01", "passenger": "Ada"}
    regress = d.start(booking.booking, {**trip, "card": "expired"})
    d.extra.append(("new card", lambda: d.signal(regress, "new-payment-method",
                                                 {"card": "4111111111111111"})))
    return [regress, d.start(booking.booking, {**trip, "card": "flaky"})]


def _booking_defs():
    try:
        import swfd_booking as b
    except ImportError:
        return []
    return [b.select_itinerary, b.personal_details, b.validate_payment, b.confirm_booking,
            b.booking]


SCENARIOS = {
    "interleave": ([replays.echo, replays.interleave], _interleave),
    "racer": ([replays.echo, replays.kid, replays.racer], _racer),
    "retrying": ([features.flaky, features.echo, features.retrying], _retrying),
    "signals": ([features.echo, features.signals], _signals),
    "children": ([features.echo, features.child, features.parent], _parent),
    "cancellable": ([features.echo, features.cancellable], _cancellable),
    "continue_as_new": ([features.echo, features.counter], _counter),
    "externals": ([features.peer, features.caller], _caller),
    "patched": ([replays.echo, replays.after_patch], _patched),
    "outcomes": ([features.echo, features.outcomes, features.listener], _outcomes),
    "tutorial": (TUTORIAL, _tutorial),
    "booking": (_booking_defs(), _booking),
}


def _run_all(driver, executions):
    """Run each execution to its close, and the runs it continued as new."""
    histories = []
    for execution in executions:
        for _ in range(10):
            events = driver.run(execution)
            histories.append(events)
            new_run = attrs(events[-1]).get("newExecutionRunId")
            if events[-1]["eventType"] != "WorkflowExecutionContinuedAsNew" or not new_run:
                break
            execution = {"workflowId": execution["workflowId"], "runId": new_run}
    return histories


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_kept_instance_decides_as_a_full_replay_at_every_decision_task(
        tmp_path, endpoint, scenario, seed):
    """Real deciders (history cache on) decide every task both ways, the kept instance
    continued where it can and a full replay, in a random order of events, with some
    answers lost or refused: the same decisions, or the same error, every time."""
    defs, start = SCENARIOS[scenario]
    driver = StickyDriver(tmp_path, endpoint, endpoint.new_domain(), defs,
                          random.Random(f"{scenario}-{seed}"))
    histories = _run_all(driver, start(driver))
    notes = driver.notes

    assert all(h[-1]["eventType"] in CLOSED for h in histories)
    assert notes["mismatches"] == []
    assert notes["continued_ahead"] == []  # a lost or refused answer is never built upon
    ways = notes["ways"]
    assert len(ways) >= len(histories)
    if scenario != "outcomes" and len(ways) >= 4:  # outcomes' runs close at once
        assert "continued" in ways, ways
    if scenario == "continue_as_new":
        assert len(histories) >= 2


def test_lost_and_refused_answers_fall_back_to_a_full_replay(tmp_path, endpoint):
    """The instance decided, but its answer never reached the history (the decision
    task timed out) or SWF refused it (swfd recorded a decider error): the next task
    replays from the start, and decides what a full replay decides."""
    driver = StickyDriver(tmp_path, endpoint, endpoint.new_domain(),
                          [replays.echo, replays.interleave], random.Random(1), lose=0.0)
    execution = driver.start(replays.interleave, 3)
    driver.extra.append(("go", lambda: driver.signal(execution, "go", "went")))
    adapter = replays.interleave.func
    ways = driver.notes["ways"]

    def decided_and_pending(count):
        return lambda ev: len(ways) >= count and ev[-1]["eventType"] == "DecisionTaskScheduled"

    driver.run(execution, until=decided_and_pending(2))
    for refused in (False, True):
        before = dict(adapter.counts)
        driver.decide_without_answer("flow", refused=refused)
        assert driver.notes["ahead"] == {execution["runId"]: True}
        driver.run(execution, until=decided_and_pending(len(ways) + 1))
        assert adapter.counts["fell_back"] == before["fell_back"] + 1
        assert driver.notes["ahead"] == {}
    events = driver.run(execution)
    assert events[-1]["eventType"] == "WorkflowExecutionCompleted"
    assert driver.notes["mismatches"] == [] and driver.notes["continued_ahead"] == []
    kinds = [e["eventType"] for e in events]
    assert "DecisionTaskTimedOut" in kinds
    assert driver.notes["lost"] == driver.notes["refused"] == 1


def _task_prefixes(events):
    """The history as each decision task had it (through its DecisionTaskStarted)."""
    return [events[:a.started["eventId"]] for a in activations(events)]


def _replay(definition, prefix, execution):
    return Replay(definition.func.func, prefix, execution, definition.codec,
                  definition.func.continue_as_new_after, input=_input(prefix))


def _input(events):
    raw = attrs(events[0]).get("input")
    return json.loads(raw) if raw else None


def _recorded(tmp_path, endpoint, seed):
    driver = StickyDriver(tmp_path, endpoint, endpoint.new_domain(),
                          [replays.echo, replays.interleave], random.Random(seed), lose=0.0)
    execution = driver.start(replays.interleave, 3)
    driver.extra.append(("go", lambda: driver.signal(execution, "go", "went")))
    driver.extra.append(("hurry", lambda: driver.signal(execution, "hurry", seed)))
    return execution, driver.run(execution)


@pytest.mark.parametrize("seed", range(3))
def test_tasks_decided_elsewhere_meanwhile_are_replayed_into_the_kept_instance(
        tmp_path, endpoint, seed):
    """Resumed across any number of decision tasks another process answered, the
    instance replays them (checking them as a full replay does) and decides the same."""
    execution, events = _recorded(tmp_path, endpoint, seed)
    prefixes = _task_prefixes(events)
    rng = random.Random(seed)
    continued = 0
    kept = _replay(replays.interleave, prefixes[0], execution)
    kept.run(keep=True)
    for prefix in prefixes[1:]:
        if rng.random() < 0.5:
            continue  # this task went to another process
        fresh = _outcome(lambda p=prefix: _replay(replays.interleave, p, execution).run())
        resumed = _outcome(lambda p=prefix: kept.resume(p))
        assert resumed[1] is not None, "the recorded history continues the instance"
        assert _same(fresh, resumed)
        continued += 1
        if not kept.resumable():
            break
    assert continued >= 1 or len(prefixes) < 3


def test_changed_code_raises_the_same_non_determinism_error_both_ways(tmp_path, endpoint):
    """The kept instance runs other code than the process that answered the tasks in
    between (a rolling deploy): replaying those tasks into it raises the
    NonDeterminismError a full replay raises, word for word."""
    execution, events = _recorded(tmp_path, endpoint, 0)
    prefixes = _task_prefixes(events)
    changed = replays.interleave_without_timer
    kept = _replay(changed, prefixes[0], execution)
    kept.run(keep=True)
    assert kept.resumable()
    raised = 0
    for prefix in prefixes[1:]:
        fresh = _outcome(lambda p=prefix: _replay(changed, p, execution).run())
        if fresh[0] == "raised":
            resumed = _outcome(lambda p=prefix: kept.resume(p))
            assert isinstance(resumed[1], swfd.NonDeterminismError)
            assert _same(fresh, resumed)
            assert not kept.resumable()
            raised += 1
            break
    assert raised == 1


def test_a_history_that_does_not_continue_the_instance_is_refused(tmp_path, endpoint):
    """Another run's history, a gap, or the same history again: resume says None and
    closes the instance (the caller replays from the start)."""
    execution, events = _recorded(tmp_path, endpoint, 2)
    prefixes = _task_prefixes(events)
    for bad in (prefixes[1][:5] + prefixes[1][6:],  # a gap
                prefixes[0],                          # nothing new
                [dict(e, eventType="WorkflowExecutionSignaled")  # another prefix
                 if e["eventId"] == len(prefixes[0]) else e for e in prefixes[1]]):
        kept = _replay(replays.interleave, prefixes[0], execution)
        kept.run(keep=True)
        assert kept.resume(bad) is None
        assert kept.finished and not kept.resumable()
    kept = _replay(replays.interleave, prefixes[0], execution)
    kept.run(keep=True)
    assert kept.resume(prefixes[1]) is not None


def test_a_deploy_in_the_same_process_does_not_resume_the_old_codes_instance(tmp_path,
                                                                          endpoint):
    """Other code for the type (the registry swapped, as a reload does): its first task
    replays from the start and raises the NonDeterminismError a full replay raises."""
    driver = StickyDriver(tmp_path, endpoint, endpoint.new_domain(),
                          [replays.echo, replays.interleave], random.Random(3), lose=0.0)
    execution = driver.start(replays.interleave, 2)
    driver.run(execution, until=lambda ev: "ActivityTaskScheduled" in [e["eventType"]
                                                                        for e in ev])
    key = ("Interleave", "1")
    checked = driver.registry.workflows[key].func
    continued = replays.interleave_reordered.func.counts["continued"]
    driver.registry.workflows[key] = dataclasses.replace(
        replays.interleave_reordered,
        func=type(checked)(replays.interleave_reordered.func, driver.notes))
    events = driver.run(execution, until=lambda ev: bool(decider_errors(ev)))
    assert decider_errors(events)[0].startswith("NonDeterminismError: ")
    assert driver.notes["mismatches"] == []
    assert replays.interleave_reordered.func.counts["continued"] == continued


def test_a_kept_instance_counts_in_the_history_caches_budget():
    from bench.fig_decider import synthetic_history
    from swfd.decider import RunView
    from swfd.flow.sticky import Kept
    from swfd.history_cache import VIEW_BYTES, HistoryCache

    events, run = synthetic_history(100), ("w", "r")
    cache, view = HistoryCache(2 ** 30), RunView()
    cache.put(run, events, view)
    plain = cache.size
    view.flow = Kept(None, run, None)
    cache.put(run, events, view)
    assert cache.size == plain + Kept.bytes_per_event * len(events)
    view.flow = None
    cache.put(run, events, view)
    assert cache.size == plain
    assert plain > VIEW_BYTES * len(events)


def test_the_benchs_async_rows_take_the_path_they_name():
    """bench/fig_decider.py's async rows: 'continued' continued the kept instance and
    'replayed' replayed from the start (measure_async raises otherwise)."""
    from bench import fig_decider

    m = fig_decider.measure_async(100, min_seconds=0.05, max_reps=5)
    assert m["events"] == 99
    assert all(m[mode] > 0 for mode in fig_decider.ASYNC_MODES)


CLOSED_ON = []


@swfd.workflow("Tidy", "1", task_list="flow")
async def tidy(wf, _input):
    try:
        await wf.signal("never")
    finally:
        from swfd.flow.futures import current_loop

        CLOSED_ON.append(current_loop())  # what swfd.gather() here would reach


def test_an_evicted_instance_is_closed_where_it_is_dropped_on_its_own_loop(tmp_path, endpoint):
    """Its coroutine's ``finally`` runs when the cache lets the run go, with its own loop
    as the current one, not later from the garbage collector in the middle of another
    workflow's decision."""
    from swfd.flow.futures import Loop

    driver = StickyDriver(tmp_path, endpoint, endpoint.new_domain(), [tidy], random.Random(0),
                          lose=0.0)
    execution = driver.start(tidy, None)
    driver.act(("decide", "flow"))
    decider = driver.deciders["flow"]
    run = (execution["workflowId"], execution["runId"])
    own = decider.cache.view(run).flow.replay.loop
    CLOSED_ON.clear()
    with Loop().entered():  # another workflow's loop running when the cache lets go
        decider.cache.drop(run)
        assert CLOSED_ON == [own]
