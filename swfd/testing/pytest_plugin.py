"""swfd's pytest plugin (entry point ``pytest11``: ``swfd``): fixtures for plugin tests.

Loaded into every pytest run where swfd is installed, so importing it costs
next to nothing: no boto3, no local endpoint, no swfd module beyond this one
until a fixture is used. Turn it off with ``pytest -p no:swfd``.

- ``swf_endpoint``: the URL of a local SWF endpoint served from this process
  on 127.0.0.1 (a free port), over a database in the test's tmp_path;
- ``swf_client``: a plain boto3 SWF client for it; ``swf_domain``: a freshly
  registered domain there;
- ``swfd_daemon``: a factory, ``swfd_daemon(config)``, starting a real
  ``swfd --config`` daemon (INI text or a path) and waiting for its READY=1;
  each is stopped (SIGTERM, then SIGKILL) by pid at teardown.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

import pytest


@pytest.fixture
def swf_endpoint(tmp_path: Any) -> Iterator[str]:
    """URL of an in-process local SWF endpoint (real HTTP on loopback, real clock)."""
    from swfd.testing.endpoint import InProcessEndpoint

    endpoint = InProcessEndpoint(str(tmp_path / "swf-endpoint.sqlite3")).start()
    try:
        yield endpoint.url
    finally:
        endpoint.stop()


@pytest.fixture
def swf_client(swf_endpoint: str) -> Any:
    """A boto3 SWF client for ``swf_endpoint`` (dummy credentials, no botocore retries)."""
    from swfd.testing.endpoint import new_client

    return new_client(swf_endpoint)


@pytest.fixture
def swf_domain(swf_client: Any) -> str:
    """A domain registered on ``swf_endpoint`` for this test (a random name)."""
    import uuid

    name = f"test-{uuid.uuid4().hex[:12]}"
    swf_client.register_domain(name=name, workflowExecutionRetentionPeriodInDays="1")
    return name


@pytest.fixture
def swfd_daemon(tmp_path: Any) -> Iterator[Callable[..., Any]]:
    """``swfd_daemon(config, env=None, ready=True)``: a running ``swfd`` daemon
    (:class:`swfd.testing.Daemon`) for ``config`` (INI text or a file path), in a
    directory under tmp_path; every one started is stopped by pid at teardown."""
    from swfd.testing.daemon import Daemon

    started: list[Any] = []

    def start(config: Any, *, env: dict[str, str] | None = None, ready: bool = True,
              timeout: float = 60) -> Any:
        daemon = Daemon(tmp_path / f"swfd-{len(started)}", config, env=env)
        started.append(daemon)
        daemon.start()
        return daemon.wait_ready(timeout) if ready else daemon

    yield start
    for daemon in started:
        try:
            daemon.stop()
        finally:
            daemon.close()
