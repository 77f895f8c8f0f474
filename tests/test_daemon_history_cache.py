"""Two real decider processes with the history cache on, sharing runs: each decides
from whole histories whether it joined its cache or fetched (the miss path), and the
hits and misses are counted."""

from __future__ import annotations

import json
import re

import pytest
from test_daemon_metrics import scrape, value

from swfd.testing import wait_for

pytest.importorskip("prometheus_client")

POOLS = ("[decider:test]\ntask_list = test\nprocesses = 2\nhistory_cache = yes\n\n"
         "[worker:test]\ntask_list = test\nprocesses = 3\n")


def test_two_cached_decider_processes_complete_shared_runs(daemon):
    d = daemon(POOLS, extra="metrics = 127.0.0.1:0").start().wait_ready()
    url = wait_for(lambda: re.findall(r"metrics at (\S+) ", d.text()), 30,
                   message="the metrics address")[0]
    runs = [d.start_workflow(input={"activity": "Echo", "input": {"n": i}, "count": 8})
            for i in range(3)]
    for run in runs:
        assert d.wait_closed(run, 90)["closeStatus"] == "COMPLETED"
        events = d.history(run)
        # The handler schedules only when it sees no ActivityTaskScheduled: a history
        # missing its start would have scheduled twice.
        assert [e["eventType"] for e in events].count("ActivityTaskScheduled") == 8
        result = json.loads(events[-1]["workflowExecutionCompletedEventAttributes"]["result"])
        assert len(result) == 8
    samples = scrape(url)
    decisions = value(samples, "swfd_tasks_total", kind="decider", outcome="completed")
    counted = value(samples, "swfd_decider_history_cache_total", pool="decider:test")
    # Every decision but a run's first is a hit or a miss (a first one, or one whose poll
    # reached back to event 1, is neither).
    assert 0 < counted <= decisions - len(runs)
    assert value(samples, "swfd_decider_history_cache_total", outcome="hit") + value(
        samples, "swfd_decider_history_cache_total", outcome="miss") == counted
