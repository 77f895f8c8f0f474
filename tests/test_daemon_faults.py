"""Workers and deciders that keep their promises under faults (real daemons, real signals).

- A handler's heartbeats reach SWF promptly: a task whose decider shortened the
  heartbeat timeout to 3 s (its type declares 600) lives as long as the handler
  heartbeats, though the poll never says the timeout changed.
- After an endpoint outage, polls resume within seconds, with one log line when
  the outage starts and one when it ends, per child, not one per retry.
- An execution input the workflow's codec cannot decode is recorded once (a
  decider-error marker) and not retried until a new event arrives.
- No log line carries a payload, from either kind of child.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from test_daemon_support import attrs

from swfd.testing import wait_for

# Timing-sensitive: never side by side with the others of the group (pytest-xdist).
pytestmark = pytest.mark.xdist_group("timing")

POOLS = "[decider:test]\ntask_list = test\n\n[worker:test]\ntask_list = test\nprocesses = 2\n"
SENTINEL = "s3nt1nel-" + uuid.uuid4().hex[:8]


def test_handler_heartbeats_keep_alive_a_timeout_the_decider_shortened(daemon):
    d = daemon(POOLS).start().wait_ready()
    run = d.start_workflow(input={"activity": "Heartbeat600", "input": {"seconds": 8},
                                  "heartbeat_timeout": "3"})
    info = d.wait_closed(run, 60)
    types = d.event_types(run)
    assert info["closeStatus"] == "COMPLETED", types
    assert "ActivityTaskTimedOut" not in types
    scheduled = [attrs(e) for e in d.history(run) if e["eventType"] == "ActivityTaskScheduled"]
    assert scheduled[0]["heartbeatTimeout"] == "3"
    d.signal(signal.SIGTERM)
    assert d.wait(60) == 0


class Endpoint:
    """``swfd local`` on a fixed port and database, which a test stops and restarts."""

    def __init__(self, tmp_path) -> None:
        self.port = 0  # any free port at first; the same one after a restart
        self.url = ""
        self.database = str(tmp_path / "outage.sqlite3")
        self.log = tmp_path / "endpoint.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        read, write = os.pipe()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "swfd.local", "--port", str(self.port),
                 "--database", self.database, "--poll-timeout", "1", "--ready-fd", str(write)],
                stdout=log, stderr=log, pass_fds=(write,))
        os.close(write)
        with os.fdopen(read) as ready:
            line = ready.readline()
        assert line.startswith("ready "), line
        self.url = line.split()[1]
        self.port = int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.mark.parametrize("outage", ["stopped", "frozen"])
def test_polls_resume_within_seconds_after_an_endpoint_outage(daemon, tmp_path, outage):
    endpoint = Endpoint(tmp_path)
    endpoint.start()
    try:
        d = daemon(POOLS, endpoint_url=endpoint.url, graceful_timeout=75).start().wait_ready()
        wait_for(lambda: len(d.ready_children("worker:test")) == 2
                 and len(d.ready_children("decider:test")) == 1, 30, message="polling")
        assert d.wait_closed(d.start_workflow(input={"activity": "Echo"}), 30)
        if outage == "stopped":  # connections refused for 10 s
            endpoint.stop()
            wait_for(lambda: d.text().count(" failing (") >= 3, 30,
                     message="every child noticed")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # the outage itself: nothing to wait on
                time.sleep(0.5)
            endpoint.start()
        else:  # SIGSTOP: requests hang, nothing is refused
            endpoint.proc.send_signal(signal.SIGSTOP)
            time.sleep(10)  # the outage under test
            endpoint.proc.send_signal(signal.SIGCONT)
        resumed = time.monotonic()
        run = d.start_workflow(input={"activity": "Echo"})
        assert d.wait_closed(run, 30)["closeStatus"] == "COMPLETED"
        assert time.monotonic() - resumed < 5
        if outage == "stopped":  # one line as it starts, one as it ends, per child
            wait_for(lambda: d.text().count(" works again after ") == 3, 10,
                     message="every child's poll answered again")
        text = d.text()
        failing, again = text.count(" failing ("), text.count(" works again after ")
        assert failing == again <= 3, text[-3000:]
        if outage == "stopped":
            assert failing == 3
        assert "retrying in" not in text  # no line per retry
        d.signal(signal.SIGTERM)
        assert d.wait(90) == 0
    finally:
        endpoint.stop()


def test_undecodable_input_is_recorded_once_and_waits_for_a_new_event(daemon):
    d = daemon(POOLS).start().wait_ready()
    run = d.start_workflow(input=f"width=800 {SENTINEL}", raw=True)

    def markers() -> list[dict]:
        return [attrs(e) for e in d.history(run) if e["eventType"] == "MarkerRecorded"]

    wait_for(lambda: len(markers()) == 1, 30, message="the decider-error marker")
    details = json.loads(markers()[0]["details"])
    assert "CodecError" in details["error"] and "not valid JSON" in details["error"]
    types = d.event_types(run)
    assert "TimerStarted" not in types and "WorkflowExecutionFailed" not in types
    d.client.signal_workflow_execution(domain=d.domain, workflowId=run["workflowId"],
                                       runId=run["runId"], signalName="nudge")
    wait_for(lambda: len(markers()) == 2, 30, message="a second marker for the new event")
    assert "TimerStarted" not in d.event_types(run)
    assert d.text().count("cannot be decoded") == 2
    assert SENTINEL not in d.text()
    d.client.terminate_workflow_execution(domain=d.domain, workflowId=run["workflowId"],
                                          runId=run["runId"])
    d.signal(signal.SIGTERM)
    assert d.wait(60) == 0


def test_no_log_line_carries_a_payload(daemon, tmp_path):
    """Sentinel payloads in an activity's exception, a decider's exception, a refused
    input and heartbeat details: none reaches the log (JSON and text alike)."""
    d = daemon(POOLS, log_format="json").start().wait_ready()
    failing = d.start_workflow(input={"activity": "Raise", "input": {"message": SENTINEL}})
    assert d.wait_closed(failing, 30)["closeStatus"] == "FAILED"
    reason = [attrs(e) for e in d.history(failing) if e["eventType"] == "ActivityTaskFailed"]
    assert SENTINEL in reason[0]["reason"]  # it went to SWF, beside the payloads

    blocker = tmp_path / f"block-{SENTINEL}"
    blocker.write_text("")
    flaky = d.start_workflow("Flaky", "1", input={"fail_while_exists": str(blocker)})
    wait_for(lambda: "MarkerRecorded" in d.event_types(flaky), 30, message="decider error")
    marker = next(attrs(e) for e in d.history(flaky) if e["eventType"] == "MarkerRecorded")
    assert SENTINEL in marker["details"]
    blocker.unlink()

    undecodable = d.start_workflow(input=f"{{{SENTINEL}", raw=True)
    wait_for(lambda: "MarkerRecorded" in d.event_types(undecodable), 30, message="codec error")
    for run in (flaky, undecodable):
        d.client.terminate_workflow_execution(domain=d.domain, workflowId=run["workflowId"],
                                              runId=run["runId"])
    d.signal(signal.SIGTERM)
    assert d.wait(60) == 0
    text = d.text()
    assert "ValueError" in text and "RuntimeError" in text and "CodecError" in text
    assert SENTINEL not in text
