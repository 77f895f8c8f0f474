"""A real ``swfd --config`` daemon for a test: start, wait for READY, talk SWF, stop.

:class:`Daemon` runs ``python -m swfd.cli --config FILE`` as a subprocess in
a directory of the test's own, listens on a real sd_notify socket (so
``wait_ready`` waits for the daemon's own READY=1, not for a guess), writes the
daemon's output to ``swfd.log`` and, on :meth:`close`, stops by pid whatever
it started: the master (SIGTERM, then SIGKILL after ``stop_timeout``) and the
children its log names. The ``swfd_daemon`` fixture wraps it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from swfd.testing.waiting import wait_for

CLOSED = "CLOSED"


def pid_alive(pid: int) -> bool:
    """Running and not a zombie (Linux /proc)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _kill(pid: int) -> None:
    if pid_alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Daemon:
    """One ``swfd`` daemon over ``config``: INI text (written to ``directory/swfd.ini``)
    or the path of an INI file. Relative paths in the config are the daemon's, from
    ``directory`` (its working directory). ``env`` is added to the environment."""

    def __init__(self, directory: Path | str, config: str | Path, *,
                 env: dict[str, str] | None = None) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        if isinstance(config, str) and "\n" in config:
            self.config = self.dir / "swfd.ini"
            self.config.write_text(config)
        else:
            self.config = Path(config)
        self.log = self.dir / "swfd.log"
        self.notify_path = str(self.dir / "notify.sock")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.notify.setblocking(False)
        self.messages: list[str] = []
        self.env = {**os.environ, "NOTIFY_SOCKET": self.notify_path, **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.stop_timeout = 15.0
        self._settings: Any = None
        self._client: Any = None
        self._client_url: str | None = None

    # -- the process ----------------------------------------------------------------------

    def start(self) -> Daemon:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "swfd.cli", "--config", str(self.config)],
                stdout=log, stderr=log, env=self.env, cwd=str(self.dir),
            )
        return self

    def wait_ready(self, timeout: float = 60) -> Daemon:
        """Until the daemon sends READY=1 (an AssertionError with its log if it exits)."""
        assert self.proc is not None, "start() the daemon first"
        wait_for(lambda: self.notified("READY=1") or self.proc.poll() is not None,
                 timeout, message="READY=1 from the daemon")
        assert self.proc.poll() is None, f"daemon exited {self.proc.returncode}:\n{self.text()}"
        return self

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def children(self, group: str | None = None) -> list[int]:
        """Pids the daemon reported starting: of ``group`` (e.g. "worker:test"), or every
        one (generations and the endpoint too) when ``group`` is None."""
        text = self.text()
        pids = [int(m.group(2)) for m in re.finditer(r"spawned (\S+) pid (\d+)", text)
                if group is None or m.group(1) == group]
        if group is None:
            pids += [int(p) for p in re.findall(
                r"started (?:generation \d+|the local endpoint) \(pid (\d+)\)", text)]
        return pids

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

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM (a graceful stop) and wait; SIGKILL if it outlives ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=self.stop_timeout if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)

    def close(self) -> None:
        """Kill, by pid, whatever is left of what this daemon started."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
            for pid in map(int, re.findall(r"swfd supervisor started \(pid (\d+)\)",
                                           self.text())):
                _kill(pid)  # started by a process manager for us
        finally:
            self.notify.close()
            for pid in self.children():
                _kill(pid)

    # -- SWF ------------------------------------------------------------------------------

    @property
    def settings(self) -> Any:
        """The config as the daemon reads it (``swfd.config.load``)."""
        if self._settings is None:
            from swfd.config import load

            self._settings = load(str(self.config))
        return self._settings

    @property
    def domain(self) -> str:
        return self.settings.domain

    @property
    def url(self) -> str:
        """The endpoint's URL: the configured one, or what the embedded one bound last."""
        settings = self.settings
        if not settings.is_embedded:
            return settings.endpoint_url
        if settings.embedded.port:
            return f"http://127.0.0.1:{settings.embedded.port}"
        found = wait_for(lambda: re.findall(r"local endpoint ready at (http://\S+)", self.text()),
                         60, message="the embedded endpoint's address in the log")
        return found[-1]

    @property
    def client(self) -> Any:
        """A plain boto3 SWF client for the daemon's endpoint."""
        from swfd.testing.endpoint import new_client

        url = self.url
        if self._client is None or self._client_url != url:
            self._client, self._client_url = new_client(url), url
        return self._client

    def start_workflow(self, name: str, version: str, input: Any = None, *,
                       task_list: str | None = None, workflow_id: str | None = None,
                       raw: bool = False) -> dict[str, str]:
        """Start an execution in the daemon's domain; ``input`` JSON-encoded unless ``raw``."""
        params: dict[str, Any] = {
            "domain": self.domain, "workflowId": workflow_id or f"wf-{uuid.uuid4().hex[:8]}",
            "workflowType": {"name": name, "version": version},
        }
        if input is not None:
            params["input"] = input if raw else json.dumps(input)
        if task_list:
            params["taskList"] = {"name": task_list}
        run = self.client.start_workflow_execution(**params)
        return {"workflowId": params["workflowId"], "runId": run["runId"]}

    def history(self, execution: dict[str, str]) -> list[dict[str, Any]]:
        from swfd.testing.endpoint import fetch_history

        return fetch_history(self.client, self.domain, execution)

    def event_types(self, execution: dict[str, str]) -> list[str]:
        return [e["eventType"] for e in self.history(execution)]

    def count(self, execution: dict[str, str], event_type: str) -> int:
        return self.event_types(execution).count(event_type)

    def wait_closed(self, execution: dict[str, str], timeout: float = 60) -> dict[str, Any]:
        """The execution's info once it closed (WaitTimeout otherwise)."""
        def closed() -> dict[str, Any] | None:
            info = self.client.describe_workflow_execution(
                domain=self.domain, execution=execution)["executionInfo"]
            return info if info["executionStatus"] == CLOSED else None

        return wait_for(closed, timeout, message=f"workflow {execution['workflowId']} closed")
