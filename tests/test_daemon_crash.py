"""Process death: a killed worker is respawned; a killed master's children stop
polling and exit; a plugin whose worker init crashes is respawned with backoff."""

from __future__ import annotations

import os
import re
import signal
import time
from datetime import datetime

from test_daemon_support import attrs, pid_alive

from swfd.testing import wait_for

POOLS = "[decider:test]\ntask_list = test\n\n[worker:test]\ntask_list = test\n"


def test_killed_worker_is_respawned_and_its_workflow_finishes_on_the_timeout(daemon):
    d = daemon(POOLS).start().wait_ready()
    run = d.start_workflow(input={"activity": "Sleep", "input": {"seconds": 120},
                                  "heartbeat_timeout": "3"})
    started = wait_for(lambda: [e for e in d.history(run)
                                if e["eventType"] == "ActivityTaskStarted"], 30,
                       message="the activity started")
    victim = int(attrs(started[0])["identity"].split(":")[1])
    assert victim in d.children("worker:test")
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(d.children("worker:test")) == 2, 30, message="a new worker")
    assert re.search(rf"worker:test pid {victim} died (in service|[0-9.]+s after it was "
                     r"ready, within min_uptime 10s) \(killed by SIGKILL", d.text())
    info = d.wait_closed(run, 60)
    assert info["closeStatus"] == "FAILED"
    timed_out = [attrs(e) for e in d.history(run) if e["eventType"] == "ActivityTaskTimedOut"]
    assert [t["timeoutType"] for t in timed_out] == ["HEARTBEAT"]
    d.signal(signal.SIGTERM)
    assert d.wait(60) == 0


def test_killed_master_children_stop_polling_and_exit(daemon, local_endpoint, swf_client):
    # An endpoint outside the daemon, so it outlives the master and shows who polls.
    d = daemon(POOLS.replace("task_list = test\n\n", "task_list = test\nprocesses = 2\n\n"),
               endpoint_url=local_endpoint.url, graceful_timeout=75).start().wait_ready()
    wait_for(lambda: len(d.ready_children("worker:test")) == 1
             and len(d.ready_children("decider:test")) == 2, 30, message="children polling")
    children = d.children()
    os.kill(d.proc.pid, signal.SIGKILL)
    d.wait(10)
    start = time.monotonic()
    # Polls last 1 s here; a child notices its master's death within a second.
    wait_for(lambda: not any(pid_alive(p) for p in children), 10, message="children gone")
    assert time.monotonic() - start < 5
    run = d.start_workflow(input={"activity": "Echo"})
    deadline = time.monotonic() + 3  # three poll timeouts: any poller would have taken it
    while time.monotonic() < deadline:
        assert d.event_types(run) == ["WorkflowExecutionStarted", "DecisionTaskScheduled"]
        time.sleep(0.2)


def _spawn_times(text: str, group: str) -> list[float]:
    stamps = re.findall(rf"^(\S+ \S+) INFO \[generation-\d+ \d+\] swfd.arbiter: spawned {group} pid",
                        text, re.MULTILINE)
    return [datetime.strptime(s, "%Y-%m-%d %H:%M:%S,%f").timestamp() for s in stamps]


def test_crashing_worker_init_is_respawned_with_backoff_not_in_a_hot_loop(daemon):
    d = daemon("[worker:test]\ntask_list = test\n",
               plugins="testplugin, testplugin-badinit").start()
    wait_for(lambda: len(_spawn_times(d.text(), "worker:test")) >= 4, 30,
             message="four spawns")
    first = _spawn_times(d.text(), "worker:test")[0]
    wait_for(lambda: time.time() - first > 6, 10, message="a 6 s window")
    times = [t - first for t in _spawn_times(d.text(), "worker:test")]
    # 0.5 s doubling, plus each child's short life: spawns near 0, 0.5, 1.5, 3.5
    # (and 7.5) s. A hot loop would make hundreds.
    assert times[3] >= 2.6, times
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps[2] > gaps[0], gaps
    assert len([t for t in times if t <= 6]) <= 5, times
    text = d.text()
    assert "init of worker pool test fails on purpose" in text
    assert "died before it was ready (exit code 1" in text and "respawning in 2.0s" in text
    assert d.proc.poll() is None
    d.signal(signal.SIGTERM)
    assert d.wait(30) == 0


def test_give_up_after_stops_the_whole_daemon_with_exit_1(daemon):
    d = daemon("[worker:test]\ntask_list = test\ngive_up_after = 3\n",
               plugins="testplugin, testplugin-badinit").start()
    assert d.wait(60) == 1
    text = d.text()
    assert "pool worker:test: 3 boot failures in a row (give_up_after = 3" in text
    assert len(_spawn_times(text, "worker:test")) == 3
    assert "swfd supervisor exiting with code 1" in text


def test_killed_generation_is_replaced_and_its_tasks_in_hand_are_answered(daemon):
    """kill -9 of a generation: its children drain on their own (lifeline), answering the
    tasks they hold; the supervisor starts a new generation that serves."""
    d = daemon(POOLS.replace("task_list = test\n\n", "task_list = test\nprocesses = 2\n\n")
               .replace("[worker:test]\ntask_list = test\n",
                        "[worker:test]\ntask_list = test\nprocesses = 3\n")).start().wait_ready()
    runs = [d.start_workflow(input={"activity": "Sleep", "input": {"seconds": 3}})
            for _ in range(3)]
    wait_for(lambda: all(d.count(r, "ActivityTaskStarted") == 1 for r in runs), 30,
             message="three tasks in hand")
    generation = int(re.search(r"started generation 1 \(pid (\d+)\)", d.text()).group(1))
    old_children = d.children("worker:test") + d.children("decider:test")
    os.kill(generation, signal.SIGKILL)
    wait_for(lambda: "started generation 2" in d.text(), 10, message="a new generation")
    assert f"generation 1 (pid {generation}) died (killed by SIGKILL)" in d.text()
    wait_for(lambda: not any(pid_alive(p) for p in old_children), 20,
             message="the old children drained")
    for run in runs:
        assert d.wait_closed(run, 60)["closeStatus"] == "COMPLETED"
        types = d.event_types(run)
        assert types.count("ActivityTaskStarted") == 1
        assert "ActivityTaskTimedOut" not in types and "ActivityTaskFailed" not in types
    assert d.proc.poll() is None
    d.signal(signal.SIGTERM)
    assert d.wait(60) == 0
