"""The decider history cache: joined or fetched, a handler sees the same history."""

from __future__ import annotations

import datetime
import random
from types import SimpleNamespace
from typing import Any

import pytest

from swfd import history_cache
from swfd.decider import DecisionPoller, DecisionTask, RunView
from swfd.history_cache import HistoryCache, join
from swfd.lifecycle import Lifecycle

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
KINDS = {
    "WorkflowExecutionSignaled": lambda n: {"signalName": f"s{n}", "input": "i" * (n % 7)},
    "TimerStarted": lambda n: {"timerId": f"t{n}" if n % 3 else f"swfd-retry-{n}",
                               "startToFireTimeout": "1"},
    "MarkerRecorded": lambda n: {"markerName": "swfd:decider-error" if n % 2 else "m",
                                 "details": "{}"},
}


def random_history(rng: random.Random) -> list[dict[str, Any]]:
    """Events 1..N: decision tasks scheduled, started and completed among other events;
    timestamps mostly rising, often equal (one second's events), sometimes out of order
    (what a filter by timestamp must survive)."""
    events: list[dict[str, Any]] = []
    clock = 0.0

    def add(kind: str, **attrs: Any) -> None:
        nonlocal clock
        clock += rng.choice((0.0, 0.0, 0.001, 1.0)) - (0.5 if rng.random() < 0.05 else 0)
        key = kind[0].lower() + kind[1:] + "EventAttributes"
        events.append({"eventId": len(events) + 1, "eventType": kind,
                       "eventTimestamp": T0 + datetime.timedelta(seconds=clock),
                       key: {"n": str(len(events)), **attrs}})

    pending: list[int] = []
    add("WorkflowExecutionStarted", input="x" * rng.randrange(100))
    for _ in range(rng.randrange(1, 12)):
        add("DecisionTaskScheduled")
        add("DecisionTaskStarted")
        if rng.random() < 0.15:
            add("DecisionTaskTimedOut")
            continue
        add("DecisionTaskCompleted")
        completed = len(events)
        for _ in range(rng.randrange(4)):
            kind = rng.choice(list(KINDS))
            extra = {"decisionTaskCompletedEventId": completed} if kind == "MarkerRecorded" else {}
            add(kind, **KINDS[kind](len(events)), **extra)
        if rng.random() < 0.5:  # an activity, closed now or later
            add("ActivityTaskScheduled", activityId=f"a{len(events)}",
                activityType={"name": "A", "version": "1"})
            pending.append(len(events))
        while pending and rng.random() < 0.5:
            scheduled = pending.pop(0)
            add(rng.choice(("ActivityTaskCompleted", "ActivityTaskFailed")),
                scheduledEventId=scheduled)
    add("DecisionTaskScheduled")
    add("DecisionTaskStarted")
    return events


def poll_of(rng: random.Random, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What PollForDecisionTask with startAtPreviousStartedEvent may return for the last
    decision task: the events at or after the previous completed decision's start, by
    timestamp (or, as the service may, a few more)."""
    previous = [e["eventId"] for e in events[:-1] if e["eventType"] == "DecisionTaskStarted"
                and events[e["eventId"]]["eventType"] == "DecisionTaskCompleted"]
    if not previous or rng.random() < 0.1:
        return list(events)
    since = events[previous[-1] - 1]["eventTimestamp"]
    polled = [e for e in events if e["eventTimestamp"] >= since]
    if rng.random() < 0.2:
        extra = rng.randrange(polled[0]["eventId"])
        polled = events[extra:polled[0]["eventId"] - 1] + polled
    return polled


def poller(cache: HistoryCache | None, full: list[dict[str, Any]],
           rng: random.Random) -> DecisionPoller:
    pool = SimpleNamespace(section="decider:test", task_list="test", history_cache=True,
                           history_cache_mb=64)
    p = DecisionPoller(SimpleNamespace(domain="d"), pool, None, Lifecycle(), None, "me")
    if cache is not None:
        p.cache = cache
    p.fetched = 0

    def fetch_history(execution: dict[str, str], through: int) -> list[dict[str, Any]]:
        p.fetched += 1
        size = rng.randrange(1, 30)
        pages = [full[i:i + size] for i in range(0, len(full), size)]
        got: list[dict[str, Any]] = []
        for page in pages:
            got.extend(page)
            if got[-1]["eventId"] >= through:
                break
        return got

    p.fetch_history = fetch_history  # type: ignore[method-assign]
    return p


RUN = {"workflowId": "w", "runId": "r"}


def task_of(events: list[dict[str, Any]], view: RunView | None = None,
            history: bool = True) -> DecisionTask:
    """The decision task of ``events`` (as handle() builds it: the run's cached view)."""
    task = DecisionTask({"taskToken": "t", "workflowExecution": RUN,
                         "workflowType": {"name": "W", "version": "1"},
                         "startedEventId": events[-1]["eventId"]}, events, None, view)
    if history:
        task.history  # noqa: B018 - built now, as a handler asking for it would
    return task


HISTORY_FIELDS = ("events", "activities", "timers", "child_workflows", "lambda_functions",
                  "signals", "markers", "cancel_requested", "closed", "failures",
                  "execution_context", "last_decision_started_event_id",
                  "previous_started_event_id", "started_event", "workflow_type", "input")


def attrs(e: dict[str, Any]) -> dict[str, Any]:
    return e.get(e["eventType"][0].lower() + e["eventType"][1:] + "EventAttributes", {})


def hidden(e: dict[str, Any]) -> bool:
    """swfd's own marker or timer (the oracle for what handlers do not see)."""
    return (e["eventType"] == "MarkerRecorded" and attrs(e)["markerName"].startswith("swfd:")
            or e["eventType"] == "TimerStarted" and attrs(e)["timerId"].startswith("swfd-"))


def error_state(events: list[dict[str, Any]]) -> tuple[int, int, list[str]]:
    """The decision-error state from scratch, two plain passes (the oracle for RunView)."""
    errors = {attrs(e).get("decisionTaskCompletedEventId") for e in events
              if e["eventType"] == "MarkerRecorded"
              and attrs(e).get("markerName") == "swfd:decider-error"}
    in_a_row, timers = 0, {}
    for e in events:
        timer = str(attrs(e).get("timerId", ""))
        if e["eventType"] == "DecisionTaskCompleted":
            in_a_row = in_a_row + 1 if e["eventId"] in errors else 0
        elif e["eventType"] == "TimerStarted" and timer.startswith("swfd-"):
            timers[timer] = True
        elif e["eventType"] in ("TimerFired", "TimerCanceled") and timer.startswith("swfd-"):
            timers.pop(timer, None)
    return in_a_row, len(errors), list(timers)


def assert_same_task(seen: DecisionTask, expected: DecisionTask) -> None:
    """Everything a handler can read is the same."""
    assert (seen.errors_in_a_row, seen.errors_total, seen.open_retry_timers) == error_state(
        expected.raw_events)
    assert seen.events == [e for e in expected.raw_events if not hidden(e)]
    assert seen.raw_events == expected.raw_events
    assert seen.events == expected.events
    assert seen.new_events == expected.new_events
    assert (seen.attempt, seen.errors_in_a_row, seen.errors_total, seen.open_retry_timers) == (
        expected.attempt, expected.errors_in_a_row, expected.errors_total,
        expected.open_retry_timers)
    for name in HISTORY_FIELDS:
        assert getattr(seen.history, name) == getattr(expected.history, name), name
    for event in expected.events:
        assert seen.history.by_id(event["eventId"]) == event


@pytest.mark.parametrize("seed", range(400))
def test_a_handler_sees_the_same_history_whatever_the_cache_holds(seed):
    rng = random.Random(seed)
    full = random_history(rng)
    polled = poll_of(rng, full)
    cache = HistoryCache(rng.choice((64 * 2 ** 20, rng.randrange(1, 200_000))))
    state = rng.choice(("empty", "prefix", "prefix", "other run", "evicted"))
    k = rng.randrange(1, len(full) + 1)
    if state == "prefix":  # as the previous decision left it (its History built or not)
        view = RunView()
        task_of(full[:k], view, history=rng.random() < 0.7)
        cache.put(("w", "r"), full[:k], view)
    elif state == "other run":
        cache.put(("w", "another run"), full[:k])
    elif state == "evicted":
        cache.put(("w", "r"), full[:k])
        cache.drop(("w", "r"))
    cached = len(cache.get(("w", "r")))  # 0 too when k events exceed the budget
    p = poller(cache, full, rng)
    got = p.complete_history(RUN, polled, full[-1]["eventId"])

    assert got == full
    assert [e["eventId"] for e in got] == list(range(1, len(full) + 1))
    assert_same_task(task_of(got, cache.view(("w", "r"))), task_of(full))
    if polled[0]["eventId"] == 1 and polled == full:
        assert (cache.hits, cache.misses, p.fetched) == (0, 0, 0)
    else:
        assert cache.hits + cache.misses == 1
        assert p.fetched == cache.misses
        covered = set(range(1, cached + 1)) | {
            e["eventId"] for e in polled} >= set(range(1, len(full) + 1))
        assert cache.hits == (1 if covered else 0)
    if ("w", "r") in cache:  # kept for the next decision
        assert cache.get(("w", "r")) == full
    else:  # only when it would not fit
        assert sum(history_cache.estimate_bytes(e) + history_cache.VIEW_BYTES
                   for e in full) > cache.budget
    assert cache.size <= cache.budget


@pytest.mark.parametrize("seed", range(60))
def test_a_runs_successive_decisions_see_fresh_histories_from_the_cached_view(seed):
    """One process deciding a run task after task (mostly hits, now and then evicted):
    each task, advanced from the cached view, equals one built from scratch."""
    rng = random.Random(seed)
    full = random_history(rng)
    starts = [e["eventId"] for e in full if e["eventType"] == "DecisionTaskStarted"]
    cache = HistoryCache(64 * 2 ** 20)
    p = poller(cache, full, rng)
    for end in starts:
        events = full[:end]
        if rng.random() < 0.1:
            cache.drop(("w", "r"))
        got = p.complete_history(RUN, poll_of(rng, events), end)
        assert got == events
        seen = task_of(got, cache.view(("w", "r")), history=rng.random() < 0.8)
        assert_same_task(seen, task_of(events))
    assert cache.hits + cache.misses <= len(starts)


def test_join_drops_overlaps_and_refuses_gaps():
    events = [{"eventId": i} for i in range(1, 11)]
    assert join(events[:6], events[3:]) == events
    assert join(events[:3], events[3:]) == events
    assert join(events[:2], events[3:]) is None
    assert join([], events[3:]) is None
    assert join([], events) == events
    assert join(events[:5], []) is None
    assert join(events[:4], events[3:5] + events[6:]) is None  # a hole inside the poll
    assert join(events[:7], events[3:5] + events[6:]) == events


def test_the_least_recently_used_runs_go_first_within_the_budget():
    one = [{"eventId": i, "eventType": "WorkflowExecutionSignaled"} for i in range(1, 11)]
    size = sum(history_cache.estimate_bytes(e) for e in one)
    cache = HistoryCache(size * 2)
    cache.put(("a", "1"), one)
    cache.put(("b", "1"), one)
    cache.get(("a", "1"))
    cache.put(("c", "1"), one)
    assert ("a", "1") in cache and ("c", "1") in cache and ("b", "1") not in cache
    assert cache.size == size * 2
    cache.put(("big", "1"), one * 3)  # bigger than the whole budget: not kept
    assert ("big", "1") not in cache and len(cache) == 2
    cache.drop(("a", "1"))
    assert cache.size == size and len(cache) == 1


def test_closing_decisions_are_recognised():
    assert history_cache.closes_the_run([{"decisionType": "ScheduleActivityTask"},
                                         {"decisionType": "CompleteWorkflowExecution"}])
    assert history_cache.closes_the_run([{"decisionType": "ContinueAsNewWorkflowExecution"}])
    assert not history_cache.closes_the_run([{"decisionType": "StartTimer"}])
