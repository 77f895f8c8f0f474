"""An example swfd plugin: what ``tests/test_example.py`` beside it tests with swfd.testing.

- ``Greet``: returns a greeting for its input's ``name``; raises on an empty one;
- ``CountTo``: counts to ``n``, heartbeating each number, and stops when a
  cancel is requested (``swfd.Canceled``, with how far it got);
- ``GreetLater``: waits ``delay`` seconds (a timer), then runs ``Greet``; a
  failed ``Greet`` is retried by hand after a ``RETRY_DELAY`` timer, up to
  ``MAX_ATTEMPTS`` times, then the workflow fails with the activity's reason.
  It is the history style: each decision reads ``task.history``;
- ``GreetLaterAsync``: the same workflow as an ``async def`` (swfd.flow): the
  same timer, then Greet with a ``swfd.Retry`` policy in place of the
  hand-written retry timers; it fails the same way when Greet keeps failing.
"""

from __future__ import annotations

import swfd

VERSION = "1.0"
MAX_ATTEMPTS = 3
RETRY_DELAY = 60


@swfd.activity("Greet", VERSION, task_list="example", start_to_close_timeout=60)
def greet(task):
    name = (task.input or {}).get("name", "")
    if not name:
        raise ValueError("nobody to greet: input has no name")
    return f"Hello, {name}!"


@swfd.activity("CountTo", VERSION, task_list="example", heartbeat_timeout=30)
def count_to(task):
    n = int(task.input["n"])
    for i in range(1, n + 1):
        if task.heartbeat({"at": i}):  # True once a cancel was requested
            raise swfd.Canceled(f"stopped at {i} of {n}")
    return n


@swfd.workflow("GreetLater", VERSION, task_list="example", execution_start_to_close_timeout=86400)
def greet_later(task):
    """Timer ``delay``, then Greet, retried by hand; complete with Greet's result."""
    decisions = swfd.Decisions()
    history = task.history
    request = task.input or {}
    delay = history.timers.get("delay")
    greeting = history.activities.get("greet")
    if delay is None:
        decisions.start_timer(int(request.get("delay", 0)), "delay")
    elif delay.state != "fired":
        pass  # still waiting
    elif greeting is None:
        _schedule_greet(decisions, task)
    elif greeting.state == "completed":
        decisions.complete_workflow_execution(result=greeting.result)
    elif greeting.state in ("failed", "timed_out"):
        retry = history.timers.get(f"retry-{greeting.attempts}")
        if greeting.attempts >= MAX_ATTEMPTS:
            decisions.fail_workflow_execution(
                reason=f"Greet failed {greeting.attempts} times",
                details=greeting.reason or greeting.timeout_type)
        elif retry is None:
            decisions.start_timer(RETRY_DELAY, f"retry-{greeting.attempts}")
        elif retry.state == "fired":
            _schedule_greet(decisions, task)
    return decisions


GREET_RETRY = swfd.Retry(max_attempts=MAX_ATTEMPTS, initial_delay=RETRY_DELAY, backoff=1.0)


@swfd.workflow("GreetLaterAsync", VERSION, task_list="example",
               execution_start_to_close_timeout=86400)
async def greet_later_async(wf, request):
    """GreetLater as code: wait ``delay`` seconds, then Greet, retried by GREET_RETRY."""
    await wf.sleep(int(request.get("delay", 0)))
    try:
        return await wf.activity(greet, request, retry=GREET_RETRY)
    except swfd.ActivityFailed as failure:
        raise swfd.WorkflowFailed(f"Greet failed {failure.attempts} times",
                                  failure.reason) from failure


def _schedule_greet(decisions, task):
    decisions.schedule_activity_task("greet", "Greet", VERSION, task_list="example",
                                     input=task.history.input)


@swfd.hookimpl
def swfd_activities():
    return [greet, count_to]


@swfd.hookimpl
def swfd_workflows():
    return [greet_later, greet_later_async]
