"""Reload (HUP, ``swfd reload --wait``): a new generation runs the plugin code installed
now; the old one drains once the new one polls; a broken new one leaves the old serving.

The plugin under test is pip-installed (a real wheel, ``pip install --target``) into a
directory on the daemon's PYTHONPATH, once per version, while the daemon runs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from test_daemon_support import TEST_PLUGINS, Daemon

from swfd.testing import wait_for

PLUGIN = '''
import json, os, time
import swfd

CODE = "{version}"
{broken}

@swfd.hookimpl
def swfd_worker_init(pool, kind):
    if {bad_init}:
        raise RuntimeError("this release cannot start its workers")

@swfd.activity("Stamp", "1", task_list="reload", heartbeat_timeout=10,
               start_to_close_timeout=60)
def stamp(task):
    time.sleep(float(task.input.get("seconds", 0)))
    return {{"code": CODE, "pid": os.getpid()}}


@swfd.workflow("Stamped", "1", task_list="reload", task_start_to_close_timeout=20)
def stamped(task):
    decisions = swfd.Decisions()
    state = task.history.activities.get("stamp")
    if state is None:
        decisions.schedule_activity_task("stamp", "Stamp", "1", input=task.input)
    elif state.state == "completed":
        activity = state.result if isinstance(state.result, dict) else json.loads(state.result)
        decisions.complete_workflow_execution(result={{"activity": activity["code"],
                                                       "decider": CODE}})
    elif not state.is_open:
        decisions.fail_workflow_execution(reason=f"stamp {{state.state}}")
    return decisions


@swfd.hookimpl
def swfd_activities():
    return [stamp]


@swfd.hookimpl
def swfd_workflows():
    return [stamped]
'''

POOLS = ("[decider:reload]\ntask_list = reload\n\n"
         "[worker:reload]\ntask_list = reload\nprocesses = 3\n")
BAD_EVENTS = ("ActivityTaskFailed", "ActivityTaskTimedOut", "DecisionTaskTimedOut",
              "WorkflowExecutionFailed", "WorkflowExecutionTimedOut")


def build_wheel(directory: Path, version: str, broken: bool = False,
                bad_init: bool = False) -> Path:
    """A real wheel of the plugin (module, METADATA, WHEEL, entry points, RECORD)."""
    name = "swfd_reloadtest"
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": PLUGIN.format(
            version=version, bad_init=bad_init,
            broken="raise ImportError('this release is broken on purpose')" if broken else ""),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: swfd-reloadtest\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: swfd-tests\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n",
        f"{info}/entry_points.txt": f"[swfd]\nreloadtest = {name}\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = "\n".join(record) + "\n"
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def pip_install(site: Path, wheel: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--upgrade",
         "--disable-pip-version-check", "--target", str(site), str(wheel)],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def reloadable(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    pip_install(site, build_wheel(wheels, "1.0"))
    d = Daemon(tmp_path, POOLS, plugins="reloadtest",
               env={"PYTHONPATH": f"{site}:{TEST_PLUGINS}"})
    d.site, d.wheels = site, wheels
    try:
        yield d
    finally:
        d.close()


def start(d: Daemon, seconds: float = 0.0) -> dict:
    return d.start_workflow("Stamped", "1", input={"seconds": seconds}, task_list="reload")


def result(d: Daemon, run: dict, timeout: float = 60) -> dict:
    assert d.wait_closed(run, timeout)["closeStatus"] == "COMPLETED", d.event_types(run)
    closed = d.history(run)[-1]
    return json.loads(closed["workflowExecutionCompletedEventAttributes"]["result"])


def reload_cli(d: Daemon) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swfd.cli", "--config", str(d.config),
                           "reload", "--wait"], env=d.env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_hup_runs_new_plugin_code_and_loses_no_task_in_flight(reloadable):
    d = reloadable.start().wait_ready()
    assert result(d, start(d)) == {"activity": "1.0", "decider": "1.0"}
    in_flight = [start(d, seconds=3) for _ in range(3)]
    wait_for(lambda: all(d.count(r, "ActivityTaskStarted") == 1 for r in in_flight), 30,
             message="three tasks in hand")

    pip_install(d.site, build_wheel(d.wheels, "2.0"))
    d.signal(signal.SIGHUP)
    wait_for(lambda: "generation 2 serves; generation 1 drains" in d.text(), 60,
             message="generation 2 serving")
    # A draining generation still runs what its outstanding polls return (as on AWS):
    # the new code is certain only once generation 1 is gone.
    wait_for(lambda: "generation 1 (pid" in d.text().split("generation 1 drains")[1], 30,
             message="generation 1 drained and exited")
    after = start(d)
    assert result(d, after) == {"activity": "2.0", "decider": "2.0"}
    for run in in_flight:  # started under 1.0, finished by the old generation's workers
        assert result(d, run)["activity"] == "1.0"

    text = d.text()
    # Zero downtime: every pool of generation 2 polled before generation 1 was told to drain.
    assert text.index("every pool polls") < text.index("generation 2 serves")
    assert "exited (exit code 0)" in text.split("generation 1 drains")[1]
    for run in [*in_flight, after]:
        types = d.event_types(run)
        assert not [t for t in types if t in BAD_EVENTS], types
        assert types.count("ActivityTaskStarted") == 1
    assert d.notified("RELOADING=1") and d.notified("MONOTONIC_USEC=")
    reloading = next(i for i, m in enumerate(d.notifications()) if "RELOADING=1" in m)
    assert any("READY=1" in m for m in d.notifications()[reloading:])
    assert all(f"MAINPID={d.proc.pid}" in m for m in d.notifications() if "MAINPID=" in m)
    assert d.proc.poll() is None and d.pidfile.read_text().strip() == str(d.proc.pid)
    d.signal(signal.SIGTERM)
    assert d.wait(60) == 0


def test_broken_new_release_leaves_the_old_generation_serving(reloadable):
    d = reloadable.start().wait_ready()
    pip_install(d.site, build_wheel(d.wheels, "2.0"))
    done = reload_cli(d)
    assert done.returncode == 0, done.stderr
    assert "generation 2 serves" in done.stdout
    # (A draining generation still runs what its outstanding polls return.)
    wait_for(lambda: "generation 1 (pid" in d.text().split("generation 1 drains")[1], 30,
             message="generation 1 drained and exited")

    pip_install(d.site, build_wheel(d.wheels, "3.0", broken=True))
    in_flight = start(d, seconds=2)
    wait_for(lambda: d.count(in_flight, "ActivityTaskStarted") == 1, 30, message="in hand")
    done = reload_cli(d)
    assert done.returncode == 1
    assert "reload failed: generation 3 failed to start: plugin error" in done.stderr
    assert "this release is broken on purpose" in done.stderr
    assert d.notified("reload failed: generation 3 failed to start")
    # Generation 2 was untouched: its task finished, and it serves new work.
    assert result(d, in_flight) == {"activity": "2.0", "decider": "2.0"}
    assert result(d, start(d)) == {"activity": "2.0", "decider": "2.0"}
    assert "generation 2 drains" not in d.text()

    # A broken config is refused by the supervisor before any generation starts (and by
    # the CLI, which reads the same file, with exit 2).
    d.config.write_text(d.config.read_text().replace("processes = 3", "processes = many"))
    done = reload_cli(d)
    assert done.returncode == 2 and "processes = 'many'" in done.stderr
    d.signal(signal.SIGHUP)
    wait_for(lambda: "reload failed: configuration error" in d.text(), 30, message="refused")
    assert "processes = 'many'" in d.text().split("reload failed: configuration error")[1]
    assert "started generation 4" not in d.text()
    assert result(d, start(d)) == {"activity": "2.0", "decider": "2.0"}
    d.signal(signal.SIGTERM)
    assert d.wait(60) == 0


def test_new_generation_that_never_polls_is_abandoned_and_the_old_serves_on(reloadable):
    """A release whose workers cannot start (swfd_worker_init raises) never has every
    pool polling: at graceful_timeout the reload fails and the new generation stops."""
    d = reloadable.start().wait_ready()
    pip_install(d.site, build_wheel(d.wheels, "2.0", bad_init=True))
    done = reload_cli(d)
    assert done.returncode == 1
    assert "did not poll on every pool in time" in done.stderr, done.stderr
    assert "degraded" in done.stderr
    wait_for(lambda: "generation 2 (pid" in d.text().split("reload failed")[1], 30,
             message="the abandoned generation stopped")
    assert "generation 1 drains" not in d.text()
    assert result(d, start(d)) == {"activity": "1.0", "decider": "1.0"}
    d.signal(signal.SIGTERM)
    assert d.wait(60) == 0


def test_reload_cli_without_a_daemon_exits_3(tmp_path):
    d = Daemon(tmp_path, POOLS)
    try:
        done = reload_cli(d)
        assert done.returncode == 3
        assert "no swfd answers on" in done.stderr
    finally:
        d.close()
