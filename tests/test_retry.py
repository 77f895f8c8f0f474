"""swfd.swf.retry: the retry policy, through a real boto3 client and a fault-injecting server.

``FaultServer`` speaks SWF's JSON 1.0 protocol over HTTP/1.1 on 127.0.0.1 and
answers each request with the next scripted response (an SWF fault, a 5xx, a
dropped connection, a hang), then with success. The backoff never sleeps for
real: tests pass a RetryPolicy whose sleep records the waits and advances a
fake clock.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)

from swfd.swf.client import EMBEDDED_CREDENTIALS, make_client
from swfd.swf.retry import RetryPolicy, call, is_retryable, taken_as_done
from swfd.testing import free_port

# --------------------------------------------------------------------------- fault server


def fault(code: str, status: int = 400) -> tuple:
    return ("json", status, {"__type": f"com.amazonaws.swf.base.model#{code}",
                             "message": f"injected {code}"})


THROTTLE = fault("ThrottlingException")
INTERNAL = fault("InternalFailure", 500)
UNAVAILABLE = fault("ServiceUnavailable", 503)
BARE_502 = ("raw", 502, b"<html>bad gateway</html>")
LIMIT = fault("LimitExceededFault")
VALIDATION = fault("ValidationException")
UNKNOWN = fault("UnknownResourceFault")
NOT_PERMITTED = fault("OperationNotPermittedFault")
DROP = ("drop",)
HANG = ("hang",)

SUCCESS = {
    "StartWorkflowExecution": {"runId": "run-1"},
    "PollForActivityTask": {"taskToken": "token-1", "activityId": "a1", "startedEventId": 5,
                            "workflowExecution": {"workflowId": "w", "runId": "r"},
                            "activityType": {"name": "A", "version": "1"}},
    "PollForDecisionTask": {"taskToken": "", "startedEventId": 0, "events": []},
    "RecordActivityTaskHeartbeat": {"cancelRequested": False},
}


class FaultServer:
    """A JSON 1.0 SWF stand-in on loopback that plays a script of responses."""

    def __init__(self, port: int = 0):
        self.script: deque = deque()
        self.requests: list[dict] = []
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # header and body are separate writes

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
                server.requests.append({"operation": operation, "body": body,
                                        "authorization": self.headers.get("Authorization", "")})
                action = server.script.popleft() if server.script else None
                if action is None:
                    self.reply(200, json.dumps(SUCCESS.get(operation, {})).encode())
                elif action[0] == "json":
                    self.reply(action[1], json.dumps(action[2]).encode())
                elif action[0] == "raw":
                    self.reply(action[1], action[2], "text/html")
                elif action[0] == "drop":
                    self.close_connection = True
                elif action[0] == "hang":
                    server.release.wait(10)
                    self.close_connection = True

            def reply(self, status, payload, content_type="application/x-amz-json-1.0"):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("x-amzn-RequestId", "req-1")
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def play(self, *actions) -> FaultServer:
        self.script.extend(actions)
        return self

    def operations(self) -> list[str]:
        return [request["operation"] for request in self.requests]

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


class FakeTime:
    """A RetryPolicy's clock and sleep: sleeping advances the clock, instantly."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def policy(self, **kwargs) -> RetryPolicy:
        return RetryPolicy(sleep=self.sleep, clock=self.clock, **kwargs)


@pytest.fixture
def server():
    fault_server = FaultServer()
    yield fault_server
    fault_server.close()


@pytest.fixture
def fake_time():
    return FakeTime()


def client_for_url(url: str, read_timeout: float = 5.0):
    return make_client(url, "us-east-1", credentials=EMBEDDED_CREDENTIALS,
                       read_timeout=read_timeout, connect_timeout=2.0)


@pytest.fixture
def client(server):
    return client_for_url(server.url)


PARAMS = {
    "PollForActivityTask": {"domain": "d", "taskList": {"name": "default"}, "identity": "me"},
    "PollForDecisionTask": {"domain": "d", "taskList": {"name": "default"}, "identity": "me"},
    "RespondActivityTaskCompleted": {"taskToken": "t", "result": "done"},
    "RespondActivityTaskFailed": {"taskToken": "t", "reason": "r"},
    "RespondActivityTaskCanceled": {"taskToken": "t"},
    "RespondDecisionTaskCompleted": {"taskToken": "t", "decisions": []},
    "RecordActivityTaskHeartbeat": {"taskToken": "t"},
    "StartWorkflowExecution": {"domain": "d", "workflowId": "w",
                               "workflowType": {"name": "W", "version": "1"}},
    "SignalWorkflowExecution": {"domain": "d", "workflowId": "w", "signalName": "s"},
    "DescribeDomain": {"name": "d"},
    "RegisterActivityType": {"domain": "d", "name": "A", "version": "1"},
}


def swf(client, operation, fake_time, **kwargs):
    return call(client, operation, policy=fake_time.policy(), **kwargs, **PARAMS[operation])


# --------------------------------------------------------------------------- which errors retry

RETRIED = [THROTTLE, INTERNAL, UNAVAILABLE, BARE_502, DROP]


@pytest.mark.parametrize("action", RETRIED, ids=["throttle", "500", "503", "502-html", "drop"])
@pytest.mark.parametrize(
    "operation",
    ["PollForActivityTask", "RespondActivityTaskCompleted", "DescribeDomain",
     "RecordActivityTaskHeartbeat", "RegisterActivityType"],
)
def test_transient_errors_are_retried(server, client, fake_time, operation, action):
    server.play(action, action)
    response = swf(client, operation, fake_time)
    assert response is not None
    assert server.operations() == [operation] * 3
    assert len(fake_time.sleeps) == 2


@pytest.mark.parametrize(
    ("action", "error"),
    [
        (VALIDATION, "ValidationException"),
        (UNKNOWN, "UnknownResourceFault"),
        (NOT_PERMITTED, "OperationNotPermittedFault"),
        (fault("TypeAlreadyExistsFault"), "TypeAlreadyExistsFault"),
        (fault("AccessDeniedException"), "AccessDeniedException"),
    ],
)
@pytest.mark.parametrize(
    "operation", ["PollForActivityTask", "RespondActivityTaskCompleted", "RegisterActivityType"]
)
def test_client_errors_are_never_retried(server, client, fake_time, operation, action, error):
    server.play(action)
    with pytest.raises(ClientError) as info:
        swf(client, operation, fake_time)
    assert info.value.response["Error"]["Code"] == error
    assert server.operations() == [operation]
    assert fake_time.sleeps == []


@pytest.mark.parametrize("operation", ["PollForActivityTask", "PollForDecisionTask"])
def test_limit_exceeded_is_retried_on_polls(server, client, fake_time, operation):
    server.play(LIMIT, LIMIT)
    response = swf(client, operation, fake_time)
    assert response["taskToken"] == SUCCESS[operation]["taskToken"]
    assert server.operations() == [operation] * 3


@pytest.mark.parametrize(
    "operation",
    ["RespondDecisionTaskCompleted", "StartWorkflowExecution", "RegisterActivityType",
     "RecordActivityTaskHeartbeat"],
)
def test_limit_exceeded_is_not_retried_elsewhere(server, client, fake_time, operation):
    server.play(LIMIT)
    with pytest.raises(ClientError, match="LimitExceededFault"):
        swf(client, operation, fake_time)
    assert server.operations() == [operation]


def test_poll_returns_the_task_after_retries(server, client, fake_time):
    server.play(THROTTLE, LIMIT, INTERNAL)
    task = swf(client, "PollForActivityTask", fake_time)
    assert task["taskToken"] == "token-1"
    assert task["activityType"] == {"name": "A", "version": "1"}


def test_backoff_grows_exponentially_with_full_jitter_and_a_cap(server, client, fake_time):
    server.play(*[THROTTLE] * 12)
    policy = fake_time.policy(base=0.2, cap=20.0)
    call(client, "DescribeDomain", policy=policy, name="d")
    assert len(fake_time.sleeps) == 12
    for attempt, wait in enumerate(fake_time.sleeps, start=1):
        assert 0 <= wait <= min(20.0, 0.2 * 2 ** (attempt - 1))


# --------------------------------------------------------------------------- non-idempotent calls


@pytest.mark.parametrize("operation", ["StartWorkflowExecution", "SignalWorkflowExecution"])
@pytest.mark.parametrize("action", [INTERNAL, UNAVAILABLE, DROP], ids=["500", "503", "drop"])
def test_non_idempotent_calls_are_not_retried_when_they_may_have_landed(
    server, client, fake_time, operation, action
):
    server.play(action)
    with pytest.raises((ClientError, ConnectionClosedError)):
        swf(client, operation, fake_time)
    assert server.operations() == [operation]
    assert fake_time.sleeps == []


@pytest.mark.parametrize("operation", ["StartWorkflowExecution", "SignalWorkflowExecution"])
def test_non_idempotent_calls_are_retried_when_throttled(server, client, fake_time, operation):
    server.play(THROTTLE, THROTTLE)
    swf(client, operation, fake_time)
    assert server.operations() == [operation] * 3


def test_non_idempotent_call_is_not_retried_after_a_read_timeout(server, fake_time):
    client = client_for_url(server.url, read_timeout=0.3)
    server.play(HANG)
    with pytest.raises(ReadTimeoutError):
        swf(client, "StartWorkflowExecution", fake_time)
    assert server.operations() == ["StartWorkflowExecution"]


@pytest.mark.parametrize("operation", ["StartWorkflowExecution", "SignalWorkflowExecution"])
def test_non_idempotent_calls_are_retried_when_the_connection_was_refused(fake_time, operation):
    """Nothing listens at first; the endpoint comes up during the backoff."""
    port = free_port()
    client = client_for_url(f"http://127.0.0.1:{port}")
    started: list[FaultServer] = []

    def sleep(seconds: float) -> None:
        fake_time.sleep(seconds)
        if not started:
            started.append(FaultServer(port))

    policy = RetryPolicy(sleep=sleep, clock=fake_time.clock)
    try:
        response = call(client, operation, policy=policy, **PARAMS[operation])
    finally:
        for fault_server in started:
            fault_server.close()
    assert len(fake_time.sleeps) == 1
    assert started[0].operations() == [operation]
    if operation == "StartWorkflowExecution":
        assert response["runId"] == "run-1"


def test_connection_refused_is_retried_for_idempotent_calls_too(fake_time):
    client = client_for_url(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(EndpointConnectionError):
        call(client, "DescribeDomain", policy=fake_time.policy(), max_attempts=3, name="d")
    assert len(fake_time.sleeps) == 2


# --------------------------------------------------------------------------- Respond* taken as done

RESPONDS = ["RespondActivityTaskCompleted", "RespondActivityTaskFailed",
            "RespondActivityTaskCanceled", "RespondDecisionTaskCompleted"]


@pytest.mark.parametrize("operation", RESPONDS)
def test_unknown_resource_after_a_retry_is_taken_as_done(
    server, client, fake_time, operation, caplog
):
    server.play(INTERNAL, UNKNOWN)
    with caplog.at_level(logging.WARNING, logger="swfd.swf.retry"):
        assert swf(client, operation, fake_time) is None
    assert server.operations() == [operation] * 2
    done = [r for r in caplog.records if "taken as done" in r.getMessage()]
    assert len(done) == 1 and done[0].operation == operation and done[0].attempt == 2


def test_respond_whose_answer_timed_out_is_taken_as_done(server, fake_time):
    """The first answer is lost after SWF acted; the retry finds the task closed."""
    client = client_for_url(server.url, read_timeout=0.3)
    server.play(HANG, UNKNOWN)
    assert swf(client, "RespondActivityTaskCompleted", fake_time) is None
    assert server.operations() == ["RespondActivityTaskCompleted"] * 2


@pytest.mark.parametrize("operation", RESPONDS)
def test_unknown_resource_on_the_first_attempt_is_raised(server, client, fake_time, operation):
    server.play(UNKNOWN)
    with pytest.raises(ClientError) as info:
        swf(client, operation, fake_time)
    assert isinstance(info.value, client.exceptions.UnknownResourceFault)


def test_heartbeat_unknown_resource_after_a_retry_is_raised(server, client, fake_time):
    """A heartbeat that landed does not close the task: the task is really gone."""
    server.play(INTERNAL, UNKNOWN)
    with pytest.raises(client.exceptions.UnknownResourceFault):
        swf(client, "RecordActivityTaskHeartbeat", fake_time)
    assert server.operations() == ["RecordActivityTaskHeartbeat"] * 2


# --------------------------------------------------------------------------- bounds


def test_deadline_bounds_retrying(server, client, fake_time):
    server.play(*[THROTTLE] * 1000)
    deadline = fake_time.now + 30.0
    with pytest.raises(ClientError, match="ThrottlingException"):
        call(client, "PollForActivityTask", policy=fake_time.policy(cap=5.0),
             deadline=deadline, **PARAMS["PollForActivityTask"])
    assert fake_time.now <= deadline
    assert 3 < len(server.requests) < 1000


def test_passed_deadline_means_a_single_attempt(server, client, fake_time):
    server.play(THROTTLE, THROTTLE)
    with pytest.raises(ClientError, match="ThrottlingException"):
        call(client, "DescribeDomain", policy=fake_time.policy(), deadline=fake_time.now - 1,
             name="d")
    assert server.operations() == ["DescribeDomain"]


def test_deadline_far_away_lets_retries_succeed(server, client, fake_time):
    server.play(THROTTLE, THROTTLE)
    call(client, "DescribeDomain", policy=fake_time.policy(), deadline=fake_time.now + 3600,
         name="d")
    assert len(server.requests) == 3


def test_stop_callable_ends_retrying(server, client, fake_time):
    server.play(*[INTERNAL] * 100)
    draining = threading.Event()
    server_requests = server.requests

    def stop() -> bool:
        if len(server_requests) >= 3:
            draining.set()
        return draining.is_set()

    with pytest.raises(ClientError, match="InternalFailure"):
        call(client, "PollForDecisionTask", policy=fake_time.policy(), stop=stop,
             **PARAMS["PollForDecisionTask"])
    assert len(server.requests) == 3


def test_stop_during_backoff_starts_no_further_attempt(server, client, fake_time):
    server.play(INTERNAL, INTERNAL)
    state = {"stopped": False}

    def sleep(seconds: float) -> None:
        fake_time.sleep(seconds)
        state["stopped"] = True  # the process starts draining while backing off

    policy = RetryPolicy(sleep=sleep, clock=fake_time.clock, base=10.0, cap=10.0)
    with pytest.raises(ClientError, match="InternalFailure"):
        call(client, "PollForActivityTask", policy=policy, stop=lambda: state["stopped"],
             **PARAMS["PollForActivityTask"])
    assert server.operations() == ["PollForActivityTask"]


def test_max_attempts(server, client, fake_time):
    server.play(*[THROTTLE] * 10)
    with pytest.raises(ClientError, match="ThrottlingException"):
        call(client, "DescribeDomain", policy=fake_time.policy(), max_attempts=4, name="d")
    assert len(server.requests) == 4


# --------------------------------------------------------------------------- logging, plumbing


def test_every_retry_is_logged_with_operation_attempt_code_and_wait(
    server, client, fake_time, caplog
):
    server.play(THROTTLE, INTERNAL)
    with caplog.at_level(logging.WARNING, logger="swfd.swf.retry"):
        swf(client, "PollForActivityTask", fake_time)
    retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert [(r.operation, r.attempt, r.error_code) for r in retries] == [
        ("PollForActivityTask", 1, "ThrottlingException"),
        ("PollForActivityTask", 2, "InternalFailure"),
    ]
    assert [r.retry_wait for r in retries] == fake_time.sleeps
    assert "PollForActivityTask" in retries[0].getMessage()


def test_giving_up_is_logged(server, client, fake_time, caplog):
    server.play(THROTTLE, THROTTLE)
    with caplog.at_level(logging.WARNING, logger="swfd.swf.retry"), pytest.raises(ClientError):
        call(client, "DescribeDomain", policy=fake_time.policy(), max_attempts=2, name="d")
    assert any("no more retries" in r.getMessage() for r in caplog.records)


def test_botocore_does_not_retry_on_its_own(server, client):
    server.play(THROTTLE)
    with pytest.raises(ClientError):
        client.describe_domain(name="d")
    assert len(server.requests) == 1


def test_params_reach_the_endpoint_and_the_response_comes_back(server, client, fake_time):
    response = swf(client, "StartWorkflowExecution", fake_time)
    assert response["runId"] == "run-1"
    assert server.requests[0]["body"] == PARAMS["StartWorkflowExecution"]


def test_unknown_operation_is_refused_before_any_request(server, client):
    with pytest.raises(ValueError, match="'PollForTask' is not an SWF operation"):
        call(client, "PollForTask")
    assert server.requests == []


def test_real_sleep_is_not_needed_for_a_retry(server, client):
    """With the default policy the first backoff is at most 0.2 s."""
    server.play(THROTTLE)
    started = time.monotonic()
    call(client, "DescribeDomain", name="d")
    assert time.monotonic() - started < 5
    assert len(server.requests) == 2


# --------------------------------------------------------------------------- the pure policy


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


NOT_SENT = [EndpointConnectionError(endpoint_url="http://x"),
            ConnectTimeoutError(endpoint_url="http://x")]
MAYBE_SENT = [ReadTimeoutError(endpoint_url="http://x"),
              ConnectionClosedError(endpoint_url="http://x"),
              client_error("InternalFailure", 500), client_error("Whatever", 503),
              client_error("ServiceUnavailable", 400)]


@pytest.mark.parametrize("error", NOT_SENT + MAYBE_SENT + [client_error("ThrottlingException"),
                                                         client_error("SlowDown", 429)])
@pytest.mark.parametrize("operation", ["PollForActivityTask", "RespondDecisionTaskCompleted",
                                       "TerminateWorkflowExecution", "ListDomains"])
def test_policy_retries_transient_errors_for_idempotent_operations(error, operation):
    assert is_retryable(error, operation)


@pytest.mark.parametrize("operation", ["StartWorkflowExecution", "SignalWorkflowExecution"])
def test_policy_for_non_idempotent_operations(operation):
    for error in NOT_SENT + [client_error("ThrottlingException")]:
        assert is_retryable(error, operation), error
    for error in MAYBE_SENT + [client_error("LimitExceededFault")]:
        assert not is_retryable(error, operation), error


@pytest.mark.parametrize(
    "code",
    ["ValidationException", "UnknownResourceFault", "OperationNotPermittedFault",
     "DomainDeprecatedFault", "TypeDeprecatedFault", "DefaultUndefinedFault",
     "WorkflowExecutionAlreadyStartedFault", "AccessDeniedException"],
)
def test_policy_never_retries_client_faults(code):
    for operation in ["PollForActivityTask", "RespondActivityTaskCompleted", "DescribeDomain"]:
        assert not is_retryable(client_error(code), operation)


def test_policy_limit_exceeded_only_on_polls():
    error = client_error("LimitExceededFault")
    assert is_retryable(error, "PollForActivityTask")
    assert is_retryable(error, "PollForDecisionTask")
    assert not is_retryable(error, "RespondDecisionTaskCompleted")
    assert not is_retryable(error, "RegisterWorkflowType")


def test_policy_taken_as_done():
    unknown = client_error("UnknownResourceFault")
    assert taken_as_done(unknown, "RespondActivityTaskCompleted", attempt=2)
    assert taken_as_done(unknown, "RespondDecisionTaskCompleted", attempt=5)
    assert not taken_as_done(unknown, "RespondActivityTaskCompleted", attempt=1)
    assert not taken_as_done(unknown, "RecordActivityTaskHeartbeat", attempt=2)
    assert not taken_as_done(unknown, "SignalWorkflowExecution", attempt=2)
    assert not taken_as_done(client_error("ValidationException"),
                             "RespondActivityTaskCompleted", attempt=2)


def test_bad_parameters_are_raised_without_a_request(server, client, fake_time):
    with pytest.raises(ParamValidationError):
        call(client, "DescribeDomain", policy=fake_time.policy())
    assert server.requests == []
    assert fake_time.sleeps == []
