"""Prometheus metrics (``[swfd] metrics``), multiprocess: every child's counters add up,
survive respawns, and match a run exactly; scraped with a real HTTP client."""

from __future__ import annotations

import os
import re
import signal
import urllib.request

import pytest
from test_daemon_support import Daemon

from swfd.testing import wait_for

pytest.importorskip("prometheus_client")

POOLS = "[decider:test]\ntask_list = test\n\n[worker:test]\ntask_list = test\nprocesses = 3\n"


def scrape(url: str) -> dict[str, float]:
    """``{'name{labels}': value}`` for every sample (labels as Prometheus prints them)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def value(samples: dict[str, float], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    total = 0.0
    for key, number in samples.items():
        metric, _, rest = key.partition("{")
        if metric != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if all(found.get(k) == v for k, v in labels.items()):
            total += number
    return total


def test_counters_match_a_run_and_survive_a_respawn(tmp_path):
    d = Daemon(tmp_path, POOLS, extra="metrics = 127.0.0.1:0")
    try:
        d.start().wait_ready()
        url = wait_for(lambda: re.findall(r"metrics at (\S+) ", d.text()), 30,
                       message="the metrics address")[0]
        ok = d.start_workflow(input={"activity": "Echo", "count": 5})
        bad = d.start_workflow(input={"activity": "Raise", "count": 2})
        slow = d.start_workflow(input={"activity": "Sleep", "input": {"seconds": 3}})
        # Scraped while a workflow runs: the child running it counts as running.
        wait_for(lambda: value(scrape(url), "swfd_children", pool="worker:test",
                               state="running") >= 1, 30, message="a running child")
        assert d.wait_closed(ok, 60)["closeStatus"] == "COMPLETED"
        assert d.wait_closed(bad, 60)["closeStatus"] == "FAILED"
        assert d.wait_closed(slow, 60)["closeStatus"] == "COMPLETED"

        # kill -9 a worker that has served: its counters stay in the total.
        victim = d.children("worker:test")[0]
        before = value(scrape(url), "swfd_tasks_total", kind="worker")
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(d.children("worker:test")) == 4, 30, message="a respawn")
        samples = scrape(url)
        assert value(samples, "swfd_tasks_total", kind="worker") == before
        assert value(samples, "swfd_tasks_total", type="Echo", outcome="completed") == 5
        assert value(samples, "swfd_tasks_total", type="Raise", outcome="failed") == 2
        assert value(samples, "swfd_tasks_total", type="Sleep", outcome="completed") == 1
        assert value(samples, "swfd_task_duration_seconds_count", kind="worker") == 8
        assert value(samples, "swfd_tasks_total", kind="decider", outcome="completed") >= 6
        assert value(samples, "swfd_polls_total", pool="worker:test", outcome="task") == 8
        assert value(samples, "swfd_respawns_total", pool="worker:test") == 1
        assert value(samples, "swfd_schedule_to_start_seconds_count", pool="decider:test") >= 6
        assert value(samples, "swfd_generations_started_total") == 1
        # Live children only (the replacement counts once it polls).
        wait_for(lambda: value(scrape(url), "swfd_children", pool="worker:test") == 3, 30,
                 message="three live workers in swfd_children")
        files = os.listdir(tmp_path / "run" / "swfd.state" / "metrics")
        assert not [f for f in files if str(victim) in f]  # named by slot, not pid
        d.signal(signal.SIGTERM)
        assert d.wait(60) == 0
    finally:
        d.close()
