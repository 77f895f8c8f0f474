"""Autoscaled pools (``processes = low..high``): a backlog grows the pool while every child
is busy; idle children are drained away after ``scale_down_delay``; nothing is lost."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from test_daemon_support import Daemon, pid_alive

from swfd.testing import wait_for

POOLS = ("[decider:test]\ntask_list = test\n\n"
         "[worker:test]\ntask_list = test\nprocesses = 1..4\nscale_interval = 1\n"
         "scale_down_delay = 2\n")


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path, POOLS)
    try:
        yield d
    finally:
        d.close()


def live_workers(d: Daemon) -> list[int]:
    return [pid for pid in d.children("worker:test") if pid_alive(pid)]


def test_backlog_grows_a_1_to_4_pool_to_4_and_idle_shrinks_it_back(daemon):
    d = daemon.start().wait_ready()
    assert len(live_workers(d)) == 1
    run = d.start_workflow(input={"activity": "Sleep", "input": {"seconds": 0.5},
                                  "count": 50})
    wait_for(lambda: len(live_workers(d)) == 4, 60, message="the pool grown to 4")
    assert "pool worker:test grows to" in d.text()
    done = subprocess.run([sys.executable, "-m", "swfd.cli", "--config", str(d.config),
                           "status", "--json"], env=d.env, capture_output=True, text=True,
                          timeout=60, check=False)
    (pool,) = [p for p in json.loads(done.stdout)["generations"][0]["pools"]
               if p["pool"] == "worker:test"]
    assert (pool["min"], pool["max"]) == (1, 4) and pool["backlog"] is not None
    assert d.wait_closed(run, 120)["closeStatus"] == "COMPLETED"
    types = d.event_types(run)
    assert types.count("ActivityTaskStarted") == 50 == types.count("ActivityTaskCompleted")
    wait_for(lambda: len(live_workers(d)) == 1, 60, message="the pool shrunk to 1")
    assert d.text().count("pool worker:test shrinks to") == 3
    assert len(d.children("worker:test")) == 4  # drained children were not respawned
    d.signal(signal.SIGTERM)
    assert d.wait(60) == 0
