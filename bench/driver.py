"""Endpoints in their own processes, and the driver that feeds activity tasks.

The driver is a tiny raw decider in the harness process: it starts executions
and answers each one's first decision task with up to ``BATCH`` ScheduleActivityTask
decisions, then only watches (DescribeWorkflowExecution) until no activity is
open. Later decision tasks are left unpolled, so no decider runs while the
workers are measured: the worker figures hold worker cost only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field

import boto3
from botocore.config import Config

from bench.procs import die_with_parent, free_port, stop, wait_port
from bench.tasks import ACTIVITY_NAME, ACTIVITY_VERSION, SLEEP_NAME

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 100
WORKFLOW = ("BenchWorkflow", "1")
DECISIONS = "bench-decisions"
CREDS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
         "AWS_DEFAULT_REGION": "us-east-1"}


def bench_env(**extra: str) -> dict[str, str]:
    """Environment for every process the harness starts."""
    env = dict(os.environ)
    env.update(CREDS)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["SWFD_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env.pop("NOTIFY_SOCKET", None)
    env.update(extra)
    return env


@dataclass
class Endpoint:
    """One endpoint server process we started."""

    name: str
    proc: subprocess.Popen
    url: str
    tmpdir: str | None = None
    log: str = ""

    def stop(self) -> None:
        stop(self.proc)


def start_local(poll_timeout: float, database: str | None = None) -> Endpoint:
    """``swfd local`` in its own process on a free loopback port, state in a temp file."""
    tmpdir = tempfile.mkdtemp(prefix="swfd-bench-")
    database = database or os.path.join(tmpdir, "local.sqlite3")
    port = free_port()
    log = os.path.join(tmpdir, "local.log")
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "swfd.cli", "local", "--host", "127.0.0.1", "--port",
             str(port), "--database", database, "--poll-timeout", str(poll_timeout)],
            stdout=out, stderr=subprocess.STDOUT, env=bench_env(), cwd=ROOT,
            preexec_fn=die_with_parent,  # noqa: PLW1509
        )
    try:
        wait_port("127.0.0.1", port, 30, proc)
    except Exception:
        stop(proc)
        raise
    return Endpoint("swfd local", proc, f"http://127.0.0.1:{port}", tmpdir, log)


def start_moto() -> Endpoint:
    """moto's server (``python -m moto.server``) in its own process."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=bench_env(), cwd=ROOT,
        preexec_fn=die_with_parent,  # noqa: PLW1509
    )
    try:
        wait_port("127.0.0.1", port, 60, proc)
    except Exception:
        stop(proc)
        raise
    return Endpoint("moto server", proc, f"http://127.0.0.1:{port}")


def client(url: str, read_timeout: float = 70.0):
    return boto3.client(
        "swf", endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(read_timeout=read_timeout, retries={"total_max_attempts": 1},
                      max_pool_connections=4),
    )


def setup_domain(swf, domain: str) -> None:
    """Register the domain, the workflow type and both activity types (what exists is kept)."""
    exists = (swf.exceptions.DomainAlreadyExistsFault, swf.exceptions.TypeAlreadyExistsFault)
    calls = [
        lambda: swf.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1"),
        lambda: swf.register_workflow_type(
            domain=domain, name=WORKFLOW[0], version=WORKFLOW[1],
            defaultTaskList={"name": DECISIONS}, defaultChildPolicy="TERMINATE",
            defaultExecutionStartToCloseTimeout="86400", defaultTaskStartToCloseTimeout="600"),
    ]
    for name in (ACTIVITY_NAME, SLEEP_NAME):
        calls.append(lambda name=name: swf.register_activity_type(
            domain=domain, name=name, version=ACTIVITY_VERSION,
            defaultTaskStartToCloseTimeout="600", defaultTaskHeartbeatTimeout="NONE",
            defaultTaskScheduleToStartTimeout="3600", defaultTaskScheduleToCloseTimeout="4200",
        ))
    for register in calls:
        try:
            register()
        except exists:
            pass


@dataclass
class Feed:
    """Executions started by one ``feed()`` call."""

    domain: str
    executions: list[dict] = field(default_factory=list)
    tasks: int = 0
    started_at: float = 0.0


def schedule_decisions(n: int, task_list: str, activity: str, prefix: str) -> list[dict]:
    return [{
        "decisionType": "ScheduleActivityTask",
        "scheduleActivityTaskDecisionAttributes": {
            "activityType": {"name": activity, "version": ACTIVITY_VERSION},
            "activityId": f"{prefix}-{i}", "taskList": {"name": task_list},
            "input": '{"args": [], "kwargs": {}}',
            "startToCloseTimeout": "600", "heartbeatTimeout": "NONE",
            "scheduleToStartTimeout": "3600", "scheduleToCloseTimeout": "4200",
        },
    } for i in range(n)]


def feed(swf, domain: str, task_list: str, n: int, activity: str = ACTIVITY_NAME,
         timeout: float = 60.0) -> Feed:
    """Schedule ``n`` activity tasks on ``task_list`` (``BATCH`` per execution)."""
    result = Feed(domain, started_at=time.monotonic())
    deadline = time.monotonic() + timeout
    wanted: dict[str, int] = {}
    left = n
    while left > 0:
        size = min(BATCH, left)
        workflow_id = f"bench-{uuid.uuid4().hex[:12]}"
        run = swf.start_workflow_execution(
            domain=domain, workflowId=workflow_id,
            workflowType={"name": WORKFLOW[0], "version": WORKFLOW[1]},
            taskList={"name": DECISIONS},
        )
        result.executions.append({"workflowId": workflow_id, "runId": run["runId"]})
        wanted[workflow_id] = size
        left -= size
    while wanted:
        if time.monotonic() > deadline:
            raise TimeoutError(f"feed: {len(wanted)} first decision tasks not polled in time")
        task = swf.poll_for_decision_task(domain=domain, taskList={"name": DECISIONS},
                                          identity="bench-driver", maximumPageSize=10)
        token = task.get("taskToken")
        if not token:
            continue
        workflow_id = task["workflowExecution"]["workflowId"]
        size = wanted.pop(workflow_id, 0)
        swf.respond_decision_task_completed(
            taskToken=token, decisions=schedule_decisions(size, task_list, activity, workflow_id))
        result.tasks += size
    return result


def wait_done(swf, fed: Feed, timeout: float, interval: float = 0.05) -> float:
    """Wait until no fed execution has an open activity; returns the monotonic finish time."""
    deadline = time.monotonic() + timeout
    pending = list(fed.executions)
    while pending:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} executions still have open activities after "
                               f"{timeout:.0f} s")
        still = []
        for execution in pending:
            info = swf.describe_workflow_execution(domain=fed.domain, execution=execution)
            if info["openCounts"]["openActivityTasks"]:
                still.append(execution)
        pending = still
        if pending:
            time.sleep(interval)
    return time.monotonic()


def count_completed(swf, fed: Feed) -> int:
    """ActivityTaskCompleted events over the fed executions (every page)."""
    total = 0
    for execution in fed.executions:
        kwargs = {"domain": fed.domain, "execution": execution, "maximumPageSize": 1000}
        for _ in range(100):
            page = swf.get_workflow_execution_history(**kwargs)
            total += sum(e["eventType"] == "ActivityTaskCompleted" for e in page["events"])
            if not page.get("nextPageToken"):
                break
            kwargs["nextPageToken"] = page["nextPageToken"]
    return total


def close_all(swf, fed: Feed) -> None:
    """Terminate the fed executions (their pending decision tasks are never answered)."""
    for execution in fed.executions:
        try:
            swf.terminate_workflow_execution(domain=fed.domain, **execution, reason="bench done")
        except swf.exceptions.UnknownResourceFault:
            pass
