"""Acceptance: failures as a third party meets them, through real daemons.

A worker killed mid-task (its last heartbeat details reach SWF's timeout
event), and plugin mistakes (two plugins defining one type, a misspelt hook)
refused at start with exit code 2 and a message naming them.
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
import time

import pytest
from test_acceptance_support import (
    SECRET,
    AccDaemon,
    StandaloneEndpoint,
    ThrottlingProxy,
    install_plugins,
    json_lines,
)
from test_daemon_support import attrs

from swfd.testing import wait_for


def test_killed_worker_last_heartbeat_details_reach_the_timeout(tmp_path):
    daemon = AccDaemon(tmp_path)
    try:
        daemon.start().wait_ready()
        daemon.ready_pool("worker:default", 2)
        execution = daemon.start_workflow("AccOne", "1", input={"activity": "AccCancelable"})

        def started():
            events = daemon.history(execution)
            found = [e for e in events if e["eventType"] == "ActivityTaskStarted"]
            return found[0] if found else None

        event = wait_for(started, 20, message="activity started")
        pid = int(attrs(event)["identity"].split("/")[1])
        assert pid in daemon.children("worker:default")
        # Heartbeats go every second (a third of the declared 3 s timeout): 4 s after
        # the start, several have landed (the task is still open, so none was missed).
        at = event["eventTimestamp"].timestamp()
        wait_for(lambda: time.time() - at > 4, 10, interval=0.1, message="some heartbeats")
        assert "ActivityTaskTimedOut" not in daemon.event_types(execution)
        os.kill(pid, signal.SIGKILL)
        info = daemon.wait_closed(execution, timeout=30)
        assert info["closeStatus"] == "FAILED", daemon.event_types(execution)
        timed_out = [attrs(e) for e in daemon.history(execution)
                     if e["eventType"] == "ActivityTaskTimedOut"]
        assert timed_out and timed_out[0]["timeoutType"] == "HEARTBEAT", timed_out
        details = json.loads(timed_out[0]["details"])
        assert details["step"] >= 10, details  # the latest details, not the first
        wait_for(lambda: len(daemon.children("worker:default")) >= 3, 20,
                 message="the killed worker respawned")
    finally:
        daemon.close()


DUPLICATE = textwrap.dedent('''
    import swfd

    @swfd.activity(name="AccEcho", version="1", task_list="acc")
    def echo_again(task):
        return task.input

    @swfd.hookimpl
    def swfd_activities():
        return [echo_again]
''')

MISSPELT = textwrap.dedent('''
    import swfd

    @swfd.activity(name="AccMisspelt", version="1", task_list="acc")
    def misspelt(task):
        return None

    @swfd.hookimpl
    def swfd_activites():
        return [misspelt]
''')


BROKEN_CONFIGURE = textwrap.dedent('''
    import swfd

    @swfd.hookimpl
    def swfd_configure(settings):
        raise RuntimeError(f"cannot configure for domain {settings.domain}")
''')


def _add_plugin(site, name, module, source):
    (site / f"{module}.py").write_text(source)
    dist = site / f"{module}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[swfd]\n{name} = {module}\n")


def test_plugin_mistakes_refused_at_start(tmp_path):
    site = install_plugins(tmp_path / "site")
    _add_plugin(site, "acc_dup", "acc_dup_plugin", DUPLICATE)
    _add_plugin(site, "acc_typo", "acc_typo_plugin", MISSPELT)
    _add_plugin(site, "acc_noconf", "acc_noconf_plugin", BROKEN_CONFIGURE)
    cases = {"acceptance, acc_dup": ("AccEcho", "acceptance", "acc_dup"),
             "acc_typo": ("acc_typo", "swfd_activites"),
             "acceptance, acc_noconf": ("acc_noconf", "swfd_configure", "cannot configure")}
    for number, (plugins, words) in enumerate(cases.items()):
        where = tmp_path / f"case{number}"
        where.mkdir()
        daemon = AccDaemon(where, plugins=plugins, site=site)
        try:
            daemon.start()
            assert daemon.wait(timeout=30) == 2, daemon.text()
            text = daemon.text()
            assert all(word in text for word in words), (words, text)
            assert "spawned" not in text, "nothing forks before the plugins are valid"
        finally:
            daemon.close()


def test_retried_answer_log_lines_carry_the_task(tmp_path):
    """SWF throttles the worker's answer once: the retry's log line names the task."""
    endpoint = StandaloneEndpoint(tmp_path)
    proxy = ThrottlingProxy(endpoint.port, "RespondActivityTaskFailed", times=1)
    daemon = AccDaemon(tmp_path, endpoint_url=proxy.url)
    try:
        daemon.start().wait_ready()
        execution = daemon.start_workflow("AccOne", "1", input={"activity": "AccBoom",
                                                                "input": SECRET})
        info = daemon.wait_closed(execution, timeout=30)
        assert info["closeStatus"] == "FAILED", daemon.event_types(execution)
        assert proxy.throttled == 1
        retries = [line for line in json_lines(daemon.text())
                   if "RespondActivityTaskFailed" in line["message"]]
        assert retries, daemon.text()[-3000:]
        for line in retries:
            assert line.get("workflowId") == execution["workflowId"], line
            assert line.get("runId") == execution["runId"], line
            assert line.get("activityId") == "one", line
            assert line["pool"] == "worker:default" and isinstance(line["pid"], int), line
        assert SECRET not in daemon.text()
    finally:
        daemon.close()
        proxy.close()
        endpoint.close()


@pytest.mark.parametrize("operation", ["RespondActivityTaskCompleted",
                                       "RespondDecisionTaskCompleted"])
def test_answer_whose_reply_was_lost_is_taken_as_done(tmp_path, operation):
    """The answer lands but its reply is lost (a 500): the retry meets
    UnknownResourceFault, which is taken as done; the workflow completes."""
    endpoint = StandaloneEndpoint(tmp_path)
    proxy = ThrottlingProxy(endpoint.port, operation, times=1, lose_response=True)
    daemon = AccDaemon(tmp_path, endpoint_url=proxy.url)
    try:
        daemon.start().wait_ready()
        execution = daemon.start_workflow("AccOne", "1", input={"activity": "AccEcho",
                                                                "input": SECRET})
        info = daemon.wait_closed(execution, timeout=30)
        assert info["closeStatus"] == "COMPLETED", daemon.event_types(execution)
        assert proxy.throttled == 1
        assert daemon.count(execution, "ActivityTaskCompleted") == 1
        done = wait_for(lambda: [line for line in json_lines(daemon.text())
                                 if "taken as done" in line["message"]], 10,
                        message="the retry's UnknownResourceFault taken as done")
        assert done[0].get("activityId") == "one" or done[0].get("decisionStartedEventId")
        assert done[0].get("workflowId") == execution["workflowId"]
        assert SECRET not in daemon.text()
    finally:
        daemon.close()
        proxy.close()
        endpoint.close()
