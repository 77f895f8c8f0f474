"""The embedded endpoint's modes reach it from the INI file, and the daemon serves in both.

``[embedded] aws_faithful = yes`` becomes ``--aws-faithful`` on the endpoint the
supervisor starts, with a connection cap above every poller the daemon runs.
The whole daemon fault suite runs in that mode with ``SWFD_TEST_AWS_FAITHFUL=1``
(tests/test_daemon_support.py reads it); here one workflow runs in each mode.
"""

from __future__ import annotations

import re

import pytest
import test_daemon_support
from test_daemon_support import Daemon

POOLS = "[decider:test]\ntask_list = test\n\n[worker:test]\ntask_list = test\nprocesses = 3\n"


@pytest.mark.parametrize("faithful", [False, True], ids=["watching", "aws-faithful"])
def test_the_mode_reaches_the_embedded_endpoint_and_work_flows(tmp_path, monkeypatch, faithful):
    monkeypatch.setattr(test_daemon_support, "ENDPOINT_MODE",
                        "aws_faithful = yes\n" if faithful else "")
    d = Daemon(tmp_path, POOLS)
    try:
        d.start().wait_ready()
        # (The endpoint's process title replaces its command line: its log line says.)
        listening = [line for line in d.text().splitlines() if "listening at" in line]
        assert int(re.search(r"at most (\d+) connections", listening[0]).group(1)) >= 4 * 4 + 64
        run = d.start_workflow(input={"activity": "Echo", "input": {"n": 1}, "count": 3})
        assert d.wait_closed(run, 60)["closeStatus"] == "COMPLETED"
        assert ("aws-faithful" in listening[0]) is faithful
    finally:
        d.close()
