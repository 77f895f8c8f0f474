"""The tutorial's three workflows again, written as ``async def`` (swfd.flow).

Each twin has the seed workflow's name with ``Async`` after it, version
"1.0", the same task list and codec, and schedules the same activities, on
the same task lists, with the same inputs, in the same order as its seed-style
twin. Two differences: activity ids are deterministic counters
("ActivityA-1") where the seed's Serial used the clock, and a failed activity
is retried by a ``swfd.Retry`` policy (its retries carry ``#2``, ``#3``).
"""

from __future__ import annotations

import swfd

from . import (
    MAX_ATTEMPTS,
    SCHED_COUNT,
    VERSION,
    activity_a,
    activity_b,
    activity_c,
    hello_world,
)

#: The seed-style workflows retry a failed activity at once, up to MAX_ATTEMPTS tries.
RETRY = swfd.Retry(max_attempts=MAX_ATTEMPTS, initial_delay=0)


@swfd.workflow("HelloWorkflowAsync", VERSION, task_list="default", codec="raw")
async def hello_workflow_async(wf, _input):
    """HelloWorld once, as "saying_hi"; complete when it has completed."""
    await wf.activity(hello_world, id="saying_hi", retry=RETRY)


@swfd.workflow("SerialWorkflowAsync", VERSION, task_list="default_tasks", codec="raw")
async def serial_workflow_async(wf, _input):
    """ActivityA, then ActivityB with A's result, then ActivityC with B's; then complete."""
    result = await wf.activity(activity_a, retry=RETRY)
    result = await wf.activity(activity_b, result, retry=RETRY)
    await wf.activity(activity_c, result, retry=RETRY)


@swfd.workflow("ParallelWorkflowAsync", VERSION, task_list="default", codec="raw")
async def parallel_workflow_async(wf, _input):
    """Five ActivityA at once on ``default`` ("activity0".."activity4"); complete when
    all five completed."""
    await swfd.gather(*(wf.activity(activity_a, task_list="default", id=f"activity{i}",
                                    retry=RETRY)
                        for i in range(SCHED_COUNT)))


WORKFLOWS = [hello_workflow_async, serial_workflow_async, parallel_workflow_async]
