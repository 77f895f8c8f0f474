"""The daemon starts, tells systemd, runs a workflow, stops; bad configs exit 2."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from test_daemon_support import Daemon, pid_alive

from swfd.testing import wait_for

POOLS = """
[decider:test]
task_list = test
processes = 1

[worker:test]
task_list = test
processes = 2
"""


@pytest.fixture
def daemon(tmp_path):
    started: list[Daemon] = []

    def make(*args, **kwargs) -> Daemon:
        d = Daemon(tmp_path, *args, **kwargs)
        started.append(d)
        return d

    yield make
    for d in started:
        d.close()


def test_startup_pidfile_ready_status_workflow_and_stop(daemon):
    d = daemon(POOLS).start().wait_ready()
    assert d.pidfile.read_text().strip() == str(d.proc.pid)
    assert d.notified("STATUS=generation 1: 1 decider, 2 workers running")
    assert d.notified(f"MAINPID={d.proc.pid}")
    text = d.text()
    order = [line.split(" pid ")[0].rsplit(" ", 1)[-1]
             for line in text.splitlines() if "swfd.arbiter: spawned" in line]
    assert order == ["registrar", "decider:test", "worker:test", "worker:test"]
    assert text.index("local endpoint ready at") < text.index("started generation 1")

    run = d.start_workflow(input={"activity": "Echo", "input": {"hi": 1}, "count": 2})
    assert d.wait_closed(run)["closeStatus"] == "COMPLETED"

    children = d.children()
    d.signal(signal.SIGTERM)
    assert d.wait(60) == 0
    assert d.notified("STOPPING=1")
    assert not d.pidfile.exists()
    wait_for(lambda: not any(pid_alive(p) for p in children), 10, message="children gone")
    text = d.text()
    assert "while threads run" not in text
    stop = text.index("SIGTERM")
    assert (text.index("generation 1 (pid", stop) < text.index("every generation has exited")
            < text.index("local endpoint (pid", stop))


def test_bad_value_exits_2_naming_the_key(daemon):
    d = daemon(POOLS.replace("processes = 2", "processes = many"))
    done = subprocess.run([sys.executable, "-m", "swfd.cli", "--config", str(d.config)],
                          env=d.env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "processes" in done.stderr and "many" in done.stderr and "worker:test" in done.stderr
    assert not d.pidfile.exists()


def test_missing_plugin_exits_2_naming_it(daemon):
    d = daemon(POOLS, plugins="no_such_plugin")
    done = subprocess.run([sys.executable, "-m", "swfd.cli", "--config", str(d.config)],
                          env=d.env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "no_such_plugin" in done.stderr
    assert "spawned" not in done.stderr


def test_graceful_timeout_too_short_for_polls_exits_2(daemon):
    d = daemon(POOLS, poll_timeout=5, graceful_timeout=6)
    done = subprocess.run([sys.executable, "-m", "swfd.cli", "--config", str(d.config)],
                          env=d.env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "graceful_timeout" in done.stderr


def test_json_logs_carry_pid_pool_and_task_context_but_no_payload(daemon):
    d = daemon(POOLS, log_format="json").start().wait_ready()
    secret = "s3cr3t-payload"
    run = d.start_workflow(input={"activity": "Echo", "input": {"x": secret}})
    assert d.wait_closed(run)["closeStatus"] == "COMPLETED"
    d.signal(signal.SIGTERM)
    assert d.wait(60) == 0
    records = [json.loads(line) for line in d.text().splitlines()]  # every line is JSON
    assert secret not in d.text()
    for r in records:
        assert {"timestamp", "level", "logger", "message", "pid", "pool"} <= set(r), r
    pools = {r["pool"] for r in records}
    assert {"supervisor", "generation-1", "endpoint", "registrar", "decider:test",
            "worker:test"} <= pools
    worker_task_lines = [r for r in records if r["pool"] == "worker:test" and "activityId" in r]
    assert worker_task_lines
    for r in worker_task_lines:
        assert (r["workflowId"], r["runId"]) == (run["workflowId"], run["runId"])
    decider_task_lines = [r for r in records
                          if r["pool"] == "decider:test" and "decisionStartedEventId" in r]
    assert decider_task_lines
    assert all(r["runId"] == run["runId"] for r in decider_task_lines)


def test_database_directory_that_cannot_be_made_exits_2(daemon, tmp_path):
    d = daemon(POOLS)
    (tmp_path / "state").write_text("a file where the directory should be")
    done = subprocess.run([sys.executable, "-m", "swfd.cli", "--config", str(d.config)],
                          env=d.env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "[embedded] database = " in done.stderr and "cannot create" in done.stderr


def test_second_daemon_on_the_same_pidfile_is_refused(daemon):
    d = daemon(POOLS).start().wait_ready()
    done = subprocess.run([sys.executable, "-m", "swfd.cli", "--config", str(d.config)],
                          env=d.env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert f"held by a running swfd (pid {d.proc.pid})" in done.stderr
    assert "spawned" not in done.stderr
    assert d.pidfile.read_text().strip() == str(d.proc.pid)
    d.signal(signal.SIGTERM)
    assert d.wait(60) == 0


def test_watchdog_pings_only_while_the_serving_generation_answers(daemon):
    """WATCHDOG=1 every WatchdogSec/2 from the supervisor, vouching for the serving
    generation too: a generation whose loop hangs (SIGSTOP here) stops the pings."""
    d = daemon(POOLS, env={"WATCHDOG_USEC": "2000000"}).start().wait_ready()

    def pings() -> int:
        return sum("WATCHDOG=1" in m for m in d.notifications())

    wait_for(lambda: pings() >= 3, 10, message="three watchdog pings")
    generation = int(re.search(r"started generation 1 \(pid (\d+)\)", d.text()).group(1))
    os.kill(generation, signal.SIGSTOP)
    try:
        time.sleep(2.5)  # two reports missed: pings stop (the behaviour under test)
        stalled = pings()
        time.sleep(2.0)
        assert pings() == stalled
    finally:
        os.kill(generation, signal.SIGCONT)
    wait_for(lambda: pings() > stalled, 10, message="pings again")
    d.signal(signal.SIGTERM)
    assert d.wait(60) == 0
    assert d.notified("EXTEND_TIMEOUT_USEC=")
