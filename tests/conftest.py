"""Shared fixtures: a real local SWF endpoint on loopback and plain boto3 clients for it."""

from __future__ import annotations

import os
import uuid

import boto3
import pytest
from botocore.config import Config

# Tests never load whatever swfd plugins happen to be installed unless they ask to.
os.environ.setdefault("SWFD_DISABLE_PLUGIN_AUTOLOAD", "1")

DUMMY_CREDENTIALS = {"aws_access_key_id": "swfd-local", "aws_secret_access_key": "swfd-local"}


def make_boto3_client(url: str, read_timeout: float = 70.0):
    """A plain boto3 SWF client for a local endpoint, with botocore's retries off."""
    return boto3.client(
        "swf",
        endpoint_url=url,
        region_name="us-east-1",
        config=Config(read_timeout=read_timeout, retries={"total_max_attempts": 1}),
        **DUMMY_CREDENTIALS,
    )


@pytest.fixture
def local_endpoint(tmp_path):
    """A local SWF endpoint served from this process on a free loopback port."""
    from swfd.local.server import LocalEndpoint

    endpoint = LocalEndpoint(
        host="127.0.0.1", port=0, database=str(tmp_path / "swf.sqlite3"), poll_timeout=1.0
    ).start()
    try:
        yield endpoint
    finally:
        endpoint.stop()


@pytest.fixture
def swf_client(local_endpoint):
    """A client for ``local_endpoint``: overrides swfd.testing's fixture of the same name
    (a client for its ``swf_endpoint``) inside tests/, where tests use both together."""
    return make_boto3_client(local_endpoint.url)


@pytest.fixture
def domain(swf_client):
    name = f"test-{uuid.uuid4().hex[:12]}"
    swf_client.register_domain(name=name, workflowExecutionRetentionPeriodInDays="1")
    return name


@pytest.fixture
def daemon(tmp_path):
    """Make real ``swfd`` daemons (test_daemon_support.Daemon) for this test; whatever
    they started is killed at the end."""
    from test_daemon_support import Daemon

    started: list = []

    def make(*args, **kwargs):
        d = Daemon(tmp_path, *args, **kwargs)
        started.append(d)
        return d

    yield make
    for d in started:
        d.close()
