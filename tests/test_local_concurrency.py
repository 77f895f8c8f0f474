"""Concurrency on the local endpoint: 8 worker processes (real processes, each its own
boto3 client) poll one task list for 2,000 activity tasks; no task is delivered
twice and none is lost."""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter

from test_local_support import (  # noqa: F401 (no_internal_failures is autouse)
    find,
    history,
    no_internal_failures,
    poll_decision,
    register_activity_type,
    register_workflow_type,
    respond,
    schedule_activity,
    start,
)

from swfd.testing import wait_for

PROCESSES = 8
EXECUTIONS = 100
PER_EXECUTION = 20
TOTAL = EXECUTIONS * PER_EXECUTION
DEADLINE_SECONDS = 90


def _worker(url: str, domain: str, done, results, ready) -> None:
    """One worker process: poll, record, complete, until every task is done (bounded)."""
    from conftest import make_boto3_client

    client = make_boto3_client(url, read_timeout=10)
    delivered, errors = [], []
    ready.put(1)
    # The budget starts once this process is up (spawning and importing boto3 under load
    # must not eat it).
    deadline = time.time() + DEADLINE_SECONDS
    while done.value < TOTAL and time.time() < deadline:
        try:
            task = client.poll_for_activity_task(
                domain=domain,
                taskList={"name": "work"},
                identity=str(multiprocessing.current_process().pid),
            )
        except Exception as exc:  # noqa: BLE001 (reported to the parent, which fails the test)
            errors.append(f"poll: {exc!r}")
            continue
        if not task.get("taskToken"):
            continue
        key = (task["workflowExecution"]["workflowId"], task["activityId"])
        delivered.append(key)
        try:
            client.respond_activity_task_completed(taskToken=task["taskToken"], result=key[1])
        except Exception as exc:  # noqa: BLE001
            errors.append(f"respond {key}: {exc!r}")
        with done.get_lock():
            done.value += 1
    results.put((delivered, errors))


def test_eight_processes_share_one_task_list_without_duplicates_or_losses(
    swf_client, domain, local_endpoint
):
    register_workflow_type(swf_client, domain, "W", task_list="decide")
    register_activity_type(swf_client, domain, "A", task_list="work")
    context = multiprocessing.get_context("spawn")
    done = context.Value("i", 0)
    results = context.Queue()
    ready = context.Queue()
    workers = [
        context.Process(target=_worker, args=(local_endpoint.url, domain, done, results, ready))
        for _ in range(PROCESSES)
    ]
    for process in workers:
        process.start()
    try:
        for _ in workers:
            ready.get(timeout=60)
        # Tasks arrive while the workers are already polling.
        executions = []
        for i in range(EXECUTIONS):
            # One decision task list per execution, so this loop answers only first tasks.
            execution = start(
                swf_client, domain, "W", workflow_id=f"wf-{i}", taskList={"name": f"d{i}"}
            )
            executions.append(execution)
            task = poll_decision(swf_client, domain, f"d{i}")
            assert task["workflowExecution"] == execution
            respond(
                swf_client,
                task,
                [schedule_activity(f"a{j}", "A") for j in range(PER_EXECUTION)],
            )
        delivered, errors = [], []
        for _ in workers:
            got, failed = results.get(timeout=DEADLINE_SECONDS + 30)
            delivered.extend(got)
            errors.extend(failed)
    finally:
        for process in workers:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join(5)
    assert errors == []
    duplicates = [key for key, count in Counter(delivered).items() if count > 1]
    assert duplicates == []
    expected = {(f"wf-{i}", f"a{j}") for i in range(EXECUTIONS) for j in range(PER_EXECUTION)}
    assert set(delivered) == expected
    assert len(delivered) == TOTAL
    for execution in executions[:: EXECUTIONS // 10]:
        events = history(swf_client, domain, execution)
        assert len(find(events, "ActivityTaskStarted")) == PER_EXECUTION
        assert len(find(events, "ActivityTaskCompleted")) == PER_EXECUTION
    count = swf_client.count_pending_activity_tasks(domain=domain, taskList={"name": "work"})
    assert count["count"] == 0
    wait_for(lambda: all(not p.is_alive() for p in workers), timeout=10, message="workers exit")
