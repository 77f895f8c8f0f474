"""The admin CLI end to end: `swfd --config F <command>` in a subprocess against
a standalone `swfd local` endpoint, checking output, --json and exit codes."""

from __future__ import annotations

import http.server
import json
import os
import queue
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from swfd.swf.client import EMBEDDED_CREDENTIALS, make_client
from swfd.testing import free_port, wait_for

PLUGIN = '''
import swfd


@swfd.activity("CliActivity", "1.0", task_list="cli", codec="raw")
def cli_activity(task):
    return task.input


@swfd.workflow("CliWorkflow", "1.0", task_list="cli", execution_start_to_close_timeout=600,
               task_start_to_close_timeout=30, codec="raw")
def cli_workflow(task):
    return swfd.Decisions()


@swfd.workflow("CliJsonWorkflow", "1.0", task_list="cli", execution_start_to_close_timeout=600,
               task_start_to_close_timeout=30)
def cli_json_workflow(task):
    return swfd.Decisions()


@swfd.hookimpl
def swfd_activities():
    return [cli_activity]


@swfd.hookimpl
def swfd_workflows():
    return [cli_workflow, cli_json_workflow]
'''


def write_config(path: Path, endpoint: str, domain: str, extra: str = "") -> Path:
    path.write_text(textwrap.dedent(f"""\
        [swfd]
        domain = {domain}
        endpoint_url = {endpoint}
        log_format = text

        [worker:default]
        task_list = cli
        """) + extra)
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli")
    (path / "cli_test_plugin.py").write_text(PLUGIN)
    return path


@pytest.fixture(scope="module")
def environment(workdir) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(workdir), env.get("PYTHONPATH")]))
    env["SWFD_PLUGINS"] = "cli_test_plugin"
    env["SWFD_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


@pytest.fixture(scope="module")
def endpoint_port(workdir, environment):
    """A standalone `swfd local` in its own process, as an operator would run it."""
    port = free_port()
    log = (workdir / "local.log").open("w")  # a file, never a pipe nobody reads
    process = subprocess.Popen(
        [sys.executable, "-m", "swfd.cli", "local", "--port", str(port),
         "--database", str(workdir / "local.sqlite3"), "--poll-timeout", "1"],
        env=environment, stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    try:
        wait_for(lambda: _listening(port) or process.poll() is not None, timeout=30,
                 message=f"swfd local on port {port}")
        assert process.poll() is None, (workdir / "local.log").read_text()
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        log.close()


def _listening(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def domain_name() -> str:
    return f"cli-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def config(workdir, endpoint_port, domain_name) -> Path:
    return write_config(workdir / "swfd.ini", f"http://127.0.0.1:{endpoint_port}", domain_name)


@pytest.fixture(scope="module")
def client(endpoint_port):
    return make_client(
        f"http://127.0.0.1:{endpoint_port}", "us-east-1", credentials=EMBEDDED_CREDENTIALS
    )


@pytest.fixture(scope="module")
def registered(config, environment, client, domain_name):
    """The domain and the test plugin's types, registered through `swfd register`."""
    result = swfd(environment, config, "register", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def swfd(env: dict, config: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "swfd.cli", "--config", str(config), *args],
        check=False, env=env, capture_output=True, text=True, timeout=timeout,
    )


def run_decider(client, domain: str, task_list: str, stop: threading.Event) -> None:
    """A plain-boto3 decider that completes each workflow with its input reversed."""
    deadline = time.monotonic() + 60
    while not stop.is_set() and time.monotonic() < deadline:
        task = client.poll_for_decision_task(
            domain=domain, taskList={"name": task_list}, identity="test-decider"
        )
        if not task.get("taskToken"):
            continue
        started = task["events"][0]["workflowExecutionStartedEventAttributes"]
        client.respond_decision_task_completed(
            taskToken=task["taskToken"],
            decisions=[{
                "decisionType": "CompleteWorkflowExecution",
                "completeWorkflowExecutionDecisionAttributes": {
                    "result": started.get("input", "")[::-1]
                },
            }],
        )


def test_check_fails_when_the_domain_is_missing_and_not_registered(
    workdir, environment, endpoint_port
):
    config = write_config(workdir / "other.ini", f"http://127.0.0.1:{endpoint_port}", "absent")
    result = swfd(environment, config, "check")
    assert result.returncode == 1
    assert "domain 'absent' does not exist and register = no" in result.stdout
    report = json.loads(swfd(environment, config, "check", "--json").stdout)
    assert report["ok"] is False
    assert report["checks"][-1]["status"] == "FAIL"


def test_check_reports_config_plugins_pools_and_endpoint(registered, environment, workdir,
                                                         config, endpoint_port, domain_name):
    served = write_config(workdir / "served.ini", f"http://127.0.0.1:{endpoint_port}",
                          domain_name, "\n[decider:main]\ntask_list = cli\n")
    result = swfd(environment, served, "check", "--strict")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("1 plugin (cli_test_plugin): 1 activity type (CliActivity/1.0), 2 workflow types "
            "(CliJsonWorkflow/1.0, CliWorkflow/1.0)") in result.stdout
    assert "answers" in result.stdout
    report = json.loads(swfd(environment, served, "check", "--json").stdout)
    assert report["ok"] is True
    assert [c["check"] for c in report["checks"]] == ["config", "plugins", "pools", "endpoint"]
    assert {c["status"] for c in report["checks"]} == {"ok"}
    plugins = report["checks"][1]
    assert plugins["plugins"] == ["cli_test_plugin"]
    assert plugins["activityTypes"] == ["CliActivity/1.0"]
    assert report["checks"][3]["domainStatus"] == "REGISTERED"


def test_check_warns_about_types_no_pool_polls_and_strict_fails(registered, environment,
                                                                config):
    # config has a [worker:default] on "cli" but no decider pool for the workflows there
    result = swfd(environment, config, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    warnings = [line for line in result.stdout.splitlines() if line.split()[1] == "warn"]
    assert warnings == [
        f"pools     warn    workflow type {name}/1.0 uses task list 'cli', which no "
        "[decider:NAME] pool of this config polls (fine if another host does)"
        for name in ("CliJsonWorkflow", "CliWorkflow")
    ]
    strict = swfd(environment, config, "check", "--strict", "--json")
    assert strict.returncode == 1
    report = json.loads(strict.stdout)
    assert report["ok"] is False
    assert [c["type"] for c in report["checks"] if c["status"] == "warn"] == [
        {"kind": "workflow", "name": "CliJsonWorkflow", "version": "1.0"},
        {"kind": "workflow", "name": "CliWorkflow", "version": "1.0"},
    ]


def test_check_warns_about_a_pool_with_no_type_on_its_task_list(
    registered, environment, workdir, endpoint_port, domain_name
):
    config = write_config(workdir / "idle.ini", f"http://127.0.0.1:{endpoint_port}",
                          domain_name, "\n[decider:main]\ntask_list = cli\n\n"
                          "[worker:idle]\ntask_list = nothing-here\n")
    result = swfd(environment, config, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("pools     warn    [worker:idle] polls task list 'nothing-here', but no loaded "
            "plugin declares an activity type on it") in result.stdout.splitlines()
    strict = swfd(environment, config, "check", "--strict", "--json")
    assert strict.returncode == 1
    (warning,) = [c for c in json.loads(strict.stdout)["checks"] if c["status"] == "warn"]
    assert (warning["pool"], warning["taskList"]) == ("worker:idle", "nothing-here")


def test_check_warns_that_an_embedded_console_needs_the_embedded_endpoint(
    registered, environment, workdir, endpoint_port, domain_name
):
    config = write_config(workdir / "console.ini", f"http://127.0.0.1:{endpoint_port}",
                          domain_name, "\n[embedded]\nconsole = yes\n")
    result = swfd(environment, config, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (f"config    warn    [embedded] console = yes has no effect: endpoint_url is "
            f"'http://127.0.0.1:{endpoint_port}', not embedded; run `swfd --config {config} "
            "console` beside the daemon") in result.stdout.splitlines(), result.stdout
    assert swfd(environment, config, "check", "--strict").returncode == 1


def test_check_warns_when_no_plugin_is_loaded(registered, workdir, environment, endpoint_port,
                                              domain_name):
    config = write_config(workdir / "noplugins.ini", f"http://127.0.0.1:{endpoint_port}",
                          domain_name)
    config.write_text(config.read_text().replace("log_format", "plugins =\nlog_format"))
    env = {k: v for k, v in environment.items() if k != "SWFD_PLUGINS"}
    result = swfd(env, config, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines[1:]] == [
        ["config", "ok"], ["plugins", "warn"], ["endpoint", "ok"]]
    assert "no swfd plugin loaded: `plugins =` in [swfd] names none" in lines[2]
    assert swfd(env, config, "check", "--strict").returncode == 1


def test_register_is_idempotent_and_reports_drift(registered, environment, config, client,
                                                   domain_name):
    assert registered["activityTypes"] == ["CliActivity/1.0"]
    assert registered["workflowTypes"] == ["CliJsonWorkflow/1.0", "CliWorkflow/1.0"]
    assert registered["differences"] == []
    again = swfd(environment, config, "register")
    assert again.returncode == 0, again.stderr
    assert f"domain {domain_name}: 1 activity type, 2 workflow types registered" in again.stdout
    assert "differs" not in again.stdout


def test_start_wait_prints_the_finished_history(registered, environment, config, client,
                                                 domain_name):
    stop = threading.Event()
    decider = threading.Thread(target=run_decider, args=(client, domain_name, "cli", stop))
    decider.start()
    try:
        result = swfd(environment, config, "start", "CliWorkflow", "--input", "abc",
                      "--wait", "--timeout", "30", "--json")
    finally:
        stop.set()
        decider.join(timeout=10)
    assert result.returncode == 0, result.stderr
    finished = json.loads(result.stdout)
    assert finished["closeStatus"] == "COMPLETED"
    assert finished["result"] == "cba"
    assert finished["workflowType"] == {"name": "CliWorkflow", "version": "1.0"}
    assert [e["eventType"] for e in finished["events"]] == [
        "WorkflowExecutionStarted",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
        "DecisionTaskCompleted",
        "WorkflowExecutionCompleted",
    ]


def test_start_wait_prints_history_and_fails_when_not_completed(
    registered, environment, config, client, domain_name
):
    workflow_id = f"wf-{uuid.uuid4().hex[:8]}"
    process = subprocess.Popen(
        [sys.executable, "-m", "swfd.cli", "--config", str(config), "start", "CliWorkflow",
         "--workflow-id", workflow_id, "--task-list", "nobody", "--wait", "--timeout", "30"],
        env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for(
            lambda: client.count_open_workflow_executions(
                domain=domain_name, startTimeFilter={"oldestDate": 0},
                executionFilter={"workflowId": workflow_id},
            )["count"],
            timeout=20, message=f"{workflow_id} to start",
        )
        client.terminate_workflow_execution(
            domain=domain_name, workflowId=workflow_id, reason="stop"
        )
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 1, stderr
    lines = stdout.splitlines()
    assert lines[0].startswith(f"started CliWorkflow/1.0 workflow id {workflow_id} run ")
    assert lines[1].split() == ["ID", "TIME", "TYPE", "SUMMARY"]
    assert "WorkflowExecutionStarted" in lines[2]
    assert "WorkflowExecutionTerminated" in lines[-2]
    assert lines[-1] in ("closed: TERMINATED reason='stop'",
                         "closed: TERMINATED reason='stop' cause='OPERATOR_INITIATED'")


def test_start_wait_gives_up_at_its_deadline(registered, environment, config):
    result = swfd(environment, config, "start", "CliWorkflow", "--task-list", "nobody",
                  "--wait", "--timeout", "1")
    assert result.returncode == 1
    assert "is still open after 1 s" in result.stderr


def test_execution_commands(registered, environment, config, client, domain_name):
    workflow_id = f"wf-{uuid.uuid4().hex[:8]}"
    started = swfd(environment, config, "start", "CliWorkflow", "--workflow-id", workflow_id,
                   "--input", "payload", "--tag", "red", "--tag", "blue", "--task-list", "cli2",
                   "--execution-timeout", "120", "--task-timeout", "20",
                   "--child-policy", "ABANDON", "--json")
    assert started.returncode == 0, started.stderr
    run_id = json.loads(started.stdout)["runId"]

    listed = swfd(environment, config, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert workflow_id in [e["workflowId"] for e in json.loads(listed.stdout)]
    table = swfd(environment, config, "list", "--type", "CliWorkflow").stdout
    assert table.splitlines()[0].split() == [
        "WORKFLOW", "ID", "RUN", "ID", "TYPE", "STATUS", "STARTED", "CLOSED"
    ]
    assert workflow_id in table and "CliWorkflow/1.0" in table
    assert workflow_id not in swfd(environment, config, "list", "--type", "Other").stdout

    described = json.loads(swfd(environment, config, "describe", workflow_id, "--json").stdout)
    assert "ResponseMetadata" not in described
    assert described["executionInfo"]["execution"]["runId"] == run_id
    assert described["executionInfo"]["tagList"] == ["red", "blue"]
    assert described["executionConfiguration"]["taskList"] == {"name": "cli2"}
    assert described["executionConfiguration"]["childPolicy"] == "ABANDON"
    assert described["executionConfiguration"]["executionStartToCloseTimeout"] == "120"
    text = swfd(environment, config, "describe", workflow_id).stdout
    assert run_id in text
    assert "OPEN" in text

    signal = swfd(environment, config, "signal", workflow_id, "go", "--input", "now")
    assert signal.returncode == 0, signal.stderr
    assert signal.stdout == f"sent signal 'go' to workflow id {workflow_id} run {run_id}\n"
    signal = swfd(environment, config, "signal", workflow_id, "again", "--json")
    assert json.loads(signal.stdout) == {"workflowId": workflow_id, "runId": run_id,
                                         "action": "signal", "signalName": "again"}
    cancel = swfd(environment, config, "cancel", workflow_id, "--json")
    assert cancel.returncode == 0, cancel.stderr
    assert json.loads(cancel.stdout) == {"workflowId": workflow_id, "runId": run_id,
                                         "action": "cancel"}
    history = swfd(environment, config, "history", workflow_id)
    assert history.returncode == 0, history.stderr
    lines = history.stdout.splitlines()
    assert lines[0].split() == ["ID", "TIME", "TYPE", "SUMMARY"]
    assert lines[1].split()[0] == "1" and "WorkflowExecutionStarted" in lines[1]
    assert "workflowType=CliWorkflow/1.0" in lines[1]
    assert any("WorkflowExecutionSignaled" in line and "signalName='go'" in line
               for line in lines)
    assert any("WorkflowExecutionCancelRequested" in line for line in lines)

    terminated = swfd(environment, config, "terminate", workflow_id, "--reason", "bye",
                      "--run-id", run_id, "--json")
    assert terminated.returncode == 0, terminated.stderr
    assert json.loads(terminated.stdout) == {"workflowId": workflow_id, "runId": run_id,
                                             "action": "terminate", "reason": "bye"}
    events = json.loads(swfd(environment, config, "history", workflow_id, "--json").stdout)
    assert events[-1]["eventType"] == "WorkflowExecutionTerminated"
    assert events[-1]["workflowExecutionTerminatedEventAttributes"]["reason"] == "bye"
    closed = json.loads(swfd(environment, config, "list", "--closed", "--json").stdout)
    assert {"workflowId": workflow_id, "closeStatus": "TERMINATED"}.items() <= next(
        e for e in closed if e["workflowId"] == workflow_id
    ).items()

    # without --run-id, the latest run is the one acted on
    again = json.loads(swfd(environment, config, "start", "CliWorkflow", "--workflow-id",
                            workflow_id, "--json").stdout)
    described = json.loads(swfd(environment, config, "describe", workflow_id, "--json").stdout)
    assert described["executionInfo"]["execution"]["runId"] == again["runId"] != run_id
    old = json.loads(swfd(environment, config, "describe", workflow_id, "--run-id", run_id,
                          "--json").stdout)
    assert old["executionInfo"]["closeStatus"] == "TERMINATED"
    assert swfd(environment, config, "terminate", workflow_id).returncode == 0


def test_unknown_workflow_id_is_a_clear_error(registered, environment, config):
    for command in (["describe", "nope-id"], ["history", "nope-id"],
                    ["signal", "nope-id", "x"], ["cancel", "nope-id"],
                    ["terminate", "nope-id", "--run-id", "0123"]):
        result = swfd(environment, config, *command)
        assert result.returncode == 1, (command, result.stderr)
        assert "'nope-id'" in result.stderr, (command, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.stdout == ""


def test_start_of_unknown_type_or_ambiguous_version(registered, environment, config, client,
                                                    domain_name):
    unknown = swfd(environment, config, "start", "NoSuchWorkflow")
    assert unknown.returncode == 1
    assert "no registered workflow type named 'NoSuchWorkflow'" in unknown.stderr
    for version in ("1", "2"):
        client.register_workflow_type(
            domain=domain_name, name="Twice", version=version,
            defaultTaskList={"name": "cli"}, defaultTaskStartToCloseTimeout="30",
            defaultExecutionStartToCloseTimeout="60", defaultChildPolicy="TERMINATE",
        )
    ambiguous = swfd(environment, config, "start", "Twice")
    assert ambiguous.returncode == 2
    assert "several registered versions (1, 2): pass --type-version" in ambiguous.stderr
    chosen = swfd(environment, config, "start", "Twice", "--type-version", "2", "--json")
    assert chosen.returncode == 0, chosen.stderr
    assert json.loads(chosen.stdout)["workflowType"] == {"name": "Twice", "version": "2"}
    # --version is swfd's own: with a value it says where the type's version goes
    old_spelling = swfd(environment, config, "start", "Twice", "--version", "2")
    assert old_spelling.returncode == 2
    assert "give the workflow type's version as --type-version 2" in old_spelling.stderr
    # a type no loaded plugin defines: its input is passed through unchecked
    unchecked = swfd(environment, config, "start", "Twice", "--type-version", "1",
                     "--input", "not json", "--json")
    assert unchecked.returncode == 0, unchecked.stderr
    assert unchecked.stderr == ""


def test_check_names_a_plugin_that_fails_to_load(registered, environment, config):
    broken = dict(environment, SWFD_PLUGINS="no_such_swfd_plugin_module")
    result = swfd(broken, config, "check")
    assert result.returncode == 1
    plugins_line = next(line for line in result.stdout.splitlines() if line.startswith("plugins"))
    assert "FAIL" in plugins_line and "no_such_swfd_plugin_module" in plugins_line
    assert "Traceback" not in result.stdout + result.stderr


def test_check_verbose_shows_the_traceback_of_a_plugin_that_fails_at_import(
    registered, workdir, environment, config
):
    (workdir / "cli_broken_plugin.py").write_text(
        "import swfd\n\n\ndef connect():\n    raise RuntimeError('no database')\n\n\n"
        "connect()\n")
    broken = dict(environment, SWFD_PLUGINS="cli_broken_plugin")
    quiet = swfd(broken, config, "check")
    assert quiet.returncode == 1
    plugins_line = next(line for line in quiet.stdout.splitlines() if line.startswith("plugins"))
    assert "RuntimeError: no database" in plugins_line
    assert "(swfd check -v shows the traceback)" in plugins_line
    assert "Traceback" not in quiet.stdout + quiet.stderr

    verbose = swfd(broken, config, "check", "-v")
    assert verbose.returncode == 1
    assert "Traceback (most recent call last)" in verbose.stderr
    assert 'cli_broken_plugin.py", line 5, in connect' in verbose.stderr
    assert "swfd check -v" not in verbose.stdout


def test_register_reports_types_whose_defaults_differ(workdir, environment, endpoint_port,
                                                      client):
    domain = f"drift-{uuid.uuid4().hex[:8]}"
    client.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    client.register_activity_type(
        domain=domain, name="CliActivity", version="1.0", defaultTaskList={"name": "cli"},
        defaultTaskHeartbeatTimeout="5", defaultTaskStartToCloseTimeout="3600",
        defaultTaskScheduleToStartTimeout="300", defaultTaskScheduleToCloseTimeout="3900",
    )
    config = write_config(workdir / "drift.ini", f"http://127.0.0.1:{endpoint_port}", domain)
    expected = ("ActivityType CliActivity 1.0: defaultTaskHeartbeatTimeout is '5' upstream, "
                "plugin declares '600'")
    result = swfd(environment, config, "register", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["differences"] == [{
        "kind": "activity", "name": "CliActivity", "version": "1.0",
        "field": "defaultTaskHeartbeatTimeout", "upstream": "5", "declared": "600",
        "message": expected,
    }]
    table = swfd(environment, config, "register")
    assert f"differs: {expected}" in table.stdout.splitlines()


def test_usage_and_config_errors_exit_2(workdir, environment, config):
    assert swfd(environment, config, "describe").returncode == 2
    bad_timeout = swfd(environment, config, "start", "X", "--execution-timeout", "ten")
    assert bad_timeout.returncode == 2
    assert "expected whole seconds or NONE, got 'ten'" in bad_timeout.stderr
    assert swfd(environment, config, "start", "X", "--child-policy", "NOPE").returncode == 2
    broken = workdir / "broken.ini"
    broken.write_text("[swfd]\ndomain = x\nbogus_key = 1\n")
    result = swfd(environment, broken, "list")
    assert result.returncode == 2
    assert "bogus_key" in result.stderr


def test_embedded_config_uses_the_running_endpoint_not_the_database(
    registered, workdir, environment, endpoint_port, domain_name
):
    database = workdir / "never" / "opened.sqlite3"
    config = write_config(
        workdir / "embedded.ini", "embedded", domain_name,
        f"\n[embedded]\nport = {endpoint_port}\ndatabase = {database}\npoll_timeout = 1\n",
    )
    result = swfd(environment, config, "list", "--closed", "--json")
    assert result.returncode == 0, result.stderr
    assert isinstance(json.loads(result.stdout), list)
    assert not database.parent.exists()


def test_embedded_config_with_no_daemon_says_so(workdir, environment, domain_name):
    port = free_port()
    config = write_config(
        workdir / "dead.ini", "embedded", domain_name,
        f"\n[embedded]\nport = {port}\ndatabase = {workdir / 'dead.sqlite3'}\n",
    )
    for command in (["list"], ["describe", "x"], ["register"]):
        result = swfd(environment, config, *command)
        assert result.returncode == 1
        assert (f"no swfd local endpoint is listening on http://127.0.0.1:{port} — "
                "is the daemon running?") in result.stderr
    assert not (workdir / "dead.sqlite3").exists()


def test_unreachable_endpoint_url_is_one_clear_line(workdir, environment, domain_name):
    url = f"http://127.0.0.1:{free_port()}"
    config = write_config(workdir / "unreachable.ini", url, domain_name)
    result = swfd(environment, config, "list")
    assert result.returncode == 1
    assert f"swfd: list: cannot reach SWF at {url}" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_is_accepted_before_or_after_the_command(registered, environment, config):
    after = subprocess.run(
        [sys.executable, "-m", "swfd.cli", "list", "--closed", "--json", "--config", str(config)],
        check=False, env=environment, capture_output=True, text=True, timeout=60,
    )
    assert after.returncode == 0, after.stderr
    before = swfd(environment, config, "list", "--closed", "--json")
    assert json.loads(after.stdout) == json.loads(before.stdout)
    short = subprocess.run(
        [sys.executable, "-m", "swfd.cli", "check", "-c", str(config), "--json"],
        check=False, env=environment, capture_output=True, text=True, timeout=60,
    )
    assert json.loads(short.stdout)["checks"][0]["path"] == str(config)
    # reload reads the file too (this one has no control socket, which it names)
    reload = subprocess.run(
        [sys.executable, "-m", "swfd.cli", "reload", "--config", str(config)],
        check=False, env=environment, capture_output=True, text=True, timeout=60,
    )
    assert reload.returncode == 2
    assert f"swfd: {config}: no pidfile or control_socket in [swfd]" in reload.stderr


def test_bare_swfd_prints_usage_with_the_commands_and_version_is_swfds(environment):
    from swfd import __version__

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "swfd.cli", *args], check=False,
                              env=environment, capture_output=True, text=True, timeout=60)

    bare = run()
    assert bare.returncode == 2
    assert bare.stderr.startswith("usage: swfd --config FILE")
    for command in ("check", "register", "start", "describe", "history", "list", "signal",
                    "cancel", "terminate", "reload", "local"):
        assert f"\n    {command} " in bare.stderr, command
    missing = run("list")
    assert missing.returncode == 2
    assert "--config FILE is required (swfd list --config FILE)" in missing.stderr
    for args in (["--version"], ["start", "--version"]):
        version = run(*args)
        assert (version.returncode, version.stdout) == (0, f"swfd {__version__}\n"), args


class _ForeignServer(http.server.BaseHTTPRequestHandler):
    """A web server that is not SWF: an HTML page for every POST."""

    status = 404

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = (b"<!DOCTYPE html>\n<html>\n<head><title>Welcome to nginx!</title></head>\n"
                b"<body>\n<h1>Welcome</h1>\n<p>It works.</p>\n</body>\n</html>\n")
        self.send_response(self.status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("status", [404, 501, 200])
def test_a_foreign_server_is_summarized_in_one_line(workdir, environment, status):
    handler = type("Handler", (_ForeignServer,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        config = write_config(workdir / f"foreign-{status}.ini", url, "foreign")
        result = swfd(environment, config, "check")
        listed = swfd(environment, config, "list")
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1
    endpoint = [line for line in result.stdout.splitlines() if line.startswith("endpoint")]
    assert [line.split()[0] for line in result.stdout.splitlines()] == [
        "CHECK", "config", "plugins", "pools", "pools", "endpoint"], result.stdout
    assert endpoint == [f"endpoint  FAIL    {url} answered HTTP {status}"
                        + (" with an HTML page titled 'Welcome to nginx!', not an SWF error"
                           if status != 200 else ", but not as SWF does (no domainInfo)")
                        + ": is it an SWF endpoint?"]
    assert "<" not in result.stdout + result.stderr
    if status != 200:
        assert listed.returncode == 1
        assert listed.stderr.splitlines()[-1] == (
            f"swfd: list: {url} answered HTTP {status} with an HTML page titled "
            "'Welcome to nginx!', not an SWF error: is it an SWF endpoint?")
        assert "<" not in listed.stderr
    else:  # a 200 that lacks SWF's list: an error, not an empty table
        assert listed.returncode == 1
        assert listed.stdout == ""
        assert listed.stderr.splitlines()[-1] == (
            "swfd: list: ListOpenWorkflowExecutions: the reply has no 'executionInfos' list "
            f"(it has no fields); is the endpoint SWF? (endpoint {url})"), listed.stderr


def test_start_refuses_input_that_is_not_json_for_a_json_codec_type(
    registered, environment, config, client, domain_name
):
    workflow_id = f"wf-{uuid.uuid4().hex[:8]}"
    refused = swfd(environment, config, "start", "CliJsonWorkflow", "--workflow-id",
                   workflow_id, "--input", "width=800", "--wait")
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert refused.stderr.startswith(
        "swfd: start: --input of workflow type CliJsonWorkflow/1.0 is not valid JSON "
        "(codec 'json'): Expecting value")
    assert "give JSON (a string is quoted: --input '\"width=800\"')" in refused.stderr
    with pytest.raises(client.exceptions.UnknownResourceFault):
        client.describe_workflow_execution(
            domain=domain_name, execution={"workflowId": workflow_id, "runId": "0" * 32})
    assert client.count_open_workflow_executions(
        domain=domain_name, startTimeFilter={"oldestDate": 0},
        executionFilter={"workflowId": workflow_id})["count"] == 0

    accepted = swfd(environment, config, "start", "CliJsonWorkflow", "--workflow-id",
                    workflow_id, "--input", '{"width": 800}', "--json")
    assert accepted.returncode == 0, accepted.stderr
    raw = swfd(environment, config, "start", "CliWorkflow", "--input", "width=800", "--json")
    assert raw.returncode == 0, raw.stderr
    for started in (accepted, raw):
        execution = json.loads(started.stdout)
        client.terminate_workflow_execution(domain=domain_name, workflowId=execution["workflowId"],
                                            runId=execution["runId"])


def _decision_task(client, domain: str, task_list: str) -> dict:
    """Poll until a decision task comes (the endpoint's empty polls last 1 s)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        task = client.poll_for_decision_task(domain=domain, taskList={"name": task_list},
                                             identity="test-decider")
        if task.get("taskToken"):
            return task
    raise AssertionError(f"no decision task on {task_list!r} within 30 s")


def _record_decider_error(client, task: dict, attempt: int, error: str) -> None:
    """Answer as swfd's decider does when decision logic raises: a marker."""
    details = json.dumps({"attempt": attempt, "error": error, "traceback": "Traceback ..."})
    client.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[{
        "decisionType": "RecordMarker",
        "recordMarkerDecisionAttributes": {"markerName": "swfd:decider-error",
                                           "details": details},
    }])


def _lines(stream) -> queue.Queue:
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    return lines


def _next_line(lines: queue.Queue, containing: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        if containing in line:
            return line


def test_start_wait_prints_decider_errors_as_they_are_recorded(
    registered, environment, config, client, domain_name
):
    workflow_id = f"wf-{uuid.uuid4().hex[:8]}"
    task_list = f"tl-{workflow_id}"
    process = subprocess.Popen(
        [sys.executable, "-m", "swfd.cli", "--config", str(config), "start", "CliWorkflow",
         "--workflow-id", workflow_id, "--task-list", task_list, "--wait", "--timeout", "60"],
        env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        errors = _lines(process.stderr)
        _record_decider_error(client, _decision_task(client, domain_name, task_list), 1,
                              "ValueError: refusing\ninput")
        line = _next_line(errors, "decider error")
        assert line.startswith("swfd: start: decider error (attempt 1, event ")
        assert line.endswith("): ValueError: refusing input\n")
        assert process.poll() is None  # printed while the execution is still open
        client.signal_workflow_execution(domain=domain_name, workflowId=workflow_id,
                                         signalName="retry")
        task = _decision_task(client, domain_name, task_list)
        client.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[{
            "decisionType": "CompleteWorkflowExecution",
            "completeWorkflowExecutionDecisionAttributes": {"result": "done"},
        }])
        assert process.wait(timeout=30) == 0
        assert process.stdout.read().splitlines()[-1] == "closed: COMPLETED result='done'"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_start_wait_fail_on_decider_error_exits_1_at_the_first(
    registered, environment, config, client, domain_name
):
    workflow_id = f"wf-{uuid.uuid4().hex[:8]}"
    task_list = f"tl-{workflow_id}"
    process = subprocess.Popen(
        [sys.executable, "-m", "swfd.cli", "--config", str(config), "start", "CliWorkflow",
         "--workflow-id", workflow_id, "--task-list", task_list, "--wait", "--timeout", "60",
         "--fail-on-decider-error", "--json"],
        env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        _record_decider_error(client, _decision_task(client, domain_name, task_list), 3,
                              "KeyError: 'width'")
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 1, stderr
    report = json.loads(stdout)
    assert report["workflowId"] == workflow_id
    assert report["executionStatus"] == "OPEN"
    assert [(e["attempt"], e["error"]) for e in report["deciderErrors"]] == [
        (3, "KeyError: 'width'")]
    assert "decider error (attempt 3, event" in stderr
    assert "recorded a decider error; not waiting for it to close" in stderr
    client.terminate_workflow_execution(domain=domain_name, workflowId=workflow_id)
    usage = swfd(environment, config, "start", "CliWorkflow", "--fail-on-decider-error")
    assert usage.returncode == 2
    assert "--fail-on-decider-error works with --wait" in usage.stderr
