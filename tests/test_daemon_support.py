"""Helpers for the end-to-end daemon tests (no tests here).

``Daemon`` writes an INI for a real ``swfd`` subprocess (the embedded local
endpoint on a free port, or an external URL), listens on a real sd_notify
socket, reads the master's log, and on close kills whatever is left of the
processes it started (the master, and the children its log names).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path

import boto3
from botocore.config import Config

from swfd.testing import wait_for
from swfd.testing.daemon import CLOSED, pid_alive  # noqa: F401 - tests import them from here
from swfd.testing.daemon import Daemon as KitDaemon

ROOT = Path(__file__).resolve().parent.parent
TEST_PLUGINS = ROOT / "tests" / "plugins"
CREDENTIALS = {"aws_access_key_id": "swfd-local", "aws_secret_access_key": "swfd-local"}
# SWFD_TEST_AWS_FAITHFUL=1 runs every daemon test against an embedded endpoint in
# aws-faithful mode (no connection watch: a task may go to a poll whose client is gone),
# so the daemon's fault tests show that nothing in it depends on the watch.
ENDPOINT_MODE = "aws_faithful = yes\n" if os.environ.get("SWFD_TEST_AWS_FAITHFUL") else ""


def boto3_client(url: str):
    return boto3.client(
        "swf", endpoint_url=url, region_name="us-east-1",
        config=Config(read_timeout=70, retries={"total_max_attempts": 1}), **CREDENTIALS,
    )


class Daemon(KitDaemon):
    """swfd.testing's Daemon over an INI this helper writes: the test plugins on the
    path, the embedded endpoint (or ``endpoint_url``), the given ``pools`` sections."""

    def __init__(
        self,
        tmp_path: Path,
        pools: str,
        *,
        plugins: str = "testplugin",
        poll_timeout: float = 1.0,
        graceful_timeout: float = 12.0,
        endpoint_url: str | None = None,
        extra: str = "",
        env: dict[str, str] | None = None,
        log_format: str = "text",
        port: int = 0,
    ) -> None:
        self._domain = f"d-{uuid.uuid4().hex[:10]}"
        # 0: the embedded endpoint binds any free port and the log says which (no
        # race between a free_port() and the bind when tests run side by side).
        self.fixed_port = port
        self.endpoint_url = endpoint_url
        self.pidfile = tmp_path / "run" / "swfd.pid"
        embedded = endpoint_url is None
        config = (
            "[swfd]\n"
            f"domain = {self._domain}\nregion = us-east-1\n"
            f"endpoint_url = {'embedded' if embedded else endpoint_url}\n"
            "identity = {hostname}:{pid}:{pool}\n"
            f"plugins = {plugins}\ngraceful_timeout = {graceful_timeout}\n"
            f"pidfile = run/swfd.pid\nlog_format = {log_format}\nlog_level = INFO\n"
            f"{'' if embedded else 'register = yes'}\n{extra}\n"
            + (f"[embedded]\nhost = 127.0.0.1\nport = {port}\n"
               f"database = state/local.sqlite3\npoll_timeout = {poll_timeout}\n"
               f"{ENDPOINT_MODE}\n"
               if embedded else "")
            + pools
        )
        super().__init__(tmp_path, config, env={
            "PYTHONPATH": os.pathsep.join(filter(None, [str(TEST_PLUGINS),
                                                        os.environ.get("PYTHONPATH")])),
            "SWFD_DISABLE_PLUGIN_AUTOLOAD": "1",
            **(env or {}),
        })
        self.database = tmp_path / "state" / "local.sqlite3"
        self._reopened = None

    @property
    def domain(self) -> str:
        return self._domain

    @domain.setter
    def domain(self, name: str) -> None:  # a test that brings its own config says which
        self._domain = name

    def ready_children(self, group: str) -> list[int]:
        """Children of ``group`` that logged they are polling (their handlers are set)."""
        pattern = rf"\[{re.escape(group)} (\d+)\] \S+: \w+ polling"
        polling = {int(p) for p in re.findall(pattern, self.text())}
        return [pid for pid in self.children(group) if pid in polling]

    def reopen(self) -> None:
        """After the daemon (and its embedded endpoint) exited: serve its database
        from this process, so the histories it left can be read."""
        from swfd.local.server import LocalEndpoint

        assert self.proc is None or self.proc.poll() is not None, "the daemon still runs"
        self._reopened = LocalEndpoint(port=0, database=str(self.database),
                                       poll_timeout=1.0).start()

    def close(self) -> None:
        if self._reopened is not None:
            self._reopened.stop()
        super().close()

    @property
    def url(self) -> str:
        """The endpoint's URL: the external one, or what the embedded one bound last."""
        if self.endpoint_url:
            return self.endpoint_url
        if self._reopened is not None:
            return self._reopened.url
        if self.fixed_port:
            return f"http://127.0.0.1:{self.fixed_port}"
        found = wait_for(lambda: re.findall(r"local endpoint ready at (http://\S+)", self.text()),
                         60, message="the embedded endpoint's address in the log")
        return found[-1]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def start_workflow(self, name: str = "RunActivity", version: str = "1",
                       input: object = None, task_list: str | None = None,
                       workflow_id: str | None = None, raw: bool = False) -> dict:
        return super().start_workflow(name, version, input, task_list=task_list,
                                      workflow_id=workflow_id, raw=raw)


def attrs(event: dict) -> dict:
    key = event["eventType"][0].lower() + event["eventType"][1:] + "EventAttributes"
    return event.get(key, {})


def monotonic() -> float:
    return time.monotonic()
