"""The pytest plugin: registered by the pytest11 entry point, light to import, its fixtures.

The fixtures are tried from a separate pytest run in a temporary directory,
as a plugin author's project would use them (swfd's own conftest.py defines a
``swf_client`` of its own, which overrides the plugin's inside tests/).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from swfd.testing.daemon import pid_alive

HEAVY = ("boto3", "botocore", "swfd.local", "swfd.config", "swfd.registry", "swfd.worker")


def test_importing_the_plugin_imports_no_boto3_and_no_endpoint():
    code = ("import sys, swfd.testing.pytest_plugin, swfd.testing; "
            f"print(sorted(m for m in sys.modules if m.startswith({HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_the_entry_point_names_the_plugin_module():
    from importlib import metadata

    points = [ep for ep in metadata.entry_points(group="pytest11") if ep.name == "swfd"]
    assert [ep.value for ep in points] == ["swfd.testing.pytest_plugin"]


PLUGIN_USER_TESTS = '''
import uuid

def test_endpoint_client_and_domain(swf_endpoint, swf_client, swf_domain):
    assert swf_endpoint.startswith("http://127.0.0.1:")
    names = [d["name"] for d in swf_client.list_domains(
        registrationStatus="REGISTERED")["domainInfos"]]
    assert swf_domain in names
    swf_client.register_workflow_type(domain=swf_domain, name="W", version="1",
        defaultTaskList={"name": "tl"}, defaultExecutionStartToCloseTimeout="60",
        defaultTaskStartToCloseTimeout="10", defaultChildPolicy="TERMINATE")
    run = swf_client.start_workflow_execution(domain=swf_domain, workflowId="w",
                                              workflowType={"name": "W", "version": "1"})
    task = swf_client.poll_for_decision_task(domain=swf_domain, taskList={"name": "tl"})
    assert task["workflowExecution"]["runId"] == run["runId"]
'''


DAEMON_USER_TESTS = '''
import os

CONFIG = """
[swfd]
domain = plugin-test
endpoint_url = embedded
plugins = example
graceful_timeout = 12

[embedded]
port = 0
database = swf.sqlite3
poll_timeout = 1

[worker:example]
task_list = example
"""

def test_a_daemon_for_a_config(swfd_daemon):
    daemon = swfd_daemon(CONFIG)
    assert daemon.notified("READY=1")
    assert "plugin-test" in [d["name"] for d in daemon.client.list_domains(
        registrationStatus="REGISTERED")["domainInfos"]]
    with open(os.environ["PIDS_FILE"], "w") as pids:
        pids.write(" ".join(map(str, [daemon.proc.pid, *daemon.children()])))
'''


def run_pytest(tmp_path, *args, tests=PLUGIN_USER_TESTS, env=None):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_user.py").write_text(textwrap.dedent(tests))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         *args, str(tmp_path / "test_user.py")],
        check=False, capture_output=True, text=True, cwd=str(tmp_path), timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_the_fixtures_in_a_plugin_author_s_pytest_run(tmp_path):
    result = run_pytest(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_swfd_daemon_starts_a_real_daemon_and_stops_it_by_pid(tmp_path):
    pids_file = tmp_path / "pids"
    result = run_pytest(tmp_path, tests=DAEMON_USER_TESTS, env={"PIDS_FILE": str(pids_file)})
    assert result.returncode == 0, result.stdout + result.stderr
    pids = [int(p) for p in pids_file.read_text().split()]
    assert len(pids) >= 3  # the supervisor, the endpoint, a generation, its worker
    assert not [pid for pid in pids if pid_alive(pid)]


def test_minus_p_no_swfd_turns_the_plugin_off(tmp_path):
    result = run_pytest(tmp_path, "-p", "no:swfd")
    assert result.returncode != 0
    assert "fixture 'swf_endpoint' not found" in result.stdout


def test_the_readme_shows_the_example_plugin_s_whole_test_file():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    section = readme.split("### Testing your plugin", 1)[1].split("\n## ", 1)[0]
    shown = section.split("```python\n", 1)[1].split("\n```", 1)[0]
    assert shown + "\n" == (root / "plugins" / "example" / "tests" / "test_example.py").read_text()
    assert "-p no:swfd" in section
