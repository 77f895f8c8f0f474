"""``swfd status`` over the supervisor's control socket, and process titles.

Real daemons: a running task is named (ids and type, never its input), a pool
whose children cannot start shows degraded (exit 1), no daemon is exit 3; the
socket is the owner's alone; ``ps`` tells every process apart, with task ids in
titles only when opted in.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from test_daemon_support import Daemon

from swfd.testing import wait_for

POOLS = "[decider:test]\ntask_list = test\n\n[worker:test]\ntask_list = test\nprocesses = 2\n"
SECRET = "status-must-not-show-this"


def status(d: Daemon, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swfd.cli", "--config", str(d.config),
                           "status", *args], env=d.env, capture_output=True, text=True,
                          timeout=60, check=False)


def title(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()


def test_status_names_the_running_task_and_titles_tell_processes_apart(daemon):
    d = daemon(POOLS).start().wait_ready()
    run = d.start_workflow(input={"activity": "Sleep", "input": {"seconds": 4,
                                                                 "note": SECRET}})
    wait_for(lambda: d.count(run, "ActivityTaskStarted") == 1, 30, message="task in hand")

    def running() -> list[dict] | None:
        done = status(d, "--json")
        report = json.loads(done.stdout)
        children = [c for g in report["generations"] for p in g["pools"]
                    for c in p["children"] if c["state"] == "running"]
        return (done, report, children) if children and children[0].get("task") else None

    done, report, children = wait_for(running, 20, message="status naming the task")
    assert done.returncode == 0 and report["running"] and report["healthy"]
    (child,) = children
    assert child["type"] == "Sleep/1" and child["pool"] == "worker:test"
    assert child["task"] == {**{k: run[k] for k in ("workflowId", "runId")},
                             "activityId": "act-0"}
    assert SECRET not in done.stdout
    (generation,) = report["generations"]
    pools = {p["pool"]: p for p in generation["pools"]}
    assert pools["worker:test"]["wanted"] == 2 and pools["worker:test"]["ready"] == 2
    assert report["endpoint"]["url"] == d.url and generation["state"] == "serving"

    text = status(d).stdout
    assert "healthy" in text and "generation 1" in text and "Sleep/1" in text
    assert f"workflowId={run['workflowId']}" in text and SECRET not in text

    assert title(d.proc.pid) == "swfd supervisor"
    assert title(generation["pid"]) == "swfd generation 1"
    assert title(child["pid"]).startswith("swfd worker:test #")
    assert "Sleep/1" in title(child["pid"]) and run["workflowId"] not in title(child["pid"])
    idle = [c["pid"] for p in generation["pools"] for c in p["children"]
            if c["state"] == "polling"]
    assert any(title(pid).endswith(" idle") for pid in idle)
    assert d.wait_closed(run, 30)["closeStatus"] == "COMPLETED"
    wait_for(lambda: json.loads(status(d, "--json").stdout)["generations"][0]["pools"],
             10, message="pools")
    socket_mode = stat.S_IMODE(os.stat(d.dir / "run" / "swfd.sock").st_mode)
    assert socket_mode == 0o600
    d.signal(signal.SIGTERM)
    assert d.wait(60) == 0
    assert status(d).returncode == 3


def test_task_ids_in_titles_only_when_opted_in(daemon):
    d = daemon(POOLS, extra="proctitle_tasks = yes").start().wait_ready()
    run = d.start_workflow(input={"activity": "Sleep", "input": {"seconds": 4}})
    wait_for(lambda: d.count(run, "ActivityTaskStarted") == 1, 30, message="task in hand")
    workers = d.children("worker:test")
    wait_for(lambda: any(run["workflowId"] in title(p) for p in workers), 10,
             message="the workflow id in a title")
    d.signal(signal.SIGTERM)
    assert d.wait(60) == 0


def test_degraded_pool_is_exit_1_and_named(daemon):
    d = daemon("[worker:test]\ntask_list = test\n",
               plugins="testplugin, testplugin-badinit").start()
    wait_for(lambda: d.notified("degraded"), 60, message="a degraded pool")
    def degraded() -> subprocess.CompletedProcess | None:
        done = status(d, "--json")
        return done if done.returncode == 1 else None

    done = wait_for(degraded, 30, message="status exit 1")
    report = json.loads(done.stdout)
    (pool,) = report["generations"][0]["pools"]
    assert pool["degraded"] and pool["boot_failures"] >= 1 and not report["healthy"]
    assert "DEGRADED" in status(d).stdout
    d.signal(signal.SIGTERM)
    assert d.wait(60) == 0


def test_control_socket_refuses_another_user(daemon):
    """Mode 0600: a process of another uid cannot connect (where this test runs as root,
    a forked child drops to nobody to try)."""
    if os.getuid() != 0:
        pytest.skip("needs root to act as a second user")  # the mode is checked above
    import shutil
    import tempfile

    public = tempfile.mkdtemp(prefix="swfd-socket-")
    os.chmod(public, 0o755)  # anyone may look in: only the socket's own mode stands
    path = os.path.join(public, "swfd.sock")
    d = daemon(POOLS, extra=f"control_socket = {path}").start().wait_ready()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert title(int(re.search(r"started the local endpoint \(pid (\d+)\)",
                               d.text()).group(1))).startswith("swfd local 127.0.0.1:")
    pid = os.fork()
    if pid == 0:  # the child: become nobody, try the socket, report by exit code
        code = 3
        try:
            os.setgid(65534)
            os.setuid(65534)
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(path)
            code = 0
        except PermissionError:
            code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    try:
        assert os.waitstatus_to_exitcode(status) == 1  # refused: permission denied
        d.signal(signal.SIGTERM)
        assert d.wait(60) == 0
    finally:
        shutil.rmtree(public, ignore_errors=True)
