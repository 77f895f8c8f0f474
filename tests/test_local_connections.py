"""The local endpoint's connections: the watch on waiting polls, and HTTP hygiene.

A poll whose client is gone (kill -9, a closed socket) is withdrawn before a
task is assigned to it; a second request on a connection whose poll is
outstanding (forked processes sharing one socket) closes that connection;
``aws_faithful`` turns the watch off, as AWS behaves. Then: header and idle
timeouts, the connection cap (ThrottlingException), TCP keepalive,
Transfer-Encoding and non-UTF-8 bodies, and connection resets that never
reach stderr as a traceback. Real sockets, real processes, plain boto3.
"""

from __future__ import annotations

import json
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import botocore.exceptions
import pytest
from conftest import make_boto3_client
from test_local_support import (  # noqa: F401 (no_internal_failures is autouse)
    attributes,
    find,
    history,
    no_internal_failures,
    poll_activity,
    poll_decision,
    register_activity_type,
    register_workflow_type,
    respond,
    schedule_activity,
    start,
    unique,
)

from swfd.local.connections import CLEAN, DATA, GONE, PollWatch, peek
from swfd.local.server import LocalEndpoint
from swfd.testing import wait_for

TARGET = "SimpleWorkflowService."


@pytest.fixture
def endpoint_factory(tmp_path):
    started: list[LocalEndpoint] = []

    def launch(**options) -> LocalEndpoint:
        options.setdefault("poll_timeout", 30.0)
        endpoint = LocalEndpoint(database=str(tmp_path / f"swf{len(started)}.sqlite3"),
                                 **options).start()
        started.append(endpoint)
        return endpoint

    yield launch
    for endpoint in started:
        endpoint.stop()


def _setup(client) -> str:
    domain = unique("conn")
    client.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    register_workflow_type(client, domain, "W", task_list="decide")
    register_activity_type(client, domain, "A", task_list="work")
    return domain


def _waiting(endpoint, kind: str, domain: str, task_list: str) -> int:
    return len(endpoint.engine.queues.get(kind, domain, task_list).cond._waiters)


def _wait_polls(endpoint, kind, domain, task_list, count=1) -> None:
    wait_for(lambda: _waiting(endpoint, kind, domain, task_list) == count, timeout=15,
             interval=0.01, message=f"{count} poll(s) waiting on {task_list}")


def _raw_request(operation: str, body: dict) -> bytes:
    data = json.dumps(body).encode()
    return (f"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: {TARGET}{operation}\r\n"
            f"Content-Type: application/x-amz-json-1.0\r\nContent-Length: {len(data)}\r\n\r\n"
            ).encode() + data


def _read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection (bounded)."""
    received = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not select.select([sock], [], [], deadline - time.monotonic())[0]:
            break
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"connection still open after {timeout}s; got {received[:200]!r}")


_DOOMED_POLLER = """
import boto3, sys
from botocore.config import Config
client = boto3.client("swf", endpoint_url=sys.argv[1], region_name="us-east-1",
                      aws_access_key_id="k", aws_secret_access_key="s",
                      config=Config(read_timeout=70, retries={"total_max_attempts": 1}))
poll = getattr(client, sys.argv[4])
print(poll(domain=sys.argv[2], taskList={"name": sys.argv[3]}, identity="doomed"), flush=True)
"""


def _doomed_poller(endpoint, domain, task_list, method) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _DOOMED_POLLER, endpoint.url, domain,
                             task_list, method], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


# -- the watch on waiting polls ---------------------------------------------------------


def test_kill_9_of_a_waiting_activity_poller_then_a_live_poller_gets_the_task(
        endpoint_factory):
    endpoint = endpoint_factory()
    client = make_boto3_client(endpoint.url)
    domain = _setup(client)
    execution = start(client, domain, "W")
    task = poll_decision(client, domain, "decide")
    doomed = _doomed_poller(endpoint, domain, "work", "poll_for_activity_task")
    try:
        _wait_polls(endpoint, "A", domain, "work")
        doomed.send_signal(signal.SIGKILL)  # by pid: the process this test started
        doomed.wait(10)
        answer: dict = {}

        def live() -> None:
            answer["task"] = make_boto3_client(endpoint.url).poll_for_activity_task(
                domain=domain, taskList={"name": "work"}, identity="live")
            answer["at"] = time.monotonic()

        poller = threading.Thread(target=live)
        poller.start()
        wait_for(lambda: _waiting(endpoint, "A", domain, "work") >= 1, timeout=10,
                 interval=0.01, message="the live poll waiting")
        scheduled = time.monotonic()
        respond(client, task, [schedule_activity("a1", "A")])
        poller.join(10)
        assert answer["task"]["activityId"] == "a1"
        assert answer["at"] - scheduled < 1.0
        started = find(history(client, domain, execution), "ActivityTaskStarted")
        assert [attributes(e)["identity"] for e in started] == ["live"]
    finally:
        if doomed.poll() is None:
            doomed.kill()
            doomed.wait(10)


def test_kill_9_of_a_waiting_decider_then_its_task_goes_to_the_next_poller(endpoint_factory):
    endpoint = endpoint_factory()
    client = make_boto3_client(endpoint.url)
    domain = _setup(client)
    doomed = _doomed_poller(endpoint, domain, "decide", "poll_for_decision_task")
    try:
        _wait_polls(endpoint, "D", domain, "decide")
        doomed.kill()
        doomed.wait(10)
        # The watcher withdraws the dead poll on its own, before any task exists.
        wait_for(lambda: _waiting(endpoint, "D", domain, "decide") == 0, timeout=5,
                 interval=0.01, message="the dead poll withdrawn")
        execution = start(client, domain, "W")
        t0 = time.monotonic()
        task = poll_decision(client, domain, "decide")
        assert task["taskToken"] and time.monotonic() - t0 < 1.0
        started = find(history(client, domain, execution), "DecisionTaskStarted")
        assert [attributes(e)["identity"] for e in started] == ["test-decider"]
    finally:
        if doomed.poll() is None:
            doomed.kill()
            doomed.wait(10)


def test_a_second_request_on_a_polling_connection_closes_it_and_loses_nothing(
        endpoint_factory):
    endpoint = endpoint_factory()
    client = make_boto3_client(endpoint.url)
    domain = _setup(client)
    execution = start(client, domain, "W")
    task = poll_decision(client, domain, "decide")
    shared = socket.create_connection(("127.0.0.1", endpoint.port), timeout=10)
    try:
        shared.sendall(_raw_request("PollForActivityTask",
                                    {"domain": domain, "taskList": {"name": "work"},
                                     "identity": "sibling-a"}))
        _wait_polls(endpoint, "A", domain, "work")
        # The forked sibling's request, on the same socket: SWF over TLS would break it.
        shared.sendall(_raw_request("ListDomains", {"registrationStatus": "REGISTERED"}))
        assert _read_until_closed(shared, 5) == b""  # neither gets the other's answer
    finally:
        shared.close()
    wait_for(lambda: _waiting(endpoint, "A", domain, "work") == 0, timeout=5, interval=0.01,
             message="the poll withdrawn")
    respond(client, task, [schedule_activity("a1", "A")])
    assert poll_activity(client, domain, "work", identity="fresh")["activityId"] == "a1"
    started = find(history(client, domain, execution), "ActivityTaskStarted")
    assert [attributes(e)["identity"] for e in started] == ["fresh"]


def test_aws_faithful_hands_the_task_to_the_vanished_poller_and_it_times_out(
        endpoint_factory):
    """As on SWF: with the watch off a poll whose client went away still gets the task;
    it is never requeued, and times out."""
    endpoint = endpoint_factory(aws_faithful=True)
    client = make_boto3_client(endpoint.url)
    domain = _setup(client)
    execution = start(client, domain, "W")
    task = poll_decision(client, domain, "decide")
    dead = socket.create_connection(("127.0.0.1", endpoint.port), timeout=5)
    dead.sendall(_raw_request("PollForActivityTask", {"domain": domain,
                                                      "taskList": {"name": "work"}}))
    _wait_polls(endpoint, "A", domain, "work")
    dead.close()
    respond(client, task, [schedule_activity("lost", "A", startToCloseTimeout="1")])
    events = wait_for(
        lambda: (find(history(client, domain, execution), "ActivityTaskTimedOut")
                 and history(client, domain, execution)),
        timeout=10, message="the lost task times out")
    assert attributes(find(events, "ActivityTaskTimedOut")[0])["timeoutType"] == "START_TO_CLOSE"
    assert len(find(events, "ActivityTaskStarted")) == 1
    assert "taskToken" not in poll_activity(client, domain, "work")


def test_assignment_checks_the_socket_under_the_lock():
    """PollWatch.assign, the last check before a task is assigned: a closed peer or a
    pending request means no assignment (and the latter shuts the connection)."""
    for action, verdict, assigned in (("nothing", CLEAN, True), ("close", GONE, False),
                                      ("send", DATA, False)):
        ours, theirs = socket.socketpair()
        try:
            ours.settimeout(None)  # as the handler's socket: blocking; the check must not block
            if action == "close":
                theirs.close()
            elif action == "send":
                theirs.sendall(b"POST")
            assert peek(ours) == verdict
            watch = PollWatch(ours)
            t0 = time.monotonic()
            assert watch.assign() is assigned
            assert time.monotonic() - t0 < 1
            assert watch.broken is (action == "send")
            assert watch.assign() is False  # once only
        finally:
            ours.close()
            theirs.close()


# -- HTTP hygiene -------------------------------------------------------------------------


def test_a_slow_request_head_is_cut_at_the_header_timeout(endpoint_factory):
    endpoint = endpoint_factory(header_timeout=0.5)
    sock = socket.create_connection(("127.0.0.1", endpoint.port), timeout=10)
    try:
        t0 = time.monotonic()
        sock.sendall(b"POST / HTTP/1.1\r\n")
        closed = False
        for i in range(100):  # slowloris: a header byte at a time, each within the timeout
            if select.select([sock], [], [], 0.1)[0]:
                closed = not sock.recv(65536)
                break
            try:
                sock.sendall(b"X-A: " if i % 2 == 0 else b"b\r\n")
            except OSError:
                closed = True
                break
        assert closed
        assert 0.4 < time.monotonic() - t0 < 3.0
    finally:
        sock.close()


def test_an_idle_keep_alive_connection_is_closed_but_a_long_poll_is_not(endpoint_factory):
    endpoint = endpoint_factory(idle_timeout=1.0, poll_timeout=2.0)
    client = make_boto3_client(endpoint.url)
    domain = _setup(client)
    sock = socket.create_connection(("127.0.0.1", endpoint.port), timeout=10)
    try:
        t0 = time.monotonic()
        sock.sendall(_raw_request("PollForActivityTask", {"domain": domain,
                                                          "taskList": {"name": "idle"}}))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(65536)
            assert chunk, "the poll was cut"
            head += chunk
        assert head.startswith(b"HTTP/1.1 200") and time.monotonic() - t0 >= 1.8
        t1 = time.monotonic()
        _read_until_closed(sock, 5)
        assert 0.9 <= time.monotonic() - t1 < 3.0
    finally:
        sock.close()


def test_beyond_the_connection_cap_a_retryable_throttling_error(endpoint_factory):
    endpoint = endpoint_factory(max_connections=2)
    held = [socket.create_connection(("127.0.0.1", endpoint.port), timeout=10)
            for _ in range(2)]
    try:
        wait_for(lambda: len(endpoint._server._connections) == 2, timeout=5, interval=0.01,
                 message="2 connections held")
        client = make_boto3_client(endpoint.url)
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            client.list_domains(registrationStatus="REGISTERED")
        error = caught.value.response["Error"]
        assert (error["Code"], error["Message"]) == ("ThrottlingException", "Rate exceeded")
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        held.pop().close()
        wait_for(lambda: len(endpoint._server._connections) < 2, timeout=5, interval=0.01,
                 message="a connection freed")
        assert "domainInfos" in make_boto3_client(endpoint.url).list_domains(
            registrationStatus="REGISTERED")
    finally:
        for sock in held:
            sock.close()


def test_accepted_sockets_have_tcp_keepalive(endpoint_factory):
    endpoint = endpoint_factory()
    sock = socket.create_connection(("127.0.0.1", endpoint.port), timeout=10)
    try:
        accepted = wait_for(lambda: list(endpoint._server._connections), timeout=5,
                            interval=0.01, message="the connection accepted")[0]
        assert accepted.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        if hasattr(socket, "TCP_KEEPIDLE"):
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 15
    finally:
        sock.close()


@pytest.mark.parametrize("headers", [
    "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
    "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
    "Transfer-Encoding: chunked\r\n",
])
def test_transfer_encoding_is_refused_and_the_connection_closed(endpoint_factory, headers):
    endpoint = endpoint_factory()
    sock = socket.create_connection(("127.0.0.1", endpoint.port), timeout=10)
    try:
        sock.sendall(f"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: {TARGET}ListDomains\r\n"
                     f"{headers}\r\n5\r\n{{}}\r\n0\r\n\r\n".encode())
        answer = _read_until_closed(sock, 5)
    finally:
        sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"Connection: close" in head
    assert json.loads(body)["__type"].endswith("#SerializationException")
    assert "Transfer-Encoding" in json.loads(body)["message"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "latin-1"])
def test_a_body_that_is_not_utf8_is_a_serialization_exception(endpoint_factory, encoding):
    endpoint = endpoint_factory()
    body = json.dumps({"registrationStatus": "REGISTERED", "x": "é"},
                      ensure_ascii=False).encode(encoding)
    sock = socket.create_connection(("127.0.0.1", endpoint.port), timeout=10)
    try:
        sock.sendall(f"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: {TARGET}ListDomains\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        answer = b""
        while b"}" not in answer:
            chunk = sock.recv(65536)
            assert chunk
            answer += chunk
    finally:
        sock.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    fault = json.loads(payload)
    assert fault["__type"].endswith("#SerializationException") and "UTF-8" in fault["message"]


def test_connection_resets_never_print_a_traceback(tmp_path):
    """A client that resets its keep-alive connection (mid-head, or idle) is a DEBUG line at
    most: stderr holds only swfd's JSON log lines, never socketserver's raw traceback."""
    from swfd.testing import free_port

    port = free_port()
    stderr_path = tmp_path / "endpoint.log"
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "swfd.local", "--port", str(port), "--database",
             str(tmp_path / "swf.sqlite3"), "--log-format", "json", "--log-level", "DEBUG"],
            stdout=subprocess.PIPE, stderr=stderr)
    try:
        assert b"ready at" in proc.stdout.readline()
        client = make_boto3_client(f"http://127.0.0.1:{port}")
        client.list_domains(registrationStatus="REGISTERED")
        for partial in (b"", b"POST / HTTP/1.1\r\nX-Amz-Target: x", b"GET"):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(_raw_request("ListDomains", {"registrationStatus": "REGISTERED"}))
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            if partial:
                sock.sendall(partial)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # RST
        assert "domainInfos" in client.list_domains(registrationStatus="REGISTERED")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        proc.stdout.close()
    lines = stderr_path.read_text().splitlines()
    assert lines, "no log lines at all"
    records = [json.loads(line) for line in lines]  # every line is one JSON record
    assert not [r for r in records if r["level"] in ("WARNING", "ERROR")], records
    assert "Traceback" not in stderr_path.read_text()
