"""Who can reach the local endpoint: loopback by default, SigV4-verified keys otherwise.

A non-loopback host is refused without --allow-remote, and --allow-remote
without keys; with keys every request's signature is recomputed (botocore's
signer) and answered as AWS answers a bad one; the clock skew is 15 minutes;
session tokens are accepted; the ready line shows the address actually bound.
Then the ``[embedded]`` keys of the INI file.
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import re
import signal
import subprocess
import sys

import boto3
import botocore.auth
import botocore.exceptions
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from swfd.config import ConfigError, load
from swfd.local.auth import KeysError, Verifier, load_keys
from swfd.local.faults import SWFFault
from swfd.local.server import ExposureError, LocalEndpoint
from swfd.testing import free_port

KEY_ID, SECRET = "AKIDLOCALTEST", "local-secret-1"


def keys_file(tmp_path, mode=0o600, text=f"# rotation: old key first\n{KEY_ID} {SECRET}\n"):
    path = tmp_path / "keys"
    path.write_text(text)
    path.chmod(mode)
    return str(path)


def client(url, key_id=KEY_ID, secret=SECRET, region="us-east-1", token=None):
    return boto3.client("swf", endpoint_url=url, region_name=region, aws_access_key_id=key_id,
                        aws_secret_access_key=secret, aws_session_token=token,
                        config=Config(read_timeout=10, retries={"total_max_attempts": 1}))


def code_of(call) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"]


class Standalone:
    """``swfd local`` as a process; ``url`` from its ready line."""

    def __init__(self, tmp_path, *args, env=None) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "swfd.local", "--port", str(self.port), "--database",
             str(tmp_path / "swf.sqlite3"), "--poll-timeout", "1", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **(env or {})})

    def ready(self) -> str:
        line = self.proc.stdout.readline()
        match = re.search(r"ready at (http://\S+)", line)
        assert match, (line, self.stop())
        return match.group(1)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)
        errors = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return errors


# -- binding ------------------------------------------------------------------------------


def test_a_non_loopback_host_is_refused_without_allow_remote(tmp_path):
    endpoint = Standalone(tmp_path, "--host", "0.0.0.0")
    assert endpoint.proc.wait(20) == 2
    errors = endpoint.stop()
    assert "--host 0.0.0.0 is not a loopback address" in errors and "--allow-remote" in errors
    assert not (tmp_path / "swf.sqlite3").exists()  # refused before anything was opened


def test_allow_remote_without_keys_is_refused(tmp_path):
    endpoint = Standalone(tmp_path, "--host", "0.0.0.0", "--allow-remote")
    assert endpoint.proc.wait(20) == 2
    assert "needs keys" in endpoint.stop()


def test_allow_remote_with_keys_warns_prints_the_bound_address_and_verifies(tmp_path):
    endpoint = Standalone(tmp_path, "--host", "0.0.0.0", "--allow-remote",
                          "--keys-file", keys_file(tmp_path))
    try:
        url = endpoint.ready()
        assert url == f"http://0.0.0.0:{endpoint.port}"
        local = f"http://127.0.0.1:{endpoint.port}"
        good = client(local)
        good.register_domain(name="remote", workflowExecutionRetentionPeriodInDays="1")
        assert code_of(lambda: client(local, secret="wrong").list_domains(
            registrationStatus="REGISTERED")) == "InvalidSignatureException"
        assert code_of(lambda: client(local, key_id="AKIDUNKNOWN").list_domains(
            registrationStatus="REGISTERED")) == "UnrecognizedClientException"
        with_token = client(local, token="FwoGZXIvYXdzEBYaD-session-token")
        assert with_token.describe_domain(name="remote")["domainInfo"]["name"] == "remote"
        conn = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=10)
        conn.request("POST", "/", body=b"{}", headers={
            "X-Amz-Target": "SimpleWorkflowService.ListDomains",
            "Content-Type": "application/x-amz-json-1.0"})
        answer = conn.getresponse()
        assert answer.status == 400
        assert json.loads(answer.read())["__type"].endswith(
            "#MissingAuthenticationTokenException")
        conn.close()
    finally:
        errors = endpoint.stop()
    warning = [line for line in errors.splitlines() if "WARNING" in line]
    assert any("not loopback" in line and "plain HTTP" in line and "(every interface)" in line
               for line in warning), errors


def test_keys_from_the_environment_turn_verification_on_for_loopback(tmp_path):
    endpoint = Standalone(tmp_path, env={"SWFD_LOCAL_ACCESS_KEY_ID": KEY_ID,
                                         "SWFD_LOCAL_SECRET_ACCESS_KEY": SECRET})
    try:
        url = endpoint.ready()
        assert client(url).list_domains(registrationStatus="REGISTERED")["domainInfos"] == []
        assert code_of(lambda: client(url, "swfd-local", "swfd-local").list_domains(
            registrationStatus="REGISTERED")) == "UnrecognizedClientException"
    finally:
        endpoint.stop()


def test_without_keys_any_credentials_are_accepted(tmp_path):
    endpoint = LocalEndpoint(database=str(tmp_path / "swf.sqlite3"), poll_timeout=1.0).start()
    try:
        for key_id, secret in (("anything", "at-all"), ("swfd-local", "swfd-local")):
            assert "domainInfos" in client(endpoint.url, key_id, secret).list_domains(
                registrationStatus="REGISTERED")
    finally:
        endpoint.stop()


def test_in_process_endpoint_refuses_exposure_too(tmp_path):
    with pytest.raises(ExposureError, match="not a loopback address"):
        LocalEndpoint(host="0.0.0.0", database=str(tmp_path / "a.sqlite3")).start()
    with pytest.raises(ExposureError, match="needs keys"):
        LocalEndpoint(host="0.0.0.0", allow_remote=True,
                      database=str(tmp_path / "b.sqlite3")).start()
    # localhost resolves to loopback: allowed as is.
    LocalEndpoint(host="localhost", database=str(tmp_path / "c.sqlite3")).start().stop()


# -- the signature ------------------------------------------------------------------------


def signed(headers_extra=None, body=b'{"registrationStatus":"REGISTERED"}', when=None,
           secret=SECRET, region="eu-west-1", service="swf", token=None):
    """Headers (lower-case) and body of a request botocore signed, at ``when``."""
    request = AWSRequest(method="POST", url="http://127.0.0.1:8799/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "SimpleWorkflowService.ListDomains", **(headers_extra or {})})
    signer = botocore.auth.SigV4Auth(Credentials(KEY_ID, secret, token), service, region)
    original = botocore.auth.get_current_datetime
    if when is not None:
        botocore.auth.get_current_datetime = lambda: when
    try:
        signer.add_auth(request)
    finally:
        botocore.auth.get_current_datetime = original
    headers = {k.lower(): v for k, v in request.headers.items()}
    headers["host"] = "127.0.0.1:8799"
    return headers, body


def verify(headers, body, now=None):
    return Verifier({KEY_ID: SECRET}).verify("POST", "/", headers, body, now=now)


def fault_of(headers, body, now=None) -> SWFFault:
    with pytest.raises(SWFFault) as caught:
        verify(headers, body, now)
    return caught.value


def test_a_good_signature_gives_its_region():
    assert verify(*signed()) == "eu-west-1"
    assert verify(*signed(token="session")) == "eu-west-1"


def test_clock_skew_up_to_15_minutes_either_way():
    utc = datetime.timezone.utc
    now = datetime.datetime.now(utc).replace(microsecond=0)
    for minutes in (-14, 14):
        verify(*signed(when=now + datetime.timedelta(minutes=minutes)), now=now)
    late = fault_of(*signed(when=now - datetime.timedelta(minutes=16)), now=now)
    assert late.code == "InvalidSignatureException" and "Signature expired" in late.message
    early = fault_of(*signed(when=now + datetime.timedelta(minutes=16)), now=now)
    assert early.code == "InvalidSignatureException" and "not yet current" in early.message


def test_what_a_bad_request_is_answered():
    headers, body = signed()
    assert fault_of(headers, body + b" ").code == "InvalidSignatureException"  # body changed
    tampered = dict(headers, **{"x-amz-target": "SimpleWorkflowService.TerminateWorkflowExecution"})
    assert fault_of(tampered, body).code == "InvalidSignatureException"
    assert fault_of(*signed(secret="other")).code == "InvalidSignatureException"
    wrong_service = fault_of(*signed(service="s3"))
    assert wrong_service.code == "InvalidSignatureException" and "'swf'" in wrong_service.message
    assert fault_of({k: v for k, v in headers.items() if k != "authorization"}, body).code == \
        "MissingAuthenticationTokenException"
    garbled = dict(headers, authorization="AWS4-HMAC-SHA256 Credential=x")
    assert fault_of(garbled, body).code == "IncompleteSignatureException"
    basic = dict(headers, authorization="Basic dXNlcjpwYXNz")
    assert fault_of(basic, body).code == "IncompleteSignatureException"
    assert all(fault.status == 400 for fault in (wrong_service,))


def test_keys_sources_and_their_errors(tmp_path):
    assert load_keys(environ={}) == {}
    assert load_keys("A", "s", environ={}) == {"A": "s"}
    assert load_keys(keys_file=keys_file(tmp_path), environ={
        "SWFD_LOCAL_ACCESS_KEY_ID": "B", "SWFD_LOCAL_SECRET_ACCESS_KEY": "t"}) == {
        KEY_ID: SECRET, "B": "t"}
    with pytest.raises(KeysError, match="both"):
        load_keys("A", None, environ={})
    with pytest.raises(KeysError, match="chmod 600"):
        load_keys(keys_file=keys_file(tmp_path, mode=0o644), environ={})
    with pytest.raises(KeysError, match=r"keys:2: expected 'ACCESS_KEY_ID SECRET_ACCESS_KEY'"):
        load_keys(keys_file=keys_file(tmp_path, text="A s\njust-one-field\n"), environ={})
    with pytest.raises(KeysError, match="no key pair"):
        load_keys(keys_file=keys_file(tmp_path, text="# empty\n"), environ={})


# -- [embedded] in the INI file -------------------------------------------------------------


def _ini(tmp_path, embedded: str) -> str:
    path = tmp_path / "swfd.ini"
    path.write_text("[swfd]\ndomain = d\nendpoint_url = embedded\n\n"
                    f"[embedded]\n{embedded}\n\n[worker:w]\ntask_list = t\n")
    return str(path)


def test_embedded_exposure_keys_in_the_config(tmp_path):
    with pytest.raises(ConfigError, match="allow_remote = yes: expected keys_file too"):
        load(_ini(tmp_path, "host = 0.0.0.0\nallow_remote = yes"))
    with pytest.raises(ConfigError, match="chmod 600"):
        load(_ini(tmp_path, f"allow_remote = yes\nkeys_file = {keys_file(tmp_path, 0o640)}"))
    settings = load(_ini(tmp_path, f"host = 0.0.0.0\nallow_remote = yes\n"
                                   f"keys_file = {keys_file(tmp_path)}\naws_faithful = yes"))
    assert settings.embedded.allow_remote and settings.embedded.aws_faithful
    assert settings.embedded.keys_file == str(tmp_path / "keys")
    assert not load(_ini(tmp_path, "port = 8799")).embedded.aws_faithful
