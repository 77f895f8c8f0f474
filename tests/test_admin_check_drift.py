"""`swfd check` reports drift between a plugin's declared type defaults and the
registered type, a line per field, and says the way out is a new version."""

from __future__ import annotations

import json
import uuid

from test_admin_cli import swfd, write_config

# test_admin_cli's fixtures: a standalone `swfd local`, its client, the test plugin
pytest_plugins = ["test_admin_cli"]


def test_check_reports_each_drifted_default_and_the_way_out(workdir, environment,
                                                            endpoint_port, client):
    domain = f"checkdrift-{uuid.uuid4().hex[:8]}"
    client.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    client.register_activity_type(
        domain=domain, name="CliActivity", version="1.0", defaultTaskList={"name": "elsewhere"},
        defaultTaskHeartbeatTimeout="5", defaultTaskStartToCloseTimeout="3600",
        defaultTaskScheduleToStartTimeout="300", defaultTaskScheduleToCloseTimeout="3900",
    )
    config = write_config(workdir / "checkdrift.ini", f"http://127.0.0.1:{endpoint_port}",
                          domain, "\n[decider:main]\ntask_list = cli\n")
    expected = [
        ("ActivityType CliActivity 1.0: defaultTaskList is 'elsewhere' upstream, "
         "plugin declares 'cli'"),
        ("ActivityType CliActivity 1.0: defaultTaskHeartbeatTimeout is '5' upstream, "
         "plugin declares '600'"),
    ]
    result = swfd(environment, config, "check")
    assert result.returncode == 0, result.stdout + result.stderr  # warnings only
    lines = result.stdout.splitlines()
    for line in expected:
        assert any(f"differs: {line}" in row for row in lines), result.stdout
    assert "register a new version" in result.stdout
    assert "SWF types cannot change in place" in result.stdout

    strict = swfd(environment, config, "check", "--strict")
    assert strict.returncode == 1

    report = json.loads(swfd(environment, config, "check", "--json").stdout)
    types = [c for c in report["checks"] if c["check"] == "types"]
    differences = [c["difference"] for c in types if "difference" in c]
    assert [d["message"] for d in differences] == expected
    assert [(d["kind"], d["name"], d["version"], d["field"], d["upstream"], d["declared"])
            for d in differences] == [
        ("activity", "CliActivity", "1.0", "defaultTaskList", "elsewhere", "cli"),
        ("activity", "CliActivity", "1.0", "defaultTaskHeartbeatTimeout", "5", "600"),
    ]
    assert all(c["status"] == "warn" for c in types)
    # the workflow types are not registered yet: nothing to compare, nothing reported
    assert not any("Workflow" in c["detail"] for c in types)
