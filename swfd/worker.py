"""The activity worker process: poll, run one handler at a time, answer, repeat.

:class:`ActivityPoller` is what a generation's worker child runs (through
``PollingChild.main``, see swfd.polling). The process *is* the slot: it polls only when it has no task in hand, so ``processes`` is the
pool's concurrency and a task is never taken by a busy process.

The handler runs in the main thread (DESIGN.md); a :class:`TaskSupervisor`
thread, started once per process and handed each task in turn, is the only
place that acts while the handler is busy (one thread for the process's life,
not one per task: starting and joining a thread per task cost about a fifth
of a no-op task's CPU in the bench; while tasks come it ticks every 0.1 s
instead of being woken for each, and idle it blocks without waking):

- it sends ``RecordActivityTaskHeartbeat`` promptly when the handler calls
  ``task.heartbeat(details)``: at once when none is in flight, calls made while
  one is in flight coalesced into the next, at most once per
  ``heartbeat_min_gap`` (pool key, 1 s). A decider may shorten the heartbeat
  timeout per task and the poll does not say so, so the handler's own calls
  are what keeps such a task alive: a handler heartbeating at least every
  second keeps any heartbeat timeout of 3 s or more. When the handler is
  silent, it heartbeats every ``min(heartbeat_interval, declared
  heartbeat_timeout / 3)`` with the latest details;
- it sets ``task.cancel_requested`` when SWF says so, and stops (marking the
  task gone) on UnknownResourceFault; other heartbeat errors are logged and
  retried, never fatal;
- on a fast stop (INT, QUIT, or USR1 from the generation at graceful_timeout) it
  answers RespondActivityTaskFailed(reason="swfd-shutdown") at once and ends
  the process with ``os._exit``;
- past the declared start-to-close timeout it answers failed and exits with
  EXIT_RECYCLE, so the generation forks a fresh process into the slot.

Why the supervisor exits the process instead of stopping the handler: Python
cannot interrupt a thread (the handler may be blocked in C code or a socket),
and abandoning the handler in a background thread would leave a process whose
state the next task cannot trust. Exiting is the one stop that always works,
and the generation respawns the slot. An answer is sent exactly once: the main
thread and the supervisor both ``claim()`` the task before responding.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from typing import Any, Callable

from swfd import codecs, logs, metrics
from swfd.codecs import sendable, swf_length, truncate
from swfd.errors import Canceled, CodecError, failure_reason
from swfd.lifecycle import SHUTDOWN_REASON
from swfd.polling import PollingChild
from swfd.process import EXIT_ERROR, EXIT_OK, EXIT_RECYCLE
from swfd.registry import ActivityDef, seconds_or_none
from swfd.swf.retry import call, error_code, without_values

log = logging.getLogger(__name__)

MAX_REASON = 256
MAX_DETAILS = 32768
MAX_RESULT = 32768
MAX_HEARTBEAT_DETAILS = 2048
MIN_RESPOND_RETRY = 5.0  # an answer is retried at least this long, even at the timeout's edge
ABANDON_DEADLINE = 10.0  # a stopping process retries its last answer only briefly
SUPERVISOR_TICK = 0.1
QUIET_AFTER = 2.0  # no task for this long: the heartbeat thread sleeps until woken


def current_rss() -> int:
    """Resident set size of this process in bytes (Linux /proc), 0 where unknown."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


class ActivityTask:
    """What an activity handler receives: one polled task and its controls.

    ``input`` is decoded per the activity's codec on first access (a bad
    payload raises CodecError inside the handler, which fails the task with
    that message). ``heartbeat(details)`` records the details and asks the
    heartbeat thread to send them now (see the module docstring); it never
    blocks on SWF. ``cancel_requested`` turns True once SWF reports a cancel
    request; answer it by raising ``swfd.Canceled``.
    """

    def __init__(self, response: dict[str, Any], definition: ActivityDef | None) -> None:
        self.task_token: str = response["taskToken"]
        self.activity_id: str = response["activityId"]
        self.activity_type: dict[str, str] = response["activityType"]
        self.workflow_execution: dict[str, str] = response["workflowExecution"]
        self.started_event_id: int = response.get("startedEventId", 0)
        self.raw_input: str | None = response.get("input")
        self.definition = definition
        self.cancel_requested = False
        self.gone = False  # SWF no longer knows the task (heartbeat UnknownResourceFault)
        self.heartbeat_details: str | None = None
        self.beat_wanted = False  # the handler asked for a heartbeat not yet sent
        self.received = time.monotonic()
        self.wake_supervisor: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._answered = False

    @property
    def input(self) -> Any:
        codec = self.definition.codec if self.definition else "raw"
        name = f"{self.activity_type['name']} {self.activity_type['version']}"
        return codecs.decode(codec, self.raw_input, f"input of activity {name}")

    def heartbeat(self, details: Any = None) -> bool:
        """Record progress for the next heartbeat; returns ``cancel_requested``."""
        codec = self.definition.codec if self.definition else "raw"
        encoded = codecs.encode_field(codec, details, "heartbeat details")
        self.heartbeat_details = (
            None if encoded is None else truncate(sendable(encoded), MAX_HEARTBEAT_DETAILS)
        )
        self.beat_wanted = True
        if self.wake_supervisor is not None:
            self.wake_supervisor()
        return self.cancel_requested

    @property
    def log_context(self) -> dict[str, str]:
        return {
            "workflowId": self.workflow_execution.get("workflowId", ""),
            "runId": self.workflow_execution.get("runId", ""),
            "activityId": self.activity_id,
        }

    def claim(self) -> bool:
        """Take the right to answer this task; False if someone already answered."""
        with self._lock:
            if self._answered:
                return False
            self._answered = True
            return True


class ActivityPoller(PollingChild):
    """One worker process: poll an activity task list, run one handler at a time, answer."""

    kind = "worker"
    poll_operation = "PollForActivityTask"
    #: Every request parameter is swfd's own: the domain, task list and identity from
    #: the validated config, the token SWF sent, results and reasons encoded to
    #: strings and cut to SWF's limits (MAX_* above). botocore re-checking them
    #: against the model costs ~30 us a call, ~6 % of a no-op task (bench/README.md).
    validate_requests = False
    #: The heartbeat thread shows a task (title, scoreboard) at its first tick and
    #: writes the end of one it did not show: two scoreboard writes and two title
    #: changes fewer per short task (~4 % of a no-op task's client side, bench/README.md).
    status_on_tick = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.supervisor = TaskSupervisor(self)

    def before_loop(self) -> None:
        self.supervisor.start()

    def poll(self) -> dict[str, Any] | None:
        response = call(
            self.client, "PollForActivityTask", max_attempts=1, quiet=True,
            domain=self.settings.domain, taskList={"name": self.pool.task_list},
            identity=self.identity,
        )
        if not response or not response.get("taskToken"):
            return None
        return response

    def stage_task_end(self) -> bool:
        """Stage the end of a task only while the heartbeat thread is sure to tick again
        (it goes quiet QUIET_AFTER after the last hand-over, and flushes before it
        does); a task that took longer is written at once."""
        return time.monotonic() - self.supervisor.handed_at < QUIET_AFTER / 2

    def recycle_code(self) -> int | None:
        """EXIT_RECYCLE once max_tasks_per_child or max_memory_per_child is reached."""
        limit = self.pool.max_tasks_per_child
        if limit is not None and self.tasks_done >= limit:
            log.info("recycling: %d tasks done (max_tasks_per_child = %d)", self.tasks_done, limit)
            return EXIT_RECYCLE
        memory_limit = self.pool.max_memory_per_child
        if memory_limit is not None:
            rss = current_rss()
            if rss >= memory_limit:
                log.info("recycling: RSS %d bytes >= max_memory_per_child = %d",
                         rss, memory_limit)
                return EXIT_RECYCLE
        return None

    # -- one task ------------------------------------------------------------------

    def handle(self, response: dict[str, Any]) -> None:
        activity_type = response["activityType"]
        definition = self.registry.activity(activity_type["name"], activity_type["version"])
        task = ActivityTask(response, definition)
        extra = task.log_context
        if definition is None:
            log.error("no plugin registered activity type %s %s; failing the task",
                      activity_type["name"], activity_type["version"], extra=extra)
            self.respond_failed(
                task,
                f"swfd: no handler for activity type {activity_type['name']!r} version "
                f"{activity_type['version']!r} in this worker",
                f"worker {self.identity} (pool {self.pool.name}, task list "
                f"{self.pool.task_list}) has {self.registry.describe()}",
            )
            return
        if self.lifecycle.fast_stop:
            log.warning("task received during fast stop; failing it with %s", SHUTDOWN_REASON,
                        extra=extra)
            self.respond_failed(task, SHUTDOWN_REASON, f"the worker was stopping "
                                f"({self.lifecycle.reason}) when the task arrived; it was "
                                "not started")
            return
        # DEBUG: at INFO a task gets one line, when it ends (with its duration); while it
        # runs, ``swfd status`` and the process title show it (bench/README.md).
        log.debug("activity %s %s started", definition.name, definition.version, extra=extra)
        self.show_task(f"{definition.name}/{definition.version}", extra)
        supervisor = self.supervisor
        supervisor.watch(task)
        started = time.monotonic()
        try:
            with logs.task_scope(extra):
                result = definition.func(task)
        except Canceled as exc:
            self.finish(task, supervisor)
            self.respond(task, "RespondActivityTaskCanceled", "canceled",
                         details=self._details(definition, exc.details))
            return
        except Exception as exc:  # noqa: BLE001 - any handler error becomes a failed task
            self.finish(task, supervisor)
            self.note_error(exc, extra)
            log.warning("activity %s %s raised %s after %.2f s", definition.name,
                        definition.version, type(exc).__name__, time.monotonic() - started,
                        extra=extra)
            self.respond_failed(task, failure_reason(exc), traceback.format_exc())
            return
        except BaseException as exc:
            self.finish(task, supervisor)
            self.respond_failed(task, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            raise
        self.finish(task, supervisor)
        try:
            encoded = codecs.encode(definition.codec, result,
                                    f"result of activity {definition.name} {definition.version}")
        except CodecError as exc:
            self.respond_failed(task, f"swfd: result could not be encoded: {exc}", str(exc))
            return
        size = 0 if encoded is None else swf_length(encoded)
        if size > MAX_RESULT:
            self.respond_failed(
                task,
                f"swfd: result too large: {size} characters, SWF allows {MAX_RESULT}",
                f"activity {definition.name} {definition.version} returned a result of "
                f"{size} characters (UTF-16 code units, as SWF counts them) once encoded "
                f"with codec {definition.codec!r}",
            )
            return
        log.info("activity %s %s completed in %.2f s", definition.name, definition.version,
                 time.monotonic() - started, extra=extra)
        self.respond(task, "RespondActivityTaskCompleted", "completed",
                     **({} if encoded is None else {"result": encoded}))

    def finish(self, task: ActivityTask, supervisor: TaskSupervisor) -> None:
        """Take the task back from the supervisor; if it already answered (and is
        exiting), wait for the exit."""
        supervisor.release(task)
        if not task.claim():
            log.warning("handler returned after the task was answered by the supervisor",
                        extra=task.log_context)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # the supervisor ends the process
                time.sleep(0.1)
            os._exit(EXIT_ERROR)

    @staticmethod
    def _details(definition: ActivityDef, details: Any) -> str | None:
        encoded = codecs.encode_field(definition.codec, details, "cancel details")
        return None if encoded is None else truncate(sendable(encoded), MAX_DETAILS)

    def respond_failed(self, task: ActivityTask, reason: str, details: str | None,
                       retry_for: float | None = None) -> None:
        params: dict[str, Any] = {"reason": truncate(sendable(reason), MAX_REASON)}
        if details:
            params["details"] = truncate(sendable(details), MAX_DETAILS, keep="tail")
        self.respond(task, "RespondActivityTaskFailed", "failed", retry_for=retry_for, **params)

    def respond_retry_time(self, task: ActivityTask) -> float:
        """How long an answer is retried: until the task's declared start-to-close
        timeout would close it anyway (then SWF no longer wants it), or the pool's
        ``respond_timeout`` where the type declares none."""
        declared = seconds_or_none(task.definition.start_to_close_timeout) if (
            task.definition) else None
        if declared is None:
            return self.pool.respond_timeout
        return max(MIN_RESPOND_RETRY, declared - (time.monotonic() - task.received))

    def respond(self, task: ActivityTask, operation: str, outcome: str,
                retry_for: float | None = None, **params: Any) -> bool:
        """Send the answer; log (never raise) when SWF no longer wants it."""
        extra = task.log_context
        if task.gone:
            log.warning("discarding %s answer: SWF reported the task gone while it ran "
                        "(timed out or canceled)", outcome, extra=extra)
            self.count(task, "discarded")
            return False
        try:
            if retry_for is None:
                retry_for = self.respond_retry_time(task)
            call(self.client, operation, deadline=time.monotonic() + retry_for,
                 log_context=extra, taskToken=task.task_token, **params)
        except Exception as exc:  # noqa: BLE001 - logged with context; the loop goes on
            if error_code(exc) == "UnknownResourceFault":
                log.warning("SWF no longer knows the task (timed out or canceled); %s answer "
                            "discarded", outcome, extra=extra)
                self.count(task, "timed_out_on_answer")
            else:
                log.error("%s failed (%s: %s); the task will time out", operation,
                          error_code(exc), without_values(str(exc)), extra=extra)
                self.count(task, "answer_failed")
            return False
        log.debug("answered %s", outcome, extra=extra)
        self.count(task, outcome)
        return True

    def count(self, task: ActivityTask, outcome: str) -> None:
        kind = task.activity_type
        metrics.task(self.pool.section, "worker", kind.get("name", ""), kind.get("version", ""),
                     outcome, time.monotonic() - task.received)


class TaskSupervisor(threading.Thread):
    """The worker's heartbeat thread: heartbeats, cancel flag, fast stop, hard timeout.

    The main thread hands it the task it is about to run (``watch``) and takes
    it back when the handler returns (``release``); in between the supervisor
    ticks every SUPERVISOR_TICK seconds. Without a task it looks for one every
    tick, and once none came for QUIET_AFTER seconds it sleeps on a condition
    until ``watch`` wakes it. An answer to SWF is only ever sent after
    ``task.claim()``, so a release racing a heartbeat or an abandon never answers a
    task twice.
    """

    def __init__(self, worker: ActivityPoller) -> None:
        super().__init__(name="swfd-heartbeat", daemon=True)
        self.worker = worker
        self._changed = threading.Condition()
        self._task: ActivityTask | None = None
        self._task_since = float("-inf")  # when the last task was handed over
        self._idle = False  # in the untimed wait: watch() must wake it

    @property
    def handed_at(self) -> float:
        """When the last task was handed over (monotonic)."""
        return self._task_since

    def watch(self, task: ActivityTask) -> None:
        """Hand over the task about to run. Only a quiet supervisor (no task for
        QUIET_AFTER seconds, in an untimed wait) is woken: one that has seen tasks
        lately ticks and picks the task up at its next tick, and the handler's clock
        starts here either way. Waking it for every task cost two thread switches per
        task, for nothing when the handler returns within a tick (bench/README.md)."""
        task.wake_supervisor = self.wake
        with self._changed:
            self._task = task
            self._task_since = time.monotonic()
            if self._idle:
                self._changed.notify()

    def wake(self) -> None:
        """The handler asked for a heartbeat: end the current tick's wait."""
        with self._changed:
            self._changed.notify()

    def release(self, task: ActivityTask) -> None:
        """Take the task back. No wake-up: the supervisor notices at its next tick,
        which saves a thread switch per task on the common, short path."""
        with self._changed:
            if self._task is task:
                self._task = None

    def watching(self, task: ActivityTask) -> bool:
        return self._task is task

    def run(self) -> None:
        while True:
            # What the main thread staged (the end of a task, the count) is written at
            # each tick, and always before the untimed wait below.
            self.worker.board.flush()
            with self._changed:
                if self._task is None:
                    # Tasks lately: look again at the next tick. Quiet: sleep until woken.
                    self._idle = time.monotonic() - self._task_since >= QUIET_AFTER
                    self._changed.wait(None if self._idle else SUPERVISOR_TICK)
                    continue
                self._idle = False
                task, since = self._task, self._task_since
            self.supervise(task, since)

    def supervise(self, task: ActivityTask, started: float) -> None:
        """Tick for one task until the main thread releases it (or the process ends)."""
        definition = task.definition
        assert definition is not None
        pool = self.worker.pool
        interval = heartbeat_interval(pool.heartbeat_interval, definition)
        min_gap = min(getattr(pool, "heartbeat_min_gap", 1.0), interval)
        limit = seconds_or_none(definition.start_to_close_timeout)
        next_beat = started + interval
        next_title = started  # the first tick shows the task, then its age once a second
        last_sent = float("-inf")
        failures = 0

        def woken() -> bool:
            return self._task is not task or (
                task.beat_wanted and time.monotonic() >= last_sent + min_gap)

        # Ticks from the task's start, even when it was picked up a tick late.
        wait = max(0.0, started + SUPERVISOR_TICK - time.monotonic())
        while True:
            with self._changed:
                self._changed.wait_for(woken, wait)
                wait = SUPERVISOR_TICK
                if self._task is not task:
                    return
                now = time.monotonic()
                if now >= next_title:  # under the lock: never after the task was released
                    self.worker.show_task_age()
                    next_title = now + 1.0
            if self.worker.lifecycle.fast_stop:
                reason = self.worker.lifecycle.reason
                self.abandon(task, SHUTDOWN_REASON,
                             f"the worker was stopped ({reason}) while the handler ran", EXIT_OK)
            if limit is not None and now - started > limit:
                self.abandon(
                    task,
                    f"swfd: handler exceeded its declared start_to_close_timeout of {limit:g} s",
                    "the worker process running it is recycled", EXIT_RECYCLE,
                )
            asked = task.beat_wanted and now >= last_sent + min_gap
            if (asked or now >= next_beat) and not task.gone:
                task.beat_wanted = False  # calls from now on coalesce into the next beat
                last_sent = now
                if self.beat(task, interval):
                    failures = 0
                    next_beat = now + interval
                else:
                    failures += 1
                    next_beat = now + min(interval, 0.5 * 2 ** min(failures, 5))

    def beat(self, task: ActivityTask, interval: float) -> bool:
        """Send one heartbeat; False on an error worth retrying."""
        params: dict[str, Any] = {"taskToken": task.task_token}
        if task.heartbeat_details is not None:
            params["details"] = task.heartbeat_details
        try:
            response = call(
                self.worker.client, "RecordActivityTaskHeartbeat",
                stop=lambda: not self.watching(task) or self.worker.lifecycle.fast_stop,
                deadline=time.monotonic() + interval, log_context=task.log_context, **params,
            )
        except Exception as exc:  # noqa: BLE001 - heartbeat errors never kill the process
            if error_code(exc) == "UnknownResourceFault":
                task.gone = True
                log.warning("heartbeat: SWF no longer knows the task (timed out or canceled); "
                            "heartbeats stop and the result will be discarded",
                            extra=task.log_context)
                return True
            metrics.heartbeat(self.worker.pool.section, "failed")
            log.warning("heartbeat failed (%s: %s); retrying", error_code(exc),
                        without_values(str(exc)),
                        extra=task.log_context)
            return False
        metrics.heartbeat(self.worker.pool.section, "sent")
        if response and response.get("cancelRequested") and not task.cancel_requested:
            log.info("cancel requested", extra=task.log_context)
            task.cancel_requested = True
        return True

    def abandon(self, task: ActivityTask, reason: str, details: str, exit_code: int) -> None:
        """Answer failed for the handler still running, then end the process."""
        if task.claim():
            log.warning("failing the task in hand: %s", reason, extra=task.log_context)
            self.worker.respond_failed(task, reason, details, retry_for=ABANDON_DEADLINE)
        logging.shutdown()
        os._exit(exit_code)


def heartbeat_interval(configured: float, definition: ActivityDef) -> float:
    """Seconds between heartbeats: the pool's interval, or a third of the declared timeout."""
    timeout = seconds_or_none(definition.heartbeat_timeout)
    if timeout is None:
        return configured
    return max(0.1, min(configured, timeout / 3))
