"""The decider history cache: joined or fetched, a handler sees the same history."""

from __future__ import annotations

import datetime
import random
from types import SimpleNamespace
from typing import Any

import pytest

from swfd import history_cache
from swfd.decider import DecisionPoller, DecisionTask
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

    add("WorkflowExecutionStarted", input="x" * rng.randrange(100))
    for _ in range(rng.randrange(1, 12)):
        add("DecisionTaskScheduled")
        add("DecisionTaskStarted")
        if rng.random() < 0.15:
            add("DecisionTaskTimedOut")
            continue
        add("DecisionTaskCompleted")
        for _ in range(rng.randrange(4)):
            kind = rng.choice(list(KINDS))
            add(kind, **KINDS[kind](len(events)))
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


def task_of(events: list[dict[str, Any]]) -> DecisionTask:
    return DecisionTask({"taskToken": "t", "workflowExecution": RUN,
                         "workflowType": {"name": "W", "version": "1"},
                         "startedEventId": events[-1]["eventId"]}, events, None)


@pytest.mark.parametrize("seed", range(400))
def test_a_handler_sees_the_same_history_whatever_the_cache_holds(seed):
    rng = random.Random(seed)
    full = random_history(rng)
    polled = poll_of(rng, full)
    cache = HistoryCache(rng.choice((64 * 2 ** 20, rng.randrange(1, 200_000))))
    state = rng.choice(("empty", "prefix", "prefix", "other run", "evicted"))
    k = rng.randrange(1, len(full) + 1)
    if state == "prefix":
        cache.put(("w", "r"), full[:k])
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
    expected, seen = task_of(full), task_of(got)
    assert seen.raw_events == expected.raw_events
    assert seen.events == expected.events
    assert seen.new_events == expected.new_events
    assert (seen.attempt, seen.errors_total) == (expected.attempt, expected.errors_total)
    assert seen.history.events == expected.history.events
    assert seen.history.signals == expected.history.signals
    assert seen.history.markers == expected.history.markers
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
        assert sum(history_cache.estimate_bytes(e) for e in full) > cache.budget
    assert cache.size <= cache.budget


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
