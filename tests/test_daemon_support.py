"""Helpers for the end-to-end daemon tests (no tests here).

``Daemon`` writes an INI for a real ``swfd`` subprocess (the embedded local
endpoint on a free port, or an external URL), listens on a real sd_notify
socket, reads the master's log, and on close kills whatever is left of the
processes it started (the master, and the children its log names).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
from botocore.config import Config

from swfd.testing import wait_for

ROOT = Path(__file__).resolve().parent.parent
TEST_PLUGINS = ROOT / "tests" / "plugins"
CREDENTIALS = {"aws_access_key_id": "swfd-local", "aws_secret_access_key": "swfd-local"}
CLOSED = "CLOSED"
# SWFD_TEST_AWS_FAITHFUL=1 runs every daemon test against an embedded endpoint in
# aws-faithful mode (no connection watch: a task may go to a poll whose client is gone),
# so the daemon's fault tests show that nothing in it depends on the watch.
ENDPOINT_MODE = "aws_faithful = yes\n" if os.environ.get("SWFD_TEST_AWS_FAITHFUL") else ""


def boto3_client(url: str):
    return boto3.client(
        "swf", endpoint_url=url, region_name="us-east-1",
        config=Config(read_timeout=70, retries={"total_max_attempts": 1}), **CREDENTIALS,
    )


def pid_alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Daemon:
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
        self.dir = tmp_path
        self.domain = f"d-{uuid.uuid4().hex[:10]}"
        # 0: the embedded endpoint binds any free port and the log says which (no
        # race between a free_port() and the bind when tests run side by side).
        self.fixed_port = port
        self.endpoint_url = endpoint_url
        self.config = tmp_path / "swfd.ini"
        self.pidfile = tmp_path / "run" / "swfd.pid"
        self.log = tmp_path / "swfd.log"
        embedded = endpoint_url is None
        self.config.write_text(
            "[swfd]\n"
            f"domain = {self.domain}\nregion = us-east-1\n"
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
        self.notify_path = str(tmp_path / "notify.sock")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.notify.setblocking(False)
        self.messages: list[str] = []
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(TEST_PLUGINS),
                                                        os.environ.get("PYTHONPATH")])),
            "NOTIFY_SOCKET": self.notify_path,
            "SWFD_DISABLE_PLUGIN_AUTOLOAD": "1",
            **(env or {}),
        }
        self.database = tmp_path / "state" / "local.sqlite3"
        self.proc: subprocess.Popen | None = None
        self._client = None
        self._client_url: str | None = None
        self._reopened = None

    # -- process --------------------------------------------------------------

    def start(self) -> Daemon:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "swfd.cli", "--config", str(self.config)],
                stdout=log, stderr=log, env=self.env, cwd=str(self.dir),
            )
        return self

    def wait_ready(self, timeout: float = 60) -> Daemon:
        wait_for(lambda: self.notified("READY=1") or self.proc.poll() is not None,
                 timeout, message="READY=1 from the daemon")
        assert self.proc.poll() is None, f"daemon exited {self.proc.returncode}:\n{self.text()}"
        return self

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout=timeout)

    def children(self, group: str | None = None) -> list[int]:
        """Pids the daemon reported starting: of ``group`` (e.g. "worker:test"), or every
        one (generations and the endpoint too) when ``group`` is None."""
        pattern = re.compile(r"spawned (\S+) pid (\d+)")
        text = self.text()
        pids = [int(m.group(2)) for m in pattern.finditer(text)
                if group is None or m.group(1) == group]
        if group is None:
            pids += [int(p) for p in re.findall(
                r"started (?:generation \d+|the local endpoint) \(pid (\d+)\)", text)]
        return pids

    def ready_children(self, group: str) -> list[int]:
        """Children of ``group`` that logged they are polling (their handlers are set)."""
        pattern = rf"\[{re.escape(group)} (\d+)\] \S+: \w+ polling"
        polling = {int(p) for p in re.findall(pattern, self.text())}
        return [pid for pid in self.children(group) if pid in polling]

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def notifications(self) -> list[str]:
        while True:
            try:
                self.messages.append(self.notify.recv(4096).decode())
            except BlockingIOError:
                return self.messages

    def notified(self, text: str) -> bool:
        return any(text in message for message in self.notifications())

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
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
            supervisors = re.findall(r"swfd supervisor started \(pid (\d+)\)", self.text())
            for pid in map(int, supervisors):  # started by a process manager for us
                if pid_alive(pid):
                    os.kill(pid, signal.SIGKILL)
        finally:
            self.notify.close()
            for pid in self.children():
                if pid_alive(pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass

    # -- SWF --------------------------------------------------------------

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

    @property
    def client(self):
        url = self.url
        if self._client is None or self._client_url != url:
            self._client, self._client_url = boto3_client(url), url
        return self._client

    def start_workflow(self, name: str = "RunActivity", version: str = "1",
                       input: object = None, task_list: str | None = None,
                       workflow_id: str | None = None, raw: bool = False) -> dict:
        params = {
            "domain": self.domain, "workflowId": workflow_id or f"wf-{uuid.uuid4().hex[:8]}",
            "workflowType": {"name": name, "version": version},
        }
        if input is not None:
            params["input"] = input if raw else json.dumps(input)
        if task_list:
            params["taskList"] = {"name": task_list}
        run = self.client.start_workflow_execution(**params)
        return {"workflowId": params["workflowId"], "runId": run["runId"]}

    def history(self, execution: dict) -> list[dict]:
        events, token = [], None
        for _ in range(100):
            page = self.client.get_workflow_execution_history(
                domain=self.domain, execution=execution, maximumPageSize=1000,
                **({"nextPageToken": token} if token else {}),
            )
            events += page["events"]
            token = page.get("nextPageToken")
            if not token:
                break
        return events

    def event_types(self, execution: dict) -> list[str]:
        return [e["eventType"] for e in self.history(execution)]

    def count(self, execution: dict, event_type: str) -> int:
        return self.event_types(execution).count(event_type)

    def wait_closed(self, execution: dict, timeout: float = 60) -> dict:
        def closed():
            info = self.client.describe_workflow_execution(
                domain=self.domain, execution=execution)["executionInfo"]
            return info if info["executionStatus"] == CLOSED else None

        return wait_for(closed, timeout, message=f"workflow {execution['workflowId']} closed")


def attrs(event: dict) -> dict:
    key = event["eventType"][0].lower() + event["eventType"][1:] + "EventAttributes"
    return event.get(key, {})


def monotonic() -> float:
    return time.monotonic()
