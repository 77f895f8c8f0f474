"""Durability of the local endpoint run as its own process (``python -m swfd.local`` and
``swfd local``): kill -9 and restart on the same database loses nothing that was
acknowledged; a second endpoint on the same database, or on a taken port, is refused."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time

import botocore.exceptions
import pytest
from conftest import make_boto3_client
from test_local_support import (
    attributes,
    decision,
    find,
    history,
    is_closed,
    poll_activity,
    poll_decision,
    register_activity_type,
    register_workflow_type,
    respond,
    schedule_activity,
    start,
)

from swfd.testing import free_port, wait_for

DOWN = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ReadTimeoutError,
)


class Endpoint:
    """``swfd local`` in a subprocess; ``url`` once it printed its ready line."""

    def __init__(
        self, database: str, port: int, module: str = "swfd.local", extra: tuple = ()
    ) -> None:
        args = [sys.executable, "-m", module] + (["local"] if module == "swfd.cli" else [])
        args += [
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--database",
            database,
            "--poll-timeout",
            "1",
            *extra,
        ]
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.url = ""
        self.errors = ""

    def ready(self, timeout: float = 20.0) -> Endpoint:
        line = self._read_line(timeout)
        match = re.search(r"http://\S+", line)
        assert match, f"no URL in the ready line {line!r}; stderr: {self.stderr()}"
        self.url = match.group(0)
        return self

    def _read_line(self, timeout: float) -> str:
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise AssertionError(f"endpoint not ready after {timeout}s: {self.stderr()}")
        return self.process.stdout.readline()

    def stderr(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        return self.process.stderr.read()

    def kill9(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if not self.process.stderr.closed:
            self.errors += self.process.stderr.read()
        for stream in (self.process.stdout, self.process.stderr):
            stream.close()
        # A traceback means an InternalFailure (or a crash at shutdown): never expected.
        assert "Traceback" not in self.errors and "ERROR" not in self.errors, self.errors
        return self.process.returncode


@pytest.fixture
def endpoints():
    started: list[Endpoint] = []

    def launch(database: str, port: int, module: str = "swfd.local", extra: tuple = ()) -> Endpoint:
        endpoint = Endpoint(database, port, module, extra)
        started.append(endpoint)
        return endpoint

    yield launch
    for endpoint in started:
        endpoint.stop()


def _setup(client) -> str:
    domain = "durable"
    client.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    register_workflow_type(
        client, domain, "W", task_list="decide", defaultTaskStartToCloseTimeout="2"
    )
    register_activity_type(client, domain, "A", task_list="work")
    return domain


def test_tokens_timers_and_executions_survive_kill_9(tmp_path, endpoints):
    database = str(tmp_path / "swf.sqlite3")
    port = free_port()
    first = endpoints(database, port).ready()
    client = make_boto3_client(first.url, read_timeout=10)
    domain = _setup(client)
    execution = start(client, domain, "W")
    task = poll_decision(client, domain, "decide")
    respond(
        client,
        task,
        [schedule_activity("a1", "A"), decision("StartTimer", timerId="t", startToFireTimeout="2")],
    )
    work = poll_activity(client, domain, "work")
    assert work["activityId"] == "a1"
    first.kill9()

    second = endpoints(database, port).ready()
    client = make_boto3_client(second.url, read_timeout=10)
    # The task token handed out before the crash is still good.
    client.respond_activity_task_completed(taskToken=work["taskToken"], result="after crash")
    fired = wait_for(
        lambda: find(history(client, domain, execution), "TimerFired"),
        timeout=15,
        message="the timer started before the crash fires",
    )
    assert attributes(fired[0])["timerId"] == "t"
    events = history(client, domain, execution)
    assert attributes(find(events, "ActivityTaskCompleted")[0])["result"] == "after crash"
    task = poll_decision(client, domain, "decide")
    assert task["taskToken"]
    respond(client, task, [decision("CompleteWorkflowExecution")])
    assert is_closed(client, domain, execution) == "COMPLETED"
    assert second.stop() == 0


ACTIVITIES = ("x0", "x1", "x2")


def _decide(client, domain) -> bool:
    """One decision task of the restart test's workflow; True when it completed one."""
    task = poll_decision(client, domain, "decide")
    if not task.get("taskToken"):
        return False
    state: dict[str, str] = {}
    by_scheduled: dict[int, str] = {}
    for event in task["events"]:
        kind = event["eventType"]
        if kind == "ActivityTaskScheduled":
            activity_id = attributes(event)["activityId"]
            by_scheduled[event["eventId"]] = activity_id
            state[activity_id] = "open"
        elif kind in ("ActivityTaskCompleted", "ActivityTaskTimedOut", "ActivityTaskFailed"):
            activity_id = by_scheduled[attributes(event)["scheduledEventId"]]
            state[activity_id] = "done" if kind == "ActivityTaskCompleted" else "retry"
    if all(state.get(a) == "done" for a in ACTIVITIES):
        decisions = [decision("CompleteWorkflowExecution")]
    else:
        decisions = [
            schedule_activity(
                a,
                "A",
                startToCloseTimeout="2",
                scheduleToStartTimeout="NONE",
                scheduleToCloseTimeout="NONE",
                heartbeatTimeout="NONE",
            )
            for a in ACTIVITIES
            if state.get(a, "retry") == "retry"
        ]
    respond(client, task, decisions)
    return decisions[0]["decisionType"] == "CompleteWorkflowExecution" if decisions else False


def _work(client, domain) -> None:
    task = poll_activity(client, domain, "work")
    if task.get("taskToken"):
        client.respond_activity_task_completed(taskToken=task["taskToken"], result="r")


def test_kill_9_mid_run_then_every_execution_completes(tmp_path, endpoints):
    database = str(tmp_path / "swf.sqlite3")
    port = free_port()
    first = endpoints(database, port, module="swfd.cli").ready()  # via `swfd local`
    url = first.url
    client = make_boto3_client(url, read_timeout=10)
    domain = _setup(client)
    executions = [start(client, domain, "W") for _ in range(40)]
    stop = threading.Event()
    killed = threading.Event()
    completions: list[int] = []
    problems: list[str] = []

    def loop(step) -> None:
        own = make_boto3_client(url, read_timeout=10)
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                if step(own, domain):
                    completions.append(1)
                    # Hold the decider after two completions until the crash, so the
                    # crash surely comes mid-run (workers keep going meanwhile).
                    if len(completions) == 2:
                        killed.wait(30)
            except DOWN:
                time.sleep(0.1)  # the endpoint is restarting: retry shortly
            except botocore.exceptions.ClientError as exc:
                code = exc.response["Error"]["Code"]
                if code != "UnknownResourceFault":  # a task lost in the crash timed out
                    problems.append(repr(exc))

    threads = [
        threading.Thread(target=loop, args=(step,), daemon=True) for step in (_decide, _work, _work)
    ]
    for thread in threads:
        thread.start()
    try:
        wait_for(
            lambda: len(completions) >= 2,
            timeout=30,
            interval=0.01,
            message="two executions complete before the crash",
        )
        first.kill9()
        killed.set()
        second = endpoints(database, port).ready()
        assert second.url == url
        wait_for(
            lambda: all(is_closed(client, domain, e) for e in executions),
            timeout=45,
            message="every execution completes after the restart",
        )
    finally:
        killed.set()
        stop.set()
        for thread in threads:
            thread.join(10)
    assert len(completions) >= len(executions) - 1  # one may have landed unacknowledged
    assert problems == []
    assert {is_closed(client, domain, e) for e in executions} == {"COMPLETED"}


def test_second_endpoint_on_same_database_is_refused(tmp_path, endpoints):
    database = str(tmp_path / "swf.sqlite3")
    first = endpoints(database, free_port()).ready()
    second = endpoints(database, free_port())
    assert second.process.wait(20) == 2
    message = second.process.stderr.read()
    assert database in message and "in use" in message
    # The first one is unaffected.
    make_boto3_client(first.url).list_domains(registrationStatus="REGISTERED")


def test_taken_port_is_refused(tmp_path, endpoints):
    port = free_port()
    endpoints(str(tmp_path / "a.sqlite3"), port).ready()
    other = endpoints(str(tmp_path / "b.sqlite3"), port)
    assert other.process.wait(20) == 2
    message = other.process.stderr.read()
    assert str(port) in message and "already in use" in message


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_cleanly_and_state_persists(tmp_path, endpoints, signum):
    database = str(tmp_path / "swf.sqlite3")
    endpoint = endpoints(database, free_port()).ready()
    client = make_boto3_client(endpoint.url)
    client.register_domain(name="d", workflowExecutionRetentionPeriodInDays="1")
    endpoint.process.send_signal(signum)
    assert endpoint.process.wait(10) == 0
    assert endpoint.stop() == 0
    again = endpoints(database, free_port()).ready()
    assert make_boto3_client(again.url).describe_domain(name="d")["domainInfo"]["name"] == "d"


def test_debug_logs_each_request(tmp_path, endpoints):
    endpoint = endpoints(str(tmp_path / "swf.sqlite3"), free_port(), extra=("--debug",)).ready()
    make_boto3_client(endpoint.url).list_domains(registrationStatus="REGISTERED")
    assert endpoint.stop() == 0
    assert '"POST / HTTP/1.1" 200' in endpoint.errors
    assert "botocore" not in endpoint.errors  # only the endpoint's own lines
