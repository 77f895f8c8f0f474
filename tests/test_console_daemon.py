"""``[embedded] console = yes``: the daemon serves the web console from a child of its
own (never the supervisor), restarts it on the port it bound when it dies, and stops
it with the daemon."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest
from test_console_support import request
from test_daemon_support import Daemon, pid_alive

from swfd.control import request as control_request
from swfd.testing import wait_for

pytestmark = pytest.mark.slow

# Daemon writes [embedded] last before the pools: these lines land in it.
POOLS = ("console = yes\nconsole_port = 0\nconsole_allow_actions = yes\n\n"
         "[decider:test]\ntask_list = test\n\n[worker:test]\ntask_list = test\n")
READY = re.compile(r"web console at (http://\S+)/ \(pid (\d+)\)")


def test_the_daemon_serves_restarts_and_stops_its_console(tmp_path):
    d = Daemon(tmp_path, POOLS)
    try:
        d.start().wait_ready()
        url, pid = wait_for(lambda: READY.findall(d.text()), 60,
                            message="the web console's address")[-1]
        pid = int(pid)
        assert pid != d.proc.pid
        run = d.start_workflow(input={"activity": "Echo", "count": 1})
        d.wait_closed(run, 60)
        page = request(url, "/?state=closed")
        assert page.status == 200 and page.rows() == [run["workflowId"]]
        assert d.domain in page.text and "actions enabled" in page.text
        status = control_request(str(tmp_path / "run" / "swfd.sock"), "status", 10)
        assert status["console"] == url + "/"

        os.kill(pid, signal.SIGKILL)
        url2, pid2 = wait_for(lambda: READY.findall(d.text())[1:], 30,
                              message="the console restarted")[-1]
        assert url2 == url and int(pid2) != pid  # the port it bound, kept
        assert "the web console died" in d.text()
        assert request(url, "/?state=closed").rows() == [run["workflowId"]]

        d.signal(signal.SIGTERM)
        assert d.wait(60) == 0
        wait_for(lambda: not pid_alive(int(pid2)), 10, message="the console stopped")
    finally:
        d.close()


def test_swfd_console_serves_in_the_foreground_until_terminated(tmp_path, local_endpoint,
                                                               domain):
    config = tmp_path / "swfd.ini"
    config.write_text(f"[swfd]\ndomain = {domain}\nendpoint_url = {local_endpoint.url}\n"
                      "log_format = json\n\n[worker:w]\ntask_list = w\n")
    log = tmp_path / "console.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "swfd.cli", "--config", str(config),
                                 "console", "--port", "0"], stdout=out, stderr=out)
    try:
        line = wait_for(lambda: [json.loads(x) for x in log.read_text().splitlines()
                                 if '"console at ' in x], 30, message="the console's address")[0]
        assert line["pool"] == "console" and line["pid"] == proc.pid
        url = re.search(r"console at (http://\S+)/ ", line["message"])[1]
        page = request(url, "/")
        assert page.status == 200 and domain in page.text and "read-only" in page.text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_console_yes_without_the_embedded_endpoint_says_it_has_no_effect(tmp_path,
                                                                        local_endpoint):
    """``[embedded]`` keys only act with ``endpoint_url = embedded``: the daemon says so
    for the console rather than silently serving none."""
    d = Daemon(tmp_path, "[embedded]\n" + POOLS, endpoint_url=local_endpoint.url,
               graceful_timeout=75)
    try:
        d.start().wait_ready()
        assert re.search(r"\[embedded\] console = yes has no effect: endpoint_url is "
                         r"'http://127\.0\.0\.1:\d+', not embedded; run `swfd --config \S+ "
                         r"console` beside the daemon", d.text()), d.text()
        assert not READY.search(d.text())
        d.signal(signal.SIGTERM)
        assert d.wait(90) == 0
    finally:
        d.close()
