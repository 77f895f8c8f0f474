"""Kept ``async def`` instances in a real daemon: two decider processes with the history
cache on share the runs, so each decision task continues the process's kept instance
or replays from the start (the other process decided meanwhile); the runs complete as
a full replay of their histories says they should.

This module is also a tiny plugin (``SWFD_PLUGINS=test_flow_sticky_daemon``): its
workflow, and in decider processes the sticky module's debug lines, which say which
way each decision went.
"""

from __future__ import annotations

import logging
import os

from test_daemon_support import ROOT, TEST_PLUGINS

import swfd
from swfd.flow.replay import check_history


@swfd.activity("StickyEcho", "1", task_list="test")
def sticky_echo(task):
    return task.input


@swfd.workflow("StickySteps", "1", task_list="test")
async def sticky_steps(wf, spec):
    """Steps in a row, a parallel pair, then a signal (or a timeout)."""
    total = 0
    for step in range(spec["steps"]):
        total += await wf.activity(sticky_echo, step)
    pair = await swfd.gather(wf.activity(sticky_echo, 100), wf.activity(sticky_echo, 200))
    extra = await wf.signal("extra", timeout=2)
    return {"total": total, "pair": pair, "extra": extra}


@swfd.hookimpl
def swfd_activities():
    return [sticky_echo]


@swfd.hookimpl
def swfd_workflows():
    return [sticky_steps]


@swfd.hookimpl
def swfd_worker_init(pool, kind):
    if kind == "decider":
        logging.getLogger("swfd.flow.sticky").setLevel(logging.DEBUG)


POOLS = ("[decider:test]\ntask_list = test\nprocesses = 2\nhistory_cache = yes\n\n"
         "[worker:test]\ntask_list = test\nprocesses = 2\n")


def test_two_decider_processes_continue_or_replay_and_decide_alike(daemon):
    d = daemon(POOLS, plugins="", env={
        "SWFD_PLUGINS": "test_flow_sticky_daemon",
        "PYTHONPATH": os.pathsep.join([str(TEST_PLUGINS), str(ROOT / "tests")])})
    d.start().wait_ready()
    runs = [d.start_workflow("StickySteps", "1", {"steps": 6}) for _ in range(3)]
    d.client.signal_workflow_execution(domain=d.domain, signalName="extra", input="7",
                                       **runs[0])
    for run in runs:
        assert d.wait_closed(run, 90)["closeStatus"] == "COMPLETED"
        events = d.history(run)
        check_history(sticky_steps, events, run)
        result = events[-1]["workflowExecutionCompletedEventAttributes"]["result"]
        assert '"total": 15' in result and '"pair": [100, 200]' in result
    log = d.text()
    assert "swfd:decider-error" not in log
    continued = log.count("sticky_steps: continued its kept instance")
    replayed = log.count("sticky_steps: replayed from the start")
    assert continued >= 1 and replayed >= len(runs), log[-3000:]
