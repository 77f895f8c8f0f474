"""docs/quickstart.md, the seed `swf` library's quickstart with only its imports
changed, runs as a doctest against the local endpoint."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

from swfd.swf import settings

DOC = Path(__file__).resolve().parent.parent / "docs" / "quickstart.md"


@pytest.fixture
def seed_environment(tmp_path, monkeypatch, local_endpoint):
    """No ~/.swf, and AWS variables that send boto3 to the local endpoint."""
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL",
                 "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "region"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SWF", local_endpoint.url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # for the doc's boto3.client("swf"), "another client"; set() wins over them
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "swfd-local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "swfd-local")
    settings.clear()
    yield local_endpoint
    settings.clear()


def test_quickstart_runs_as_written(seed_environment, swf_client, capsys):
    for name in ("test1", "test2"):
        swf_client.register_domain(name=name, workflowExecutionRetentionPeriodInDays="1")
    result = doctest.testfile(
        str(DOC), module_relative=False, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    report = capsys.readouterr().out
    assert result.attempted > 20
    assert result.failed == 0, report
