"""The admin CLI against a real `swfd` daemon with its embedded endpoint:
`swfd start ... --wait` runs a workflow through the daemon's decider and worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from swfd.testing import wait_for

PLUGINS = Path(__file__).parent / "plugins"


def _run(env: dict, config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "swfd.cli", "--config", str(config), *args],
        check=False, env=env, capture_output=True, text=True, timeout=90,
    )


@pytest.fixture
def daemon(tmp_path):
    """`swfd --config F` running the test plugin with an embedded endpoint on any free
    port (``port = 0``): the CLI learns the address from the daemon's control socket."""
    config = tmp_path / "swfd.ini"
    config.write_text(textwrap.dedent("""\
        [swfd]
        domain = cli-daemon
        endpoint_url = embedded
        plugins = testplugin
        graceful_timeout = 15
        log_format = text
        pidfile = swfd.pid

        [embedded]
        port = 0
        database = local.sqlite3
        poll_timeout = 1

        [decider:main]
        task_list = test
        processes = 1

        [worker:default]
        task_list = test
        processes = 1
        """))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGINS), env.get("PYTHONPATH")]))
    log = (tmp_path / "daemon.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "swfd.cli", "--config", str(config)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        def ready() -> bool:
            if process.poll() is not None:
                return True
            check = _run(env, config, "check")
            return check.returncode == 0 and "'cli-daemon' is REGISTERED" in check.stdout

        wait_for(ready, timeout=60, message="the daemon to serve and register its domain")
        assert process.poll() is None, (tmp_path / "daemon.log").read_text()
        yield env, config, tmp_path
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        log.close()


def test_start_wait_runs_a_workflow_through_the_daemon(daemon):
    env, config, tmp_path = daemon
    job = json.dumps({"activity": "Echo", "input": {"say": "hi"}, "count": 2})
    result = _run(env, config, "start", "RunActivity", "--input", job, "--wait",
                  "--timeout", "60", "--json")
    assert result.returncode == 0, result.stderr + (tmp_path / "daemon.log").read_text()
    finished = json.loads(result.stdout)
    assert finished["closeStatus"] == "COMPLETED"
    types = [e["eventType"] for e in finished["events"]]
    assert types.count("ActivityTaskCompleted") == 2
    assert types[-1] == "WorkflowExecutionCompleted"

    listed = json.loads(_run(env, config, "list", "--closed", "--json").stdout)
    assert finished["workflowId"] in [e["workflowId"] for e in listed]
    assert json.loads(finished["result"]) == [{"say": "hi"}, {"say": "hi"}]


def test_start_refuses_non_json_input_and_reports_decider_errors(daemon):
    env, config, tmp_path = daemon
    refused = _run(env, config, "start", "RunActivity", "--input", "width=800", "--wait")
    assert refused.returncode == 2
    assert ("--input of workflow type RunActivity/1 is not valid JSON (codec 'json')"
            in refused.stderr)
    assert json.loads(_run(env, config, "list", "--json").stdout) == []

    # Flaky's decision logic raises while this file exists: swfd records decider errors.
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    job = json.dumps({"fail_while_exists": str(blocker)})
    failed = _run(env, config, "start", "Flaky", "--input", job, "--wait", "--timeout", "60",
                  "--fail-on-decider-error")
    assert failed.returncode == 1, failed.stderr + (tmp_path / "daemon.log").read_text()
    assert "swfd: start: decider error (attempt 1, event " in failed.stderr
    assert f"RuntimeError: flaky decider: {blocker} still exists" in failed.stderr
    workflow_id = failed.stdout.split(" workflow id ")[1].split()[0]
    assert _run(env, config, "terminate", workflow_id).returncode == 0

    process = subprocess.Popen(
        [sys.executable, "-m", "swfd.cli", "--config", str(config), "start", "Flaky",
         "--input", job, "--wait", "--timeout", "60"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = process.stderr.readline()  # printed while the execution waits to be retried
        assert first.startswith("swfd: start: decider error (attempt 1, event "), first
        assert process.poll() is None
        blocker.unlink()
        stdout, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 0, stdout + (tmp_path / "daemon.log").read_text()
    assert stdout.splitlines()[-1].startswith("closed: COMPLETED result=")
