"""The decider history cache against the local endpoint: two decider processes (two
pollers, each with its own cache) share one run, so each misses when the other decided
last; every handler call still sees the run's whole history."""

from __future__ import annotations

import dataclasses
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "plugins"))

import swfd_harness as h

import swfd
from swfd.decider import DecisionPoller
from swfd.lifecycle import Lifecycle
from swfd.registry import Registry
from swfd.testing import wait_for


@pytest.fixture
def settings(local_endpoint, domain, tmp_path):
    return h.load_settings(h.write_config(tmp_path, local_endpoint.url, domain))


def test_single_process_decider_pools_cache_by_default(settings, tmp_path, local_endpoint,
                                                       domain):
    assert h.pool_of(settings, "decider").history_cache is True
    assert h.pool_of(settings, "decider").history_cache_mb == 64
    assert h.pool_of(settings, "worker").history_cache is False
    pools = ("[decider:two]\ntask_list = a\nprocesses = 2\n\n"
             "[decider:auto]\ntask_list = b\nprocesses = 1..4\n\n"
             "[decider:forced]\ntask_list = c\nprocesses = 3\nhistory_cache = yes\n"
             "history_cache_mb = 8\n\n"
             "[decider:off]\ntask_list = d\nhistory_cache = no\n")
    loaded = h.load_settings(h.write_config(tmp_path, local_endpoint.url, domain, pools=pools))
    by_name = {p.name: (p.history_cache, p.history_cache_mb) for p in loaded.pools}
    assert by_name == {"two": (False, 64), "auto": (False, 64), "forced": (True, 8),
                       "off": (False, 64)}


def test_two_decider_processes_miss_each_others_runs_and_see_whole_histories(
        settings, swf_client, domain):
    seen: list[tuple[int, list[dict]]] = []

    @swfd.workflow("Signals", "1", task_list="test")
    def signals(task):
        seen.append((task.started_event_id, task.raw_events))
        decisions = swfd.Decisions()
        if any(e["eventType"] == "WorkflowExecutionSignaled" and
               e["workflowExecutionSignaledEventAttributes"]["signalName"] == "finish"
               for e in task.new_events):
            decisions.complete_workflow_execution(result=json.dumps(len(task.events)))
        return decisions

    registry = Registry.from_defs([signals])
    h.register_types(swf_client, domain, registry)
    pool = dataclasses.replace(h.pool_of(settings, "decider"), history_cache=True)
    a, b = (DecisionPoller(settings, pool, registry, Lifecycle(), swf_client, name)
            for name in ("a", "b"))
    run = h.start(swf_client, domain, "Signals")
    key = (run["workflowId"], run["runId"])

    def decide(poller: DecisionPoller) -> None:
        poller.handle(wait_for(poller.poll, timeout=20, message="a decision task"))

    def signal_after(name: str = "s") -> None:
        """A signal whose event is later (by timestamp) than every event before it, so
        the next poll's "since the previous decision" cannot reach back over them."""
        before = h.history(swf_client, domain, run)[-1]["eventTimestamp"]
        wait_for(lambda: swf_client.signal_workflow_execution(
            domain=domain, signalName=name, **run) and h.history(
            swf_client, domain, run)[-1]["eventTimestamp"] > before,
            message="a later timestamp")

    def counts(poller: DecisionPoller) -> tuple[int, int]:
        assert poller.cache is not None
        assert (poller.board.record.get("cache_hits", 0),
                poller.board.record.get("cache_misses", 0)) == (
            poller.cache.hits, poller.cache.misses)
        return poller.cache.hits, poller.cache.misses

    decide(a)  # the first decision task: the poll returns the whole history
    assert counts(a) == (0, 0)
    signal_after()
    decide(a)
    assert counts(a) == (1, 0)
    signal_after()
    decide(b)  # b never saw the run
    assert counts(b) == (0, 1)
    signal_after()
    decide(a)  # a's events stop before b's decision: a gap
    assert counts(a) == (1, 1)
    signal_after("finish")
    decide(a)
    assert counts(a) == (2, 1)
    assert key not in a.cache and key in b.cache  # a closed the run; b cannot know

    events = h.wait_closed(swf_client, domain, run)
    assert events[-1]["eventType"] == "WorkflowExecutionCompleted"
    assert len(seen) == 5
    for started, raw_events in seen:
        assert raw_events == events[:started]


def test_a_cached_decider_answers_like_an_uncached_one(settings, swf_client, domain):
    """The same workflow decided with the cache on and off: the same histories."""
    seen: dict[str, list[list[int]]] = {}

    @swfd.workflow("Count", "1", task_list="test")
    def count(task):
        seen.setdefault(task.workflow_execution["workflowId"], []).append(
            [e["eventId"] for e in task.events])
        decisions = swfd.Decisions()
        if len([e for e in task.events if e["eventType"] == "WorkflowExecutionSignaled"]) >= 3:
            decisions.complete_workflow_execution(result="done")
        return decisions

    registry = Registry.from_defs([count])
    h.register_types(swf_client, domain, registry)
    for cached in (True, False):
        pool = dataclasses.replace(h.pool_of(settings, "decider"), history_cache=cached)
        poller = DecisionPoller(settings, pool, registry, Lifecycle(), swf_client, "x")
        run = h.start(swf_client, domain, "Count", workflow_id=f"count-{cached}")
        poller.handle(wait_for(poller.poll, timeout=20, message="a decision task"))
        for _ in range(3):
            swf_client.signal_workflow_execution(domain=domain, signalName="s", **run)
            poller.handle(wait_for(poller.poll, timeout=20, message="a decision task"))
        assert h.wait_closed(swf_client, domain, run)[-1]["eventType"] == (
            "WorkflowExecutionCompleted")
    assert seen["count-True"] == seen["count-False"]
    assert all(ids == list(range(1, len(ids) + 1)) for ids in seen["count-True"])
