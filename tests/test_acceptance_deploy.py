"""Acceptance: what an operator does with a new host, from DESIGN.md and README.md alone.

A standalone ``swfd local`` and an AWS-style config (endpoint_url = URL,
register = yes); two plugins at once, an allowlist, autoload of every
installed plugin; ``swfd --config F check`` exit codes; and a rolling
deploy: a decider that does not know a workflow type leaves its decision
task alone, and a second daemon that knows it takes over after the timeout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid

import pytest
from test_acceptance_support import (
    AccDaemon,
    StandaloneEndpoint,
    full_config,
    install_plugins,
    json_lines,
)
from test_daemon_support import attrs

from swfd.testing import wait_for


@pytest.fixture
def standalone(tmp_path):
    endpoint = StandaloneEndpoint(tmp_path)
    try:
        yield endpoint
    finally:
        endpoint.close()


def test_aws_style_config_two_plugins_on_a_standalone_endpoint(tmp_path, standalone):
    daemon = AccDaemon(tmp_path, plugins="acceptance, acc_second", endpoint_url=standalone.url)
    try:
        daemon.start().wait_ready()
        types = standalone.client.list_activity_types(
            domain=daemon.domain, registrationStatus="REGISTERED")["typeInfos"]
        assert {"AccEcho", "AccSecond"} <= {t["activityType"]["name"] for t in types}
        execution = daemon.start_workflow("AccSecondWf", "1", input={})
        info = daemon.wait_closed(execution, timeout=30)
        assert info["closeStatus"] == "COMPLETED", daemon.event_types(execution)
        result = attrs(daemon.history(execution)[-1])["result"]
        assert json.loads(result) == [{"second": 1}, 2]
        # TERM drains: the standalone endpoint's polls are short, so the exit is quick.
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0, daemon.text()[-2000:]
    finally:
        daemon.close()


def test_allowlist_leaves_other_installed_plugins_out(tmp_path, standalone):
    daemon = AccDaemon(tmp_path, plugins="acc_second", endpoint_url=standalone.url)
    try:
        daemon.start().wait_ready()
        names = {t["activityType"]["name"] for t in standalone.client.list_activity_types(
            domain=daemon.domain, registrationStatus="REGISTERED")["typeInfos"]}
        assert names == {"AccSecond"}, names
    finally:
        daemon.close()


def test_plugins_omitted_autoloads_every_installed_plugin(tmp_path, standalone):
    site = install_plugins(tmp_path / "site")
    # Only our site and the venv: no test plugins (one of them crashes on purpose).
    daemon = AccDaemon(tmp_path, plugins=None, endpoint_url=standalone.url, site=site,
                       autoload=True, env={"PYTHONPATH": str(site)})
    assert "plugins" not in daemon.config.read_text()
    try:
        daemon.start().wait_ready()
        names = {t["activityType"]["name"] for t in standalone.client.list_activity_types(
            domain=daemon.domain, registrationStatus="REGISTERED")["typeInfos"]}
        assert {"AccEcho", "AccSecond"} <= names, names
        execution = daemon.start_workflow("AccSecondWf", "1", input={})
        info = daemon.wait_closed(execution, timeout=30)
        assert info["closeStatus"] == "COMPLETED", daemon.event_types(execution)
    finally:
        daemon.close()


def _check(config, site, env=None):
    return subprocess.run(
        [sys.executable, "-m", "swfd.cli", "--config", str(config), "check"],
        check=False, capture_output=True, text=True, timeout=60, cwd=str(config.parent),
        env={**os.environ, "PYTHONPATH": str(site), **(env or {})},
    )


def test_check_good_and_bad_configs(tmp_path, standalone):
    site = install_plugins(tmp_path / "site")
    good = tmp_path / "good.ini"
    domain = f"d-{uuid.uuid4().hex[:8]}"
    good.write_text(full_config(domain, endpoint_url=standalone.url, plugins="acceptance"))
    result = _check(good, site)
    assert result.returncode == 0, result.stdout + result.stderr

    bad = tmp_path / "bad.ini"
    bad.write_text(good.read_text().replace("processes = 2", "processes = two"))
    result = _check(bad, site)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "processes" in result.stderr and "two" in result.stderr and "worker:default" in (
        result.stderr), result.stderr

    inline = tmp_path / "inline.ini"
    inline.write_text(good.read_text().replace("log_level = INFO", "log_level = INFO  # loud"))
    result = _check(inline, site)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "log_level" in result.stderr

    unknown = tmp_path / "unknown.ini"
    unknown.write_text(good.read_text().replace("[worker:default]\n",
                                                "[worker:default]\nheartbeat_intervall = 5\n"))
    result = _check(unknown, site)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "heartbeat_intervall" in result.stderr and "heartbeat_interval" in result.stderr

    missing_plugin = tmp_path / "missing.ini"
    missing_plugin.write_text(good.read_text().replace("plugins = acceptance",
                                                       "plugins = acceptance, nosuch"))
    result = _check(missing_plugin, site)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "nosuch" in result.stdout + result.stderr

    down = tmp_path / "down.ini"
    down.write_text(good.read_text().replace(standalone.url, "http://127.0.0.1:9"))
    result = _check(down, site)
    assert result.returncode == 1, result.stdout + result.stderr


def test_unknown_workflow_type_waits_for_a_decider_that_knows_it(tmp_path, standalone):
    """Rolling deploy: host A has only acc_second, host B has both plugins."""
    site = install_plugins(tmp_path / "site")
    (tmp_path / "a").mkdir()
    old = AccDaemon(tmp_path / "a", plugins="acc_second", endpoint_url=standalone.url, site=site)
    new = None
    try:
        old.start().wait_ready()
        # The type is registered (by someone else) and started before host B runs.
        standalone.client.register_workflow_type(
            domain=old.domain, name="AccOne", version="1",
            defaultTaskList={"name": "acc"}, defaultTaskStartToCloseTimeout="2",
            defaultExecutionStartToCloseTimeout="60", defaultChildPolicy="TERMINATE")
        execution = old.start_workflow("AccOne", "1", input={"activity": "AccWhoAmI"})

        def refused():
            return [line for line in json_lines(old.text())
                    if line.get("workflowId") == execution["workflowId"]
                    and line["level"] == "ERROR"] or None

        lines = wait_for(refused, 20, message="the old decider's error")
        assert "AccOne" in lines[0]["message"] and lines[0].get("decisionStartedEventId")
        assert "DecisionTaskCompleted" not in old.event_types(execution)

        (tmp_path / "b").mkdir()
        new = AccDaemon(tmp_path / "b", plugins="acceptance, acc_second",
                        endpoint_url=standalone.url, site=site)
        new.domain = old.domain
        new.config.write_text(full_config(old.domain, endpoint_url=standalone.url,
                                          plugins="acceptance, acc_second"))
        old.close()  # host A leaves; its workers would run AccWhoAmI as "unknown activity"
        new.start().wait_ready()
        info = new.wait_closed(execution, timeout=40)
        types = new.event_types(execution)
        assert info["closeStatus"] == "COMPLETED", types
        assert "DecisionTaskTimedOut" in types, types
        diffs = [line["message"] for line in json_lines(new.text())
                 if line["level"] == "WARNING" and "AccOne" in line["message"]]
        assert any("defaultTaskStartToCloseTimeout" in m and "'2'" in m for m in diffs), diffs
    finally:
        old.close()
        if new is not None:
            new.close()
