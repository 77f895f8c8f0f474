"""swfd.swf.client: endpoint resolution, credentials, timeouts and botocore's retries off."""

from __future__ import annotations

import os
import time
import uuid

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from test_retry import HANG, THROTTLE, FaultServer

from swfd.config import load
from swfd.swf.client import EMBEDDED_CREDENTIALS, client_for, endpoint_url_for, make_client
from swfd.swf.retry import call


def write_config(tmp_path, swfd_keys: str, embedded_keys: str = "") -> str:
    path = tmp_path / "swfd.ini"
    text = f"[swfd]\ndomain = d\nregion = eu-west-1\n{swfd_keys}\n"
    if embedded_keys:
        text += f"[embedded]\n{embedded_keys}\n"
    text += "[worker:default]\ntask_list = default\n"
    path.write_text(text)
    return str(path)


def settings_for(tmp_path, swfd_keys: str, embedded_keys: str = ""):
    return load(write_config(tmp_path, swfd_keys, embedded_keys))


@pytest.fixture
def no_aws_credentials(monkeypatch, tmp_path):
    """An environment where boto3's default chain finds nothing (and asks no IMDS)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def env_credentials(no_aws_credentials, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENVIRONMENT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-environment")
    return "AKIDFROMENVIRONMENT"


@pytest.fixture
def server():
    fault_server = FaultServer()
    yield fault_server
    fault_server.close()


def signed_key_id(request: dict) -> str:
    """The access key id in a SigV4 Authorization header."""
    credential = request["authorization"].split("Credential=")[1]
    return credential.split("/")[0]


# --------------------------------------------------------------------------- endpoint resolution


def test_aws_endpoint_is_none(tmp_path):
    assert endpoint_url_for(settings_for(tmp_path, "")) is None


def test_explicit_url_is_used_as_is(tmp_path):
    settings = settings_for(tmp_path, "endpoint_url = https://swf.example.com:8443/x")
    assert endpoint_url_for(settings) == "https://swf.example.com:8443/x"


@pytest.mark.parametrize(
    ("embedded_keys", "url"),
    [
        ("", "http://127.0.0.1:8799"),
        ("host = 10.1.2.3\nport = 9000", "http://10.1.2.3:9000"),
        ("host = 0.0.0.0\nport = 9000", "http://127.0.0.1:9000"),
        ("host = ::", "http://[::1]:8799"),
        ("host = ::1", "http://[::1]:8799"),
        ("host = localhost", "http://localhost:8799"),
    ],
)
def test_embedded_resolves_to_the_configured_host_and_port(tmp_path, embedded_keys, url):
    settings = settings_for(tmp_path, "endpoint_url = embedded", embedded_keys)
    assert endpoint_url_for(settings) == url


# --------------------------------------------------------------------------- client configuration


def test_make_client_configuration():
    client = make_client("http://127.0.0.1:1", "eu-west-1", max_pool_connections=7,
                         credentials=EMBEDDED_CREDENTIALS)
    config = client.meta.config
    assert config.read_timeout == 70.0
    assert 0 < config.connect_timeout <= 10
    assert config.retries["total_max_attempts"] == 1
    assert config.max_pool_connections == 7
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.endpoint_url == "http://127.0.0.1:1"
    assert client.meta.service_model.service_name == "swf"


def test_aws_client_uses_the_regional_endpoint(tmp_path, env_credentials):
    client = client_for(settings_for(tmp_path, ""))
    assert client.meta.endpoint_url == "https://swf.eu-west-1.amazonaws.com"
    assert client.meta.config.read_timeout == 70.0


def test_client_for_passes_the_pool_size(tmp_path):
    client = client_for(settings_for(tmp_path, "endpoint_url = embedded"), max_pool_connections=2)
    assert client.meta.config.max_pool_connections == 2


def test_only_the_activity_worker_skips_botocores_request_checks(tmp_path):
    """Workers build every parameter themselves; deciders send plugins' decisions, which
    botocore must still check before they leave (a clear ParamValidationError)."""
    from botocore.exceptions import ParamValidationError

    from swfd.decider import DecisionPoller
    from swfd.worker import ActivityPoller

    settings = settings_for(tmp_path, "endpoint_url = embedded")
    assert (ActivityPoller.validate_requests, DecisionPoller.validate_requests) == (False, True)
    checked = client_for(settings)
    unchecked = client_for(settings, validate_params=ActivityPoller.validate_requests)
    sent = []

    class Empty:
        def stream(self, *_args, **_kwargs):
            yield b""

    def answer(request, **_):  # the request as it would leave; no socket
        from botocore.awsrequest import AWSResponse

        sent.append(request.body)
        return AWSResponse(request.url, 200, {}, Empty())

    unchecked.meta.events.register("before-send.swf", answer)
    unchecked.respond_activity_task_completed(taskToken="t", result=7)
    assert sent == [b'{"taskToken": "t", "result": 7}']  # the service is left to refuse it
    with pytest.raises(ParamValidationError, match="decisions"):
        checked.respond_decision_task_completed(taskToken="t", decisions="not a list")


def test_each_call_builds_its_own_client(tmp_path):
    settings = settings_for(tmp_path, "endpoint_url = embedded")
    first, second = client_for(settings), client_for(settings)
    assert first is not second
    assert first._endpoint.http_session is not second._endpoint.http_session


# --------------------------------------------------------------------------- credentials


def embedded_settings_at(tmp_path, server: FaultServer):
    port = server.url.rsplit(":", 1)[1]
    return settings_for(tmp_path, "endpoint_url = embedded", f"port = {port}")


def test_embedded_uses_the_fixed_dummy_credentials(tmp_path, server, env_credentials):
    client = client_for(embedded_settings_at(tmp_path, server))
    client.describe_domain(name="d")
    assert signed_key_id(server.requests[0]) == "swfd-local"


def test_embedded_works_with_no_aws_setup_at_all(tmp_path, server, no_aws_credentials,
                                                 monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "a-profile-that-does-not-exist")
    client = client_for(embedded_settings_at(tmp_path, server))
    client.describe_domain(name="d")
    assert signed_key_id(server.requests[0]) == "swfd-local"


def test_explicit_url_uses_the_default_chain(tmp_path, server, env_credentials):
    client = client_for(settings_for(tmp_path, f"endpoint_url = {server.url}"))
    client.describe_domain(name="d")
    assert signed_key_id(server.requests[0]) == env_credentials


def test_explicit_url_falls_back_to_dummy_credentials(tmp_path, server, no_aws_credentials):
    client = client_for(settings_for(tmp_path, f"endpoint_url = {server.url}"))
    client.describe_domain(name="d")
    assert signed_key_id(server.requests[0]) == "swfd-local"


def test_aws_client_takes_credentials_from_the_chain_only(tmp_path, env_credentials):
    client = client_for(settings_for(tmp_path, ""))
    assert client._request_signer._credentials.access_key == env_credentials


# --------------------------------------------------------------------------- timeouts, retries


def test_read_timeout_is_honoured_and_not_retried_by_botocore(server):
    client = make_client(server.url, "us-east-1", credentials=EMBEDDED_CREDENTIALS,
                         read_timeout=0.3)
    server.play(HANG)
    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        client.poll_for_activity_task(domain="d", taskList={"name": "t"})
    assert time.monotonic() - started < 5
    assert len(server.requests) == 1


def test_botocore_retries_are_off(server):
    client = make_client(server.url, "us-east-1", credentials=EMBEDDED_CREDENTIALS)
    server.play(THROTTLE, THROTTLE, THROTTLE)
    with pytest.raises(ClientError, match="ThrottlingException"):
        client.list_domains(registrationStatus="REGISTERED")
    assert len(server.requests) == 1


# --------------------------------------------------------------------------- the local endpoint


def test_client_for_embedded_talks_to_the_local_endpoint(tmp_path, local_endpoint,
                                                         no_aws_credentials):
    port = local_endpoint.url.rsplit(":", 1)[1]
    settings = settings_for(tmp_path, "endpoint_url = embedded", f"port = {port}")
    client = client_for(settings)
    name = f"client-{uuid.uuid4().hex[:8]}"
    call(client, "RegisterDomain", name=name, workflowExecutionRetentionPeriodInDays="1")
    info = call(client, "DescribeDomain", name=name)
    assert info["domainInfo"]["name"] == name
    with pytest.raises(client.exceptions.UnknownResourceFault):
        call(client, "DescribeDomain", name=f"{name}-missing")


def test_no_credentials_leak_from_the_ini(tmp_path):
    path = write_config(tmp_path, "aws_access_key_id = AKIDINFILE")
    with pytest.raises(Exception, match="unknown key"):
        load(path)
    assert "AKIDINFILE" not in os.environ.get("AWS_ACCESS_KEY_ID", "")


def test_preload_for_fork_shares_one_warm_loader_with_later_clients(monkeypatch):
    """Clients built after the master's preload reuse its parsed models (copy-on-write
    after fork) instead of each re-parsing botocore's JSON."""
    import swfd.swf.client as client_module

    monkeypatch.setattr(client_module, "_warm_loader", None)
    cold = client_module.make_client(None, "us-east-1")
    assert cold._loader is not None
    client_module.preload_for_fork()
    warm = client_module._warm_loader
    assert warm is not None and cold._loader is not warm
    aws = client_module.make_client(None, "us-east-1")
    local = client_module.make_client(
        "http://127.0.0.1:1", "us-east-1", credentials=client_module.EMBEDDED_CREDENTIALS
    )
    assert aws._loader is warm and local._loader is warm
    assert local._request_signer._credentials.access_key == "swfd-local"
