"""Helpers for the worker and decider tests: real settings, type registration, loop threads.

``python swfd_harness.py worker|decider CONFIG POOL`` runs one child loop the
way a generation does after fork (signal handlers, plugins from the
config), so tests can send it real signals without a generation.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

from swfd.testing import wait_for

CLOSED = (
    "WorkflowExecutionCompleted", "WorkflowExecutionFailed", "WorkflowExecutionCanceled",
    "WorkflowExecutionTimedOut", "WorkflowExecutionTerminated",
)


def write_config(directory: Path, url: str, domain: str, *, plugins: str = "testplugin",
                 pools: str = "", poll_timeout: float = 1.0) -> Path:
    """An INI file for ``url`` with the given pools (INI text); returns its path."""
    path = directory / "swfd.ini"
    path.write_text(
        f"[swfd]\ndomain = {domain}\nregion = us-east-1\nendpoint_url = {url}\n"
        f"identity = test:{{pid}}:{{pool}}\nplugins = {plugins}\nlog_format = text\n"
        "graceful_timeout = 120\n\n"
        + (pools or "[worker:test]\ntask_list = test\nprocesses = 1\n"
                    "\n[decider:test]\ntask_list = test\nprocesses = 1\n")
    )
    return path


def load_settings(path: Path) -> Any:
    from swfd.config import load

    return load(str(path))


def pool_of(settings: Any, kind: str, name: str | None = None) -> Any:
    pools = [p for p in settings.pools if p.kind == kind and (name is None or p.name == name)]
    return pools[0]


def register_types(client: Any, domain: str, registry: Any) -> None:
    """Register every type of ``registry`` with its declared defaults (idempotent)."""
    for a in registry.activities.values():
        params = {
            "domain": domain, "name": a.name, "version": a.version,
            "defaultTaskList": {"name": a.task_list},
            "defaultTaskHeartbeatTimeout": a.heartbeat_timeout,
            "defaultTaskStartToCloseTimeout": a.start_to_close_timeout,
            "defaultTaskScheduleToStartTimeout": a.schedule_to_start_timeout,
            "defaultTaskScheduleToCloseTimeout": a.schedule_to_close_timeout,
        }
        try:
            client.register_activity_type(**params)
        except client.exceptions.TypeAlreadyExistsFault:
            pass
    for w in registry.workflows.values():
        params = {
            "domain": domain, "name": w.name, "version": w.version,
            "defaultTaskList": {"name": w.task_list},
            "defaultExecutionStartToCloseTimeout": w.execution_start_to_close_timeout,
            "defaultTaskStartToCloseTimeout": w.task_start_to_close_timeout,
            "defaultChildPolicy": w.child_policy,
        }
        try:
            client.register_workflow_type(**params)
        except client.exceptions.TypeAlreadyExistsFault:
            pass


def start(client: Any, domain: str, name: str, version: str = "1", input: str | None = None,
          task_list: str | None = None, workflow_id: str | None = None) -> dict[str, str]:
    workflow_id = workflow_id or f"{name}-{time.monotonic_ns()}"
    params: dict[str, Any] = {"domain": domain, "workflowId": workflow_id,
                              "workflowType": {"name": name, "version": version}}
    if input is not None:
        params["input"] = input
    if task_list is not None:
        params["taskList"] = {"name": task_list}
    run = client.start_workflow_execution(**params)
    return {"workflowId": workflow_id, "runId": run["runId"]}


def history(client: Any, domain: str, execution: dict[str, str]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    token = None
    for _ in range(1000):
        params: dict[str, Any] = {"domain": domain, "execution": execution}
        if token:
            params["nextPageToken"] = token
        page = client.get_workflow_execution_history(**params)
        events.extend(page["events"])
        token = page.get("nextPageToken")
        if not token:
            break
    return events


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["eventType"] for e in events]


def attrs(event: dict[str, Any]) -> dict[str, Any]:
    kind = event["eventType"]
    return event.get(kind[0].lower() + kind[1:] + "EventAttributes", {})


def wait_for_event(client: Any, domain: str, execution: dict[str, str], event_type: str,
                   timeout: float = 30.0) -> dict[str, Any]:
    """The first event of ``event_type`` in the execution's history, waiting for it."""
    def found() -> dict[str, Any] | None:
        return next((e for e in history(client, domain, execution)
                     if e["eventType"] == event_type), None)

    return wait_for(found, timeout=timeout, message=f"{event_type} in {execution['workflowId']}")


def wait_closed(client: Any, domain: str, execution: dict[str, str],
                timeout: float = 30.0) -> list[dict[str, Any]]:
    def closed() -> list[dict[str, Any]] | None:
        events = history(client, domain, execution)
        return events if events and events[-1]["eventType"] in CLOSED else None

    return wait_for(closed, timeout=timeout, message=f"{execution['workflowId']} to close")


class LoopThread(threading.Thread):
    """A worker or decider loop in a thread of the test process; ``stop()`` drains and joins."""

    def __init__(self, kind: str, settings: Any, pool: Any, registry: Any,
                 client: Any = None) -> None:
        super().__init__(name=f"test-{kind}", daemon=True)
        from swfd.lifecycle import Lifecycle

        self.kind = kind
        self.settings, self.pool, self.registry, self.client = settings, pool, registry, client
        self.lifecycle = Lifecycle()
        self.exit_code: int | None = None

    def run(self) -> None:
        from swfd.decider import DecisionPoller
        from swfd.worker import ActivityPoller

        poller = ActivityPoller if self.kind == "worker" else DecisionPoller
        self.exit_code = poller.start(self.settings, self.pool, self.registry, self.lifecycle,
                                      client=self.client)

    def stop(self, timeout: float = 30.0) -> int | None:
        self.lifecycle.drain("test over")
        self.join(timeout)
        assert not self.is_alive(), f"{self.kind} loop did not drain within {timeout}s"
        return self.exit_code


def main(argv: list[str]) -> int:
    """Run one child loop like the master does after fork (for signal tests)."""
    import logging

    from swfd.lifecycle import Lifecycle
    from swfd.plugins import load_plugins

    kind, config, pool_name = argv
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    settings = load_settings(Path(config))
    registry = load_plugins(settings)
    lifecycle = Lifecycle()
    lifecycle.install_signal_handlers()
    pool = pool_of(settings, kind, pool_name)
    print("ready", flush=True)
    from swfd.decider import DecisionPoller
    from swfd.worker import ActivityPoller

    poller = ActivityPoller if kind == "worker" else DecisionPoller
    return poller.start(settings, pool, registry, lifecycle)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
