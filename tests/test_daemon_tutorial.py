"""boto's SWF tutorial through the daemon, on the shipped etc/swfd-local.ini.

This module is also a tiny plugin (``SWFD_PLUGINS=test_daemon_tutorial``): in
worker processes it makes the tutorial's ActivityA take 0.5 s, so the Parallel
workflow's five activities overlap and spread over the two workers.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
from test_daemon_support import ROOT, TEST_PLUGINS, Daemon, attrs

import swfd

HELLO_EVENTS = [  # seed 001: HelloWorkflow's history
    "WorkflowExecutionStarted", "DecisionTaskScheduled", "DecisionTaskStarted",
    "DecisionTaskCompleted", "ActivityTaskScheduled", "ActivityTaskStarted",
    "ActivityTaskCompleted", "DecisionTaskScheduled", "DecisionTaskStarted",
    "DecisionTaskCompleted", "WorkflowExecutionCompleted",
]


@swfd.hookimpl
def swfd_worker_init(pool, kind):
    if kind != "worker":
        return
    import swfd_tutorial

    definition = swfd_tutorial.activity_a
    original = definition.func

    def slow(task):
        time.sleep(0.5)
        return original(task)

    object.__setattr__(definition, "func", slow)


def tutorial_daemon(home: Path, embedded: str = "") -> Daemon:
    """A Daemon on the shipped etc/swfd-local.ini (copied under ``home``), this module
    as a plugin, any free port, short polls; ``embedded`` adds lines to ``[embedded]``."""
    d = Daemon(home, "", env={
        "SWFD_PLUGINS": "test_daemon_tutorial",
        "PYTHONPATH": os.pathsep.join([str(TEST_PLUGINS), str(ROOT / "tests")]),
    })
    shipped = (ROOT / "etc" / "swfd-local.ini").read_text()
    (home / "etc").mkdir()
    d.config = home / "etc" / "swfd-local.ini"
    text = re.sub(r"(?m)^port = 8799$", "port = 0" + (f"\n{embedded}" if embedded else ""), shipped)
    text = re.sub(r"(?m)^poll_timeout = \d+$", "poll_timeout = 1", text)
    d.config.write_text(re.sub(r"(?m)^graceful_timeout = \d+$", "graceful_timeout = 12", text))
    d.domain = "boto_tutorial"
    return d


@pytest.fixture
def tutorial(tmp_path):
    pytest.importorskip("swfd_tutorial", reason="pip install -e plugins/tutorial")
    d = tutorial_daemon(tmp_path)
    d.database = tmp_path / "var" / "local.sqlite3"
    d.pidfile = tmp_path / "var" / "swfd.pid"
    try:
        yield d.start().wait_ready()
    finally:
        d.close()


def test_tutorial_workflows_through_the_daemon(tutorial):
    d = tutorial
    assert Path(d.pidfile).exists() and Path(d.database).exists()  # relative to etc/
    hello = d.start_workflow("HelloWorkflow", "1.0", task_list="default")
    serial = d.start_workflow("SerialWorkflow", "1.0", task_list="default_tasks")
    parallel = d.start_workflow("ParallelWorkflow", "1.0", task_list="default")
    for run in (hello, serial, parallel):
        assert d.wait_closed(run, 60)["closeStatus"] == "COMPLETED"

    assert d.event_types(hello) == HELLO_EVENTS

    serial_events = d.history(serial)
    scheduled = [attrs(e) for e in serial_events if e["eventType"] == "ActivityTaskScheduled"]
    assert [s["activityType"]["name"] for s in scheduled] == ["ActivityA", "ActivityB",
                                                              "ActivityC"]
    assert [s["taskList"]["name"] for s in scheduled] == ["a_tasks", "b_tasks", "c_tasks"]
    assert scheduled[1]["input"] == "Now don't be givin him sambuca!"

    events = d.history(parallel)
    scheduled_ids = [attrs(e)["activityId"] for e in events
                     if e["eventType"] == "ActivityTaskScheduled"]
    assert sorted(scheduled_ids) == [f"activity{i}" for i in range(5)]
    started = [e for e in events if e["eventType"] == "ActivityTaskStarted"]
    completed = [e for e in events if e["eventType"] == "ActivityTaskCompleted"]
    assert len(started) == 5 and len(completed) == 5  # each ran once
    started_at = {e["eventId"]: e["eventTimestamp"] for e in started}
    for e in completed:  # the 0.5 s ActivityA of this module's worker init
        took = e["eventTimestamp"] - started_at[attrs(e)["startedEventId"]]
        assert took.total_seconds() >= 0.45, took
    pids = {int(attrs(e)["identity"].split(":")[1]) for e in started}
    assert len(pids) == 2 and pids <= set(d.children("worker:default")), pids
    d.signal(signal.SIGTERM)
    assert d.wait(60) == 0
