"""Workflow executions by workflow id: start, find the latest run, list, count, wait.

The functions the admin CLI and scripts use when they hold ids rather than
models. They return :class:`~swfd.swf.models.WorkflowExecution` models, whose
methods do describe, history, signal, cancel and terminate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from swfd.swf.models import (
    CLOSED,
    OPEN,
    DoesNotExist,
    WorkflowExecution,
    WorkflowType,
    iter_pages,
    swf_call,
)

#: SWF requires a time filter on every listing; this one means "since ever".
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def start_workflow_execution(
    client: Any,
    domain: str,
    name: str,
    version: str,
    workflow_id: str | None = None,
    **params: Any,
) -> WorkflowExecution:
    """Start ``name``/``version``; ``params`` are WorkflowType.start's keyword arguments.

    (task_list, input, execution_start_to_close_timeout, task_start_to_close_timeout,
    child_policy, tag_list, task_priority, lambda_role.)
    """
    return WorkflowType(domain, name, version, client=client).start(workflow_id, **params)


def get_execution(
    client: Any, domain: str, workflow_id: str, run_id: str | None = None
) -> WorkflowExecution:
    """The described execution; without ``run_id`` the latest run of ``workflow_id``."""
    run_id = run_id or latest_run_id(client, domain, workflow_id)
    return WorkflowExecution(domain, workflow_id, run_id, client=client).upstream()


def latest_run_id(client: Any, domain: str, workflow_id: str) -> str:
    """The open run of ``workflow_id`` if there is one, else its most recently started run."""
    for status in (OPEN, CLOSED):
        infos = list_execution_infos(client, domain, status, workflow_id=workflow_id)
        if infos:
            return max(infos, key=lambda info: info["startTimestamp"])["execution"]["runId"]
    raise DoesNotExist(f"no workflow execution with workflow id {workflow_id!r} in domain {domain!r}")


def _server_filters(status: str, filters: dict[str, Any]) -> tuple[dict, dict]:
    """Split filters into what SWF accepts in one call and what to apply locally.

    SWF allows one of executionFilter, typeFilter, tagFilter, closeStatusFilter,
    and one of startTimeFilter, closeTimeFilter; the rest is filtered here.
    """
    params: dict[str, Any] = {}
    local: dict[str, Any] = {}
    workflow_type = filters.get("workflow_type")
    if isinstance(workflow_type, str):
        workflow_type = (workflow_type, None)
    candidates = [
        ("executionFilter", "workflow_id", lambda v: {"workflowId": v}),
        (
            "typeFilter",
            "workflow_type",
            lambda v: {"name": v[0], **({"version": v[1]} if v[1] else {})},
        ),
        ("tagFilter", "tag", lambda v: {"tag": v}),
        ("closeStatusFilter", "close_status", lambda v: {"status": v}),
    ]
    values = dict(filters, workflow_type=workflow_type)
    for param, key, build in candidates:
        value = values.get(key)
        if value is None or (key == "close_status" and status == OPEN):
            continue
        if params:
            local[key] = value
        else:
            params[param] = build(value)

    start = (filters.get("start_oldest"), filters.get("start_latest"))
    close = (filters.get("close_oldest"), filters.get("close_latest"))
    if status == CLOSED and any(close) and not any(start):
        params["closeTimeFilter"] = _time_filter(*close)
    else:
        params["startTimeFilter"] = _time_filter(*start)
        if any(close):
            local["close_range"] = close
    return params, local


def _time_filter(oldest: datetime | None, latest: datetime | None) -> dict:
    return {"oldestDate": oldest or EPOCH, **({"latestDate": latest} if latest else {})}


def _matches(info: dict, local: dict[str, Any]) -> bool:
    if "workflow_id" in local and info["execution"]["workflowId"] != local["workflow_id"]:
        return False
    if "workflow_type" in local:
        name, version = local["workflow_type"]
        wt = info["workflowType"]
        if wt["name"] != name or (version and wt["version"] != version):
            return False
    if "tag" in local and local["tag"] not in info.get("tagList", ()):
        return False
    if "close_status" in local and info.get("closeStatus") != local["close_status"]:
        return False
    if "close_range" in local:
        oldest, latest = local["close_range"]
        closed = info.get("closeTimestamp")
        if closed is None or (oldest and closed < oldest) or (latest and closed > latest):
            return False
    return True


def list_execution_infos(
    client: Any, domain: str, status: str, *, reverse: bool = False, **filters: Any
) -> list[dict]:
    """Every ``executionInfo`` (all pages) with ``status`` OPEN or CLOSED matching ``filters``.

    Filters: workflow_id, workflow_type (name or (name, version)), tag,
    close_status, start_oldest/start_latest, close_oldest/close_latest.
    """
    if status not in (OPEN, CLOSED):
        raise ValueError(f"execution status must be {OPEN!r} or {CLOSED!r}, not {status!r}")
    params, local = _server_filters(status, filters)
    operation = "ListOpenWorkflowExecutions" if status == OPEN else "ListClosedWorkflowExecutions"
    infos = iter_pages(
        client, operation, "executionInfos", domain=domain, reverseOrder=reverse or None, **params
    )
    return [info for info in infos if _matches(info, local)]


def count_executions(client: Any, domain: str, status: str, **filters: Any) -> int:
    """How many executions with ``status`` match ``filters`` (same filters as listing)."""
    params, local = _server_filters(status, filters)
    if local:  # SWF cannot count this combination: count the listing instead
        return len(list_execution_infos(client, domain, status, **filters))
    operation = "CountOpenWorkflowExecutions" if status == OPEN else "CountClosedWorkflowExecutions"
    return int(swf_call(client, operation, domain=domain, **params)["count"])


def wait_until_closed(
    execution: WorkflowExecution,
    timeout: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> WorkflowExecution | None:
    """Poll describe until the execution closes; its closed state, or None at the deadline."""
    deadline = clock() + timeout
    interval = 0.1
    while True:
        current = execution.upstream()
        if current.status == CLOSED:
            return current
        remaining = deadline - clock()
        if remaining <= 0:
            return None
        sleep(min(interval, remaining))
        interval = min(interval * 1.5, 2.0)
