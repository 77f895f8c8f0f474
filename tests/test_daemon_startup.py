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
from test_daemon_support import pid_alive

from swfd.testing import wait_for

POOLS = """
[decider:test]
task_list = test
processes = 1

[worker:test]
task_list = test
processes = 2
"""


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


def test_ttin_ttou_resize_the_serving_generation_until_a_reload(daemon):
    d = daemon(POOLS).start().wait_ready()
    d.signal(signal.SIGTTIN)
    wait_for(lambda: len(d.ready_children("worker:test")) == 3, 30, message="a third worker")
    d.signal(signal.SIGTTOU)
    d.signal(signal.SIGTTOU)  # queued signals of one kind may merge: wait for the outcome
    wait_for(lambda: "SIGTTOU: pool worker:test now has" in d.text(), 10, message="TTOU")
    d.signal(signal.SIGHUP)
    wait_for(lambda: "generation 2 serves" in d.text(), 60, message="the reload")
    assert "TTIN/TTOU changes to the serving one are not carried over" in d.text()
    d.signal(signal.SIGTERM)
    assert d.wait(60) == 0


def test_embedded_keys_make_the_endpoint_check_signatures_and_the_daemon_sign(daemon, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("AKIDSWFDTEST s3cr3t-key-for-tests\n")
    keys.chmod(0o600)
    d = daemon(POOLS)
    d.config.write_text(d.config.read_text().replace(
        "[embedded]\n", f"[embedded]\nkeys_file = {keys}\n"))
    d.start().wait_ready()
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    signed = boto3.client("swf", endpoint_url=d.url, region_name="us-east-1",
                          aws_access_key_id="AKIDSWFDTEST",
                          aws_secret_access_key="s3cr3t-key-for-tests",
                          config=Config(retries={"total_max_attempts": 1}))
    d._client, d._client_url = signed, d.url  # the test's own calls sign too
    run = d.start_workflow(input={"activity": "Echo"})
    assert d.wait_closed(run, 30)["closeStatus"] == "COMPLETED"  # the daemon's processes sign
    with pytest.raises(ClientError) as refused:
        boto3.client("swf", endpoint_url=d.url, region_name="us-east-1",
                     aws_access_key_id="swfd-local", aws_secret_access_key="swfd-local",
                     config=Config(retries={"total_max_attempts": 1})).list_domains(
                         registrationStatus="REGISTERED")
    assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"
    d.signal(signal.SIGTERM)
    assert d.wait(60) == 0
