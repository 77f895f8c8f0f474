"""swfd plugin for the benchmark: the no-op and one-second activities as swfd handlers.

Loaded with ``SWFD_PLUGINS=bench.swfd_plugin`` (no entry point needed); the type
names match :mod:`bench.tasks` so all three workers serve the same type.
The ``raw`` codec keeps input and result untouched, as the raw loop does.
"""

from __future__ import annotations

import time

import swfd
from bench.tasks import ACTIVITY_NAME, ACTIVITY_VERSION, SLEEP_NAME


@swfd.activity(ACTIVITY_NAME, ACTIVITY_VERSION, task_list="bench", codec="raw",
               heartbeat_timeout=None)
def noop(task):
    """Return nothing (no result)."""


@swfd.activity(SLEEP_NAME, ACTIVITY_VERSION, task_list="bench", codec="raw",
               heartbeat_timeout=None)
def sleep1(task):
    """Sleep one second: a task in hand while the daemon drains."""
    time.sleep(1.0)
    return "slept"


@swfd.hookimpl
def swfd_activities():
    return [noop, sleep1]


SERIAL_NAME = "BenchSerial"


@swfd.workflow(SERIAL_NAME, "1", task_list="bench-decider", codec="json")
def serial(task):
    """Run ``input["count"]`` no-op activities one after the other, then complete.

    Written the way a plugin author would: the indexed history says how many
    activities completed, the next one is scheduled.
    """
    count = int((task.input or {}).get("count", 10))
    task_list = (task.input or {}).get("task_list", "bench")
    activities = task.history.activities
    if any(a.is_open for a in activities.values()):
        return None
    done = sum(1 for a in activities.values() if a.state == "completed")
    decisions = swfd.Decisions()
    if done >= count:
        decisions.complete_workflow_execution(result=str(done))
    else:
        decisions.schedule_activity_task(
            f"a{done}", ACTIVITY_NAME, ACTIVITY_VERSION, task_list=task_list,
            start_to_close_timeout="600", schedule_to_start_timeout="600",
            schedule_to_close_timeout="1200", heartbeat_timeout="NONE",
        )
    return decisions


@swfd.hookimpl
def swfd_workflows():
    return [serial]
