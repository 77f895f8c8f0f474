"""The local endpoint as the supervisor runs it (``python -m swfd.local`` with
``--ready-fd``, ``--lifeline-fd``, ``--wait-for-lock``, ``--orphan-timeout``):
readiness on a pipe, waiting for a predecessor's database lock, and orphan mode
when the supervisor's lifeline closes. Real subprocesses, plain boto3 or raw
HTTP over loopback; every wait has a deadline."""

from __future__ import annotations

import gc
import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from conftest import make_boto3_client
from test_local_support import (
    event_types,
    find,
    history,
    poll_activity,
    poll_decision,
    register_activity_type,
    register_workflow_type,
    respond,
    schedule_activity,
    start,
)

from swfd.local.server import LocalEndpoint
from swfd.testing import free_port, wait_for

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

TARGET = "SimpleWorkflowService."


class Embedded:
    """``python -m swfd.local`` started the way the supervisor starts it."""

    def __init__(self, tmp_path, database: str, port: int, *, lifeline: bool = True,
                 poll_timeout: float = 2.0, extra: tuple = ()) -> None:
        ready_r, ready_w = os.pipe()
        self.ready_r = ready_r
        self.database = database
        self.lifeline_w: int | None = None
        passed = [ready_w]
        args = [
            sys.executable, "-m", "swfd.local",
            "--host", "127.0.0.1", "--port", str(port), "--database", database,
            "--poll-timeout", str(poll_timeout), "--ready-fd", str(ready_w),
            "--log-format", "json", "--log-level", "INFO",
        ]
        life_r = None
        if lifeline:
            life_r, self.lifeline_w = os.pipe()
            passed.append(life_r)
            args += ["--lifeline-fd", str(life_r)]
        args += list(extra)
        self.stderr_path = tmp_path / f"endpoint-{port}-{len(os.listdir(tmp_path))}.log"
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                args, pass_fds=passed, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        os.close(ready_w)
        if life_r is not None:
            os.close(life_r)
        self._report = b""
        self._report_done = False
        self.url = ""

    def report(self, timeout: float = 20.0) -> str:
        """Everything written to the ready pipe, once the endpoint closed it."""
        deadline = time.monotonic() + timeout
        while not self._report_done:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no ready line after {timeout}s: {self.stderr()}")
            if select.select([self.ready_r], [], [], left)[0]:
                chunk = os.read(self.ready_r, 4096)
                self._report += chunk
                self._report_done = not chunk
        return self._report.decode()

    def report_pending(self, within: float) -> bool:
        """True when nothing at all reaches the ready pipe within ``within`` seconds."""
        return not select.select([self.ready_r], [], [], within)[0]

    def ready(self, timeout: float = 20.0) -> Embedded:
        line = self.report(timeout)
        assert line.startswith("ready http://") and line.endswith("\n"), (line, self.stderr())
        assert line.count("\n") == 1, line
        self.url = line.split()[1]
        return self

    def close_lifeline(self) -> None:
        if self.lifeline_w is not None:
            os.close(self.lifeline_w)
            self.lifeline_w = None

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def log_records(self) -> list[dict]:
        return [json.loads(line) for line in self.stderr().splitlines() if line.strip()]

    def cleanup(self) -> None:
        if self.process.poll() is None:
            self.process.kill()  # by pid: only this test's process
            self.process.wait(10)
        self.close_lifeline()
        try:
            os.close(self.ready_r)
        except OSError:
            pass


@pytest.fixture
def embedded(tmp_path):
    started: list[Embedded] = []

    def launch(database: str | None = None, port: int | None = None, **options) -> Embedded:
        endpoint = Embedded(tmp_path, database or str(tmp_path / "swf.sqlite3"),
                            port if port is not None else free_port(), **options)
        started.append(endpoint)
        return endpoint

    try:
        yield launch
    finally:
        for endpoint in started:
            endpoint.cleanup()


def _raw_call(connection: http.client.HTTPConnection, operation: str, body: dict) -> tuple:
    """One SWF call on a raw keep-alive connection: (status, decoded body)."""
    send_call(connection, operation, body)
    return read_answer(connection)


def send_call(connection, operation: str, body: dict) -> None:
    connection.request("POST", "/", body=json.dumps(body).encode(), headers={
        "X-Amz-Target": TARGET + operation, "Content-Type": "application/x-amz-json-1.0",
    })


def read_answer(connection) -> tuple:
    response = connection.getresponse()
    data = response.read()
    return response.status, (json.loads(data) if data else {})


def _server_has_read(port: int, client_port: int) -> bool:
    """True once the endpoint's side of the connection from ``client_port`` has nothing
    left to read (its receive queue in /proc/net/tcp is empty): the request is in."""
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            if (int(local.split(":")[1], 16) == port and int(remote.split(":")[1], 16)
                    == client_port and state == "01"):
                return int(fields[4].split(":")[1], 16) == 0
    return False


# -- readiness ----------------------------------------------------------------------


def test_ready_line_names_the_url_and_signals_int_quit_are_ignored(embedded):
    port = free_port()
    endpoint = embedded(port=port).ready()
    assert endpoint.report() == f"ready http://127.0.0.1:{port}\n"
    client = make_boto3_client(endpoint.url, read_timeout=10)
    client.register_domain(name="ready", workflowExecutionRetentionPeriodInDays="1")
    # With a lifeline, a terminal's ^C (or ^\) does not stop it: the supervisor does, with TERM.
    endpoint.process.send_signal(signal.SIGINT)
    endpoint.process.send_signal(signal.SIGQUIT)
    assert client.describe_domain(name="ready")["domainInfo"]["name"] == "ready"
    assert endpoint.process.poll() is None
    client.close()
    sent = time.monotonic()
    endpoint.process.send_signal(signal.SIGTERM)
    assert endpoint.process.wait(10) == 0
    assert time.monotonic() - sent < 2
    records = endpoint.log_records()
    assert all(record["pool"] == "endpoint" for record in records), records
    assert any(f"listening at {endpoint.url}" in record["message"] for record in records)
    assert not [record for record in records if record["level"] in ("WARNING", "ERROR")]


def test_port_in_use_is_an_error_line_and_nothing_connects_to_it(embedded):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(8)
        port = taken.getsockname()[1]
        endpoint = embedded(port=port)
        assert endpoint.report() == (
            f"error cannot listen on 127.0.0.1:{port}: the port is already in use\n"
        )
        assert endpoint.process.wait(20) == 2
        taken.setblocking(False)
        with pytest.raises(BlockingIOError):
            taken.accept()  # readiness never came from a TCP connect
    # It let go of the database on its way out.
    LocalEndpoint(database=endpoint.database, poll_timeout=1.0).start().stop()


def test_bad_arguments_are_an_error_line(embedded, tmp_path):
    endpoint = embedded(extra=("--orphan-timeout", "-1"))
    assert endpoint.report() == "error --orphan-timeout must be >= 0, got -1.0\n"
    assert endpoint.process.wait(20) == 2
    endpoint = embedded(extra=("--wait-for-lock", "soon"))
    line = endpoint.report()
    assert line.startswith("error ") and "--wait-for-lock" in line and line.count("\n") == 1
    assert endpoint.process.wait(20) == 2


def test_unreadable_database_is_an_error_line_naming_the_file(embedded, tmp_path):
    database = tmp_path / "foreign.sqlite3"
    database.write_bytes(b"this is not an SQLite database, not at all" * 100)
    endpoint = embedded(database=str(database))
    line = endpoint.report()
    assert line.startswith(f"error database {database}: not an SQLite database"), line
    assert "restore it from a backup" in line and "swfd local --check" in line
    assert line.count("\n") == 1, line
    assert endpoint.process.wait(20) == 2


# -- waiting for the database lock --------------------------------------------------


def test_successor_waits_for_the_lock_then_serves_on_the_same_port(embedded, tmp_path):
    database = str(tmp_path / "swf.sqlite3")
    port = free_port()
    first = embedded(database, port).ready()
    client = make_boto3_client(first.url, read_timeout=10)
    client.register_domain(name="kept", workflowExecutionRetentionPeriodInDays="1")
    client.close()

    refused = embedded(database, port)  # no --wait-for-lock: refused at once
    line = refused.report()
    assert line.startswith(f"error cannot open {database}: ") and "in use" in line, line
    assert f"pid {first.process.pid}" in line
    assert refused.process.wait(20) == 2

    successor = embedded(database, port, extra=("--wait-for-lock", "20"))
    assert successor.report_pending(within=1.0)
    assert successor.process.poll() is None
    first.process.send_signal(signal.SIGTERM)
    assert first.process.wait(10) == 0
    successor.ready()
    assert successor.url == first.url
    client = make_boto3_client(successor.url, read_timeout=10)
    assert client.describe_domain(name="kept")["domainInfo"]["status"] == "REGISTERED"
    client.close()
    info = [r["message"] for r in successor.log_records() if r["level"] == "INFO"]
    assert any("waiting up to 20s" in message for message in info), info


def test_port_in_use_while_the_lock_was_free_fails_at_once(embedded, tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        started = time.monotonic()
        endpoint = embedded(port=port, extra=("--wait-for-lock", "20"))
        assert "the port is already in use" in endpoint.report()
        assert endpoint.process.wait(20) == 2
        assert time.monotonic() - started < 10  # never waited 20 s


# -- orphan mode --------------------------------------------------------------------


def _setup(client) -> str:
    domain = "orphan"
    client.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    register_workflow_type(client, domain, "W", task_list="decide")
    register_activity_type(client, domain, "A", task_list="work")
    return domain


def test_orphan_hands_out_nothing_serves_the_rest_and_exits_when_clients_are_gone(
    embedded, tmp_path
):
    database = str(tmp_path / "swf.sqlite3")
    # Polls wait 30 s: a poll answered within a second was answered by orphan mode.
    endpoint = embedded(database, poll_timeout=30.0).ready()
    port = int(endpoint.url.rsplit(":", 1)[1])
    decider = make_boto3_client(endpoint.url, read_timeout=60)
    worker = make_boto3_client(endpoint.url, read_timeout=60)
    domain = _setup(decider)
    execution = start(decider, domain, "W")
    respond(decider, poll_decision(decider, domain, "decide"), [schedule_activity("a1", "A")])
    in_hand = poll_activity(worker, domain, "work")
    assert in_hand["activityId"] == "a1"
    # A decision task in hand too (a signal made one): it schedules a2 after the lifeline closed.
    decider.signal_workflow_execution(domain=domain, signalName="more", **execution)
    decision_in_hand = poll_decision(decider, domain, "decide")
    assert decision_in_hand.get("taskToken")

    # A long poll waiting on an empty task list, on its own connection.
    waiting = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    waiting.connect()
    send_call(waiting, "PollForActivityTask",
              {"domain": domain, "taskList": {"name": "empty"}, "identity": "waiter"})
    wait_for(lambda: _server_has_read(port, waiting.sock.getsockname()[1]), timeout=10,
             message="the endpoint read the long poll")
    answered: list = []
    poller = threading.Thread(
        target=lambda: answered.append((read_answer(waiting), time.monotonic())), daemon=True
    )
    poller.start()

    closed_at = time.monotonic()
    endpoint.close_lifeline()
    poller.join(10)
    assert answered, "the waiting poll was not answered"
    (status, body), when = answered[0]
    assert status == 200 and not body.get("taskToken"), body
    assert when - closed_at < 1.5

    # Everything but handing out tasks is served: the decision task in hand schedules a2 ...
    respond(decider, decision_in_hand, [schedule_activity("a2", "A")])
    # ... and nobody receives it, nor a new decision task.
    asked = time.monotonic()
    assert not poll_activity(worker, domain, "work").get("taskToken")
    assert time.monotonic() - asked < 1.5
    decider.signal_workflow_execution(domain=domain, signalName="again", **execution)
    asked = time.monotonic()
    assert not decider.poll_for_decision_task(
        domain=domain, taskList={"name": "decide"}, identity="late").get("taskToken")
    assert time.monotonic() - asked < 1.5
    assert decider.count_pending_activity_tasks(
        domain=domain, taskList={"name": "work"})["count"] == 1
    events = history(decider, domain, execution)
    a2 = [e for e in find(events, "ActivityTaskScheduled")
          if e["activityTaskScheduledEventAttributes"]["activityId"] == "a2"]
    assert len(a2) == 1
    started_for = [e["activityTaskStartedEventAttributes"]["scheduledEventId"]
                   for e in find(events, "ActivityTaskStarted")]
    assert a2[0]["eventId"] not in started_for
    assert event_types(events)[-1] == "DecisionTaskScheduled"  # after "again": not started
    counts = decider.describe_workflow_execution(
        domain=domain, execution=execution)["openCounts"]
    assert counts["openActivityTasks"] == 2 and counts["openDecisionTasks"] == 1

    # The worker answers the task it holds.
    assert worker.record_activity_task_heartbeat(
        taskToken=in_hand["taskToken"], details="nearly")["cancelRequested"] is False
    worker.respond_activity_task_completed(taskToken=in_hand["taskToken"], result="done")
    assert find(history(decider, domain, execution), "ActivityTaskCompleted")

    # Once every client has closed its connections, it stops by itself, cleanly.
    assert endpoint.process.poll() is None
    waiting.close()
    decider.close()
    worker.close()
    del decider, worker
    gc.collect()
    gone = time.monotonic()
    assert endpoint.process.wait(10) == 0
    assert time.monotonic() - gone < 5
    records = endpoint.log_records()
    warnings = [r for r in records if r["level"] == "WARNING"]
    assert len(warnings) == 1 and "lifeline" in warnings[0]["message"], warnings
    assert not [r for r in records if r["level"] in ("ERROR", "CRITICAL")], records

    # The database was released, and a2 waits there for the next endpoint.
    with LocalEndpoint(database=database, poll_timeout=1.0) as successor:
        client = make_boto3_client(successor.url, read_timeout=10)
        task = poll_activity(client, domain, "work")
        assert task["activityId"] == "a2"
        client.close()


def test_orphan_exits_at_the_orphan_timeout_with_an_idle_keep_alive_connection(embedded):
    endpoint = embedded(extra=("--orphan-timeout", "3")).ready()
    port = int(endpoint.url.rsplit(":", 1)[1])
    idle = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        status, body = _raw_call(idle, "ListDomains", {"registrationStatus": "REGISTERED"})
        assert status == 200 and body == {"domainInfos": []}
        closed_at = time.monotonic()
        endpoint.close_lifeline()
        assert endpoint.process.wait(15) == 0
        elapsed = time.monotonic() - closed_at
        assert 2.5 <= elapsed < 8, elapsed
        # The connection was closed by the endpoint, not by this test.
        idle.sock.settimeout(5)
        assert idle.sock.recv(1) == b""
    finally:
        idle.close()


def test_orphan_with_no_client_exits_within_seconds(embedded):
    endpoint = embedded().ready()
    closed_at = time.monotonic()
    endpoint.close_lifeline()
    assert endpoint.process.wait(15) == 0
    assert time.monotonic() - closed_at < 5


def test_without_a_lifeline_sigint_still_stops_it(embedded):
    endpoint = embedded(lifeline=False).ready()
    endpoint.process.send_signal(signal.SIGINT)
    assert endpoint.process.wait(10) == 0


def test_lock_wait_times_out_naming_the_database(embedded, tmp_path):
    database = str(tmp_path / "swf.sqlite3")
    first = embedded(database).ready()
    started = time.monotonic()
    second = embedded(database, extra=("--wait-for-lock", "1"))
    line = second.report()
    assert line.startswith(f"error cannot open {database}: ") and "waited 1s" in line, line
    assert second.process.wait(20) == 2
    assert time.monotonic() - started >= 1
    assert first.process.poll() is None

