"""The local endpoint's HTTP/JSON protocol, with a stand-in engine behind it.

These tests pin the wire behaviour (targets, bodies, errors, keep-alive,
limits, shutdown) independently of the engine; behaviour tests use the real
engine (the other tests/test_local_*.py files).
"""

from __future__ import annotations

import http.client
import json
import threading
import time

import botocore.exceptions
import pytest
from conftest import make_boto3_client

from swfd.local.faults import SWFFault
from swfd.local.server import LocalEndpoint

TARGET = "SimpleWorkflowService."


class FakeEngine:
    """Records calls; answers from a table; ``PollForActivityTask`` blocks until closed."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.closed = threading.Event()
        self.polling = threading.Event()
        self.answers: dict[str, object] = {}

    def call(self, operation: str, params: dict, **context) -> dict:
        self.calls.append((operation, params))
        answer = self.answers.get(operation, {})
        if isinstance(answer, BaseException):
            raise answer
        if operation == "PollForActivityTask":
            self.polling.set()
            self.closed.wait(10)
            return {"startedEventId": 0}
        return answer

    def close(self) -> None:
        self.closed.set()


@pytest.fixture
def fake():
    engine = FakeEngine()
    endpoint = LocalEndpoint(engine=engine).start()
    try:
        yield engine, endpoint
    finally:
        endpoint.stop()


def raw(
    endpoint,
    body: bytes,
    target: str | None = "SimpleWorkflowService.ListDomains",
    method: str = "POST",
    path: str = "/",
):
    conn = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=10)
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    if target is not None:
        headers["X-Amz-Target"] = target
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), data


def test_boto3_call_reaches_engine_with_params(fake):
    engine, endpoint = fake
    engine.answers["ListDomains"] = {"domainInfos": [{"name": "d", "status": "REGISTERED"}]}
    client = make_boto3_client(endpoint.url)
    result = client.list_domains(registrationStatus="REGISTERED")
    assert result["domainInfos"] == [{"name": "d", "status": "REGISTERED"}]
    assert engine.calls == [("ListDomains", {"registrationStatus": "REGISTERED"})]


def test_void_operation_answers_empty_body(fake):
    _engine, endpoint = fake
    status, headers, body = raw(
        endpoint,
        b'{"name":"d","workflowExecutionRetentionPeriodInDays":"1"}',
        TARGET + "RegisterDomain",
    )
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == "0"
    assert headers["Content-Type"] == "application/x-amz-json-1.0"


def test_malformed_json_is_serialization_exception(fake):
    engine, endpoint = fake
    status, _, body = raw(endpoint, b'{"registrationStatus": ')
    error = json.loads(body)
    assert status == 400
    assert error["__type"].endswith("#SerializationException")
    assert "Malformed JSON" in error["message"]
    status, _, body = raw(endpoint, b"[1, 2]")
    assert status == 400 and "must be a JSON object" in json.loads(body)["message"]
    assert engine.calls == []


def test_wrong_member_type_is_serialization_exception(fake):
    _engine, endpoint = fake
    status, _, body = raw(endpoint, b'{"registrationStatus": 5}')
    error = json.loads(body)
    assert status == 400 and error["__type"].endswith("#SerializationException")
    assert "registrationStatus" in error["message"]


def test_unknown_operation(fake):
    engine, endpoint = fake
    for target in (TARGET + "NoSuchThing", "OtherService.ListDomains", None):
        status, _, body = raw(endpoint, b"{}", target)
        error = json.loads(body)
        assert status == 400, target
        assert error["__type"].endswith("#UnknownOperationException"), target
    assert engine.calls == []


def test_get_and_other_paths_are_refused(fake):
    _engine, endpoint = fake
    status, _, body = raw(endpoint, b"", None, method="GET")
    assert status == 405 and "POST" in json.loads(body)["message"]
    status, _, body = raw(endpoint, b"{}", path="/other")
    assert status == 400 and json.loads(body)["__type"].endswith("#UnknownOperationException")


def test_validation_error_names_path_value_and_rule(fake):
    engine, endpoint = fake
    client = make_boto3_client(endpoint.url)
    # botocore validates client-side too; skip that to see the server's answer.
    client.meta.config.parameter_validation = False
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client.poll_for_activity_task(domain="x" * 257, taskList={"name": "a:b"})
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"].startswith("2 validation errors detected: ")
    assert (
        "at 'domain' failed to satisfy constraint: Member must have length less than or "
        "equal to 256" in error["Message"]
    )
    assert (
        "Value 'a:b' at 'taskList.name' failed to satisfy constraint: Member must not "
        "contain ':' (colon)" in error["Message"]
    )
    assert engine.calls == []


@pytest.mark.parametrize(
    "code",
    [
        "UnknownResourceFault",
        "TypeAlreadyExistsFault",
        "DomainAlreadyExistsFault",
        "WorkflowExecutionAlreadyStartedFault",
        "LimitExceededFault",
        "OperationNotPermittedFault",
        "DefaultUndefinedFault",
        "TypeDeprecatedFault",
        "DomainDeprecatedFault",
        "TooManyTagsFault",
        "TypeNotDeprecatedFault",
    ],
)
def test_modelled_faults_raise_botocore_fault_classes(fake, code):
    engine, endpoint = fake
    engine.answers["ListDomains"] = SWFFault(code, f"the {code} message")
    client = make_boto3_client(endpoint.url)
    with pytest.raises(getattr(client.exceptions, code)) as caught:
        client.list_domains(registrationStatus="REGISTERED")
    assert caught.value.response["Error"] == {"Code": code, "Message": f"the {code} message"}
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize(
    "code", ["ValidationException", "ThrottlingException", "SerializationException"]
)
def test_unmodelled_errors_are_client_errors_with_code(fake, code):
    engine, endpoint = fake
    engine.answers["ListDomains"] = SWFFault(code, "why")
    client = make_boto3_client(endpoint.url)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client.list_domains(registrationStatus="REGISTERED")
    assert caught.value.response["Error"]["Code"] == code


def test_unexpected_exception_is_internal_failure_500(fake, caplog):
    engine, endpoint = fake
    engine.answers["ListDomains"] = RuntimeError("boom")
    with caplog.at_level("ERROR", logger="swfd.local.server"):
        status, _, body = raw(endpoint, b'{"registrationStatus":"REGISTERED"}')
    assert status == 500
    assert json.loads(body)["__type"].endswith("#InternalFailure")
    assert any("boom" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_request_over_one_megabyte_is_refused_and_connection_survives(fake):
    engine, endpoint = fake
    conn = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=10)
    headers = {"X-Amz-Target": TARGET + "ListDomains"}
    big = json.dumps({"registrationStatus": "REGISTERED", "pad": "x" * (1024 * 1024)}).encode()
    conn.request("POST", "/", body=big, headers=headers)
    response = conn.getresponse()
    error = json.loads(response.read())
    assert response.status == 400
    assert error["__type"].endswith("#ValidationException")
    assert str(len(big)) in error["message"] and "1 MB" in error["message"]
    # The body was drained: the same connection serves the next request.
    conn.request("POST", "/", body=b'{"registrationStatus":"REGISTERED"}', headers=headers)
    response = conn.getresponse()
    assert response.status == 200
    response.read()
    conn.close()
    assert engine.calls == [("ListDomains", {"registrationStatus": "REGISTERED"})]


def test_keep_alive_reuses_one_connection(fake):
    engine, endpoint = fake
    conn = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=10)
    headers = {"X-Amz-Target": TARGET + "ListDomains"}
    for _ in range(20):
        conn.request("POST", "/", body=b'{"registrationStatus":"REGISTERED"}', headers=headers)
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Connection") is None
        response.read()
    conn.close()
    assert len(engine.calls) == 20


def test_stop_wakes_long_poll_and_closes_engine():
    engine = FakeEngine()
    endpoint = LocalEndpoint(engine=engine).start()
    client = make_boto3_client(endpoint.url)
    results: list = []
    poller = threading.Thread(
        target=lambda: results.append(
            client.poll_for_activity_task(domain="d", taskList={"name": "t"})
        )
    )
    poller.start()
    assert engine.polling.wait(10)
    started = time.monotonic()
    endpoint.stop()
    poller.join(10)
    assert not poller.is_alive()
    assert time.monotonic() - started < 5
    assert engine.closed.is_set()
    assert results and "taskToken" not in results[0]
    with pytest.raises(botocore.exceptions.EndpointConnectionError):
        make_boto3_client(endpoint.url).list_domains(registrationStatus="REGISTERED")
    endpoint.stop()  # idempotent


def test_port_in_use_raises_and_closes_engine(fake):
    _, endpoint = fake
    engine = FakeEngine()
    with pytest.raises(OSError):
        LocalEndpoint(port=endpoint.port, engine=engine).start()
    assert engine.closed.is_set()


def _raw_exchange(endpoint, data: bytes) -> bytes:
    """Send raw bytes, read until the server closes (bounded by a socket timeout)."""
    import socket

    with socket.create_connection(("127.0.0.1", endpoint.port), timeout=5) as sock:
        sock.sendall(data)
        chunks = []
        for _ in range(100):
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def test_http_1_0_and_connection_close_end_the_connection(fake):
    engine, endpoint = fake
    body = b'{"registrationStatus":"REGISTERED"}'
    for version, extra in (("HTTP/1.0", ""), ("HTTP/1.1", "Connection: close\r\n")):
        request = (
            f"POST / {version}\r\nX-Amz-Target: {TARGET}ListDomains\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        answer = _raw_exchange(endpoint, request)  # returns only because the server closed
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert b"Connection: close" in answer
    assert len(engine.calls) == 2


def test_bad_header_line_is_a_400(fake):
    engine, endpoint = fake
    answer = _raw_exchange(endpoint, b"POST / HTTP/1.1\r\nno colon here\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    answer = _raw_exchange(endpoint, b"GARBAGE\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"#SerializationException" in answer and b"GARBAGE" in answer
    assert engine.calls == []


def test_heads_parse_alike_in_one_piece_with_bare_line_feeds_or_odd_bodies(fake):
    """A head that arrived whole is parsed in one go, any other line by line: the
    same headers either way; a body with blank lines in it is not taken for a head.
    Every answer has its own UUID-shaped request id."""
    import re

    engine, endpoint = fake
    target = f"X-Amz-Target: {TARGET}ListDomains"
    bodies = [b'{"registrationStatus":"REGISTERED"}',
              b'{\r\n\r\n"registrationStatus":\r\n\r\n"REGISTERED"}']
    requests = []
    for body in bodies:
        for end in ("\r\n", "\n"):
            head = end.join(["POST / HTTP/1.1", target, "Content-Type:   x  ",
                             f"content-LENGTH: {len(body)}", "", ""])
            requests.append(head.encode() + body)
    requests.append(requests[0].replace(b"Content-Type:   x  ", b"no colon"))
    answers = _raw_exchange(endpoint, b"".join(requests))  # the last one closes it
    heads = answers.split(b"HTTP/1.1 ")[1:]
    assert [h[:3] for h in heads] == [b"200"] * 4 + [b"400"]
    assert engine.calls == [("ListDomains", {"registrationStatus": "REGISTERED"})] * 4
    ids = re.findall(rb"x-amzn-RequestId: ([0-9a-f-]+)\r\n", answers)
    assert len(set(ids)) == 5
    assert all(re.fullmatch(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", i)
               for i in ids)


def test_missing_content_length_is_refused(fake):
    engine, endpoint = fake
    for length in ("-5", "abc"):
        answer = _raw_exchange(
            endpoint,
            f"POST / HTTP/1.1\r\nX-Amz-Target: {TARGET}ListDomains\r\n"
            f"Content-Length: {length}\r\n\r\n{{}}".encode(),
        )
        assert answer.startswith(b"HTTP/1.1 400 ") and b"Bad Content-Length" in answer
    answer = _raw_exchange(
        endpoint, f"POST / HTTP/1.1\r\nX-Amz-Target: {TARGET}ListDomains\r\n\r\n".encode()
    )
    assert answer.startswith(b"HTTP/1.1 400 ") and b"Content-Length" in answer
    assert engine.calls == []


def test_main_local_rejects_bad_arguments(capsys):
    from swfd.local.server import main_local

    assert main_local(["--poll-timeout", "0"]) == 2
    assert "--poll-timeout must be > 0" in capsys.readouterr().err
    assert main_local(["--port", "70000"]) == 2
    assert "--port must be 0-65535" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        main_local(["--bogus"])
    assert caught.value.code == 2


def test_stop_from_another_thread_ends_serve_forever_once():
    class CountingEngine(FakeEngine):
        closes = 0

        def close(self) -> None:
            CountingEngine.closes += 1
            super().close()

    endpoint = LocalEndpoint(engine=CountingEngine())
    runner = threading.Thread(target=endpoint.serve_forever, daemon=True)
    runner.start()
    from swfd.testing import wait_for

    wait_for(lambda: endpoint.url, timeout=10, message="endpoint started")
    make_boto3_client(endpoint.url).list_domains(registrationStatus="REGISTERED")
    endpoint.stop()
    runner.join(10)
    assert not runner.is_alive()
    assert CountingEngine.closes == 1


def test_lone_surrogates_are_serialization_errors_other_unicode_passes(fake):
    engine, endpoint = fake
    for text in ("\\ud800", "a\\udfff", "\\udc00\\ud800", "\\uDBFF"):
        status, _, body = raw(
            endpoint, f'{{"registrationStatus":"REGISTERED","x":"{text}"}}'.encode()
        )
        assert status == 400, (text, body)
        assert json.loads(body)["__type"].endswith("#SerializationException")
        assert "surrogate" in json.loads(body)["message"]
    for text in ("\\ud83d\\ude00", "\\u0000", "\\ufeff", "\\uffff", "\u00e9"):
        status, _, body = raw(
            endpoint, f'{{"registrationStatus":"REGISTERED","x":"{text}"}}'.encode()
        )
        assert status == 200, (text, body)
    raw_surrogate = b'{"registrationStatus":"REGISTERED","x":"\xed\xa0\x80"}'
    status, _, body = raw(endpoint, raw_surrogate)
    assert status == 400 and b"not UTF-8" in body  # an encoded surrogate is not UTF-8
    status, _, body = raw(endpoint, '{"registrationStatus":"REGISTERED","x":"\ud55c"}'.encode())
    assert status == 200  # U+D55C (Hangul) is also encoded ED xx xx and is fine
    assert len(engine.calls) == 6


def test_nan_and_infinity_are_not_json(fake):
    engine, endpoint = fake
    for constant in ("NaN", "Infinity", "-Infinity"):
        body = f'{{"domain":"d","startTimeFilter":{{"oldestDate":{constant}}}}}'.encode()
        status, _, answer = raw(endpoint, body, TARGET + "ListOpenWorkflowExecutions")
        assert (
            status == 400 and b"#SerializationException" in answer and constant.encode() in answer
        )
    assert engine.calls == []


def test_deeply_nested_json_is_a_serialization_error(fake):
    engine, endpoint = fake
    body = b'{"registrationStatus":"REGISTERED","x":' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    status, _, answer = raw(endpoint, body)
    assert status == 400 and b"nested too deeply" in answer
    assert engine.calls == []
