"""The local SWF endpoint's state owner: one lock, one SQLite transaction per call.

Why one lock: SWF's guarantees (a task goes to one poller, one outstanding
decision task per execution, a decision batch applies whole) are easiest to
get right with a single state owner. Calls are short (microseconds of Python
and one SQLite commit); long polls wait on condition variables that release
the lock. Each call runs as one transaction: the handler changes in-memory
state and marks executions dirty; ``flush`` writes the dirty executions'
new events and state to SQLite and commits before the call returns. If a
handler fails half-way with an unexpected error, the transaction is rolled
back and the in-memory state is rebuilt from SQLite, so memory never holds
what the database does not.

The operations live in mixins by theme: ``registry_ops`` (domains, types,
tags), ``workflow_ops`` (execution lifecycle, signals, cancel, terminate,
children, timeouts), ``task_ops`` (polls, responds, heartbeats),
``decisions`` (RespondDecisionTaskCompleted) and ``query_ops`` (describe,
list, count, history).

Where this endpoint knowingly differs from SWF (or SWF's documentation leaves a
choice open):

* Lambda functions never run: ScheduleLambdaFunction records
  ScheduleLambdaFunctionFailed (LAMBDA_SERVICE_NOT_AVAILABLE_IN_REGION).
* No IAM and no rate limits: OPERATION_NOT_PERMITTED and the *_RATE_EXCEEDED
  causes never occur; counts are never truncated.
* activityId and timerId must be unique among the execution's *open*
  activities and timers (so a retry may reuse an activityId).
* A child starts within the parent's transaction: Initiated and
  ChildWorkflowExecutionStarted are recorded by the same response.
* A decision task list override with taskListScheduleToStartTimeout stays in
  force until one of its tasks times out SCHEDULE_TO_START.
* RespondActivityTaskCanceled is accepted without a prior cancel request.
* The 25,000th event of a history is its WorkflowExecutionTerminated
  (EVENT_LIMIT_EXCEEDED); the rest of a batch that crosses it is dropped.
* Closed executions past their domain's retention are invisible at once and
  deleted by a sweep every minute (``retention.py``: in batches that release
  the lock).
* TerminateWorkflowExecution records ``cause: OPERATOR_INITIATED``, as the
  service does and as the enum provides for (the API reference's note on
  ``cause`` describes only the automatic causes; it does not say an operator's
  termination has none).
* ARNs carry the region of the request's SigV4 credential scope (the account
  id is always 000000000000): one endpoint serves every region's name.

A database error (a damaged page, a full disk) fails the call it happened in
with a 500 ``InternalFailure`` and is logged once a minute per distinct error
(``ratelog.py``); the state is then reloaded from SQLite before the next call,
and while that fails every call is a 500 (retried at most once a second), never
a half-loaded state. Timers back off on errors (``timers.py``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from typing import Callable

from swfd.local.decisions import DecisionOps
from swfd.local.faults import SWFFault
from swfd.local.query_ops import QueryOps
from swfd.local.ratelog import RateLimitedLog
from swfd.local.registry_ops import DEFAULT_REGION, RegistryOps
from swfd.local.retention import RetentionSweeper
from swfd.local.state import MAX_EVENTS, Activity, Event, Execution, attributes_key, compact
from swfd.local.store import DatabaseFileError, EndpointLockedError, SchemaVersionError, Store
from swfd.local.task_ops import TaskOps
from swfd.local.tasks import TaskQueues
from swfd.local.timers import TimerSchedule
from swfd.local.workflow_ops import WorkflowOps

__all__ = ["DatabaseFileError", "EndpointLockedError", "Engine", "SchemaVersionError"]

log = logging.getLogger(__name__)

# While the state cannot be reloaded from SQLite, a reload is tried at most this often.
RELOAD_RETRY_SECONDS = 1.0
POLLS = frozenset({"PollForActivityTask", "PollForDecisionTask"})


class Engine(RegistryOps, WorkflowOps, TaskOps, DecisionOps, QueryOps):
    """Every SWF operation on state kept in memory and written through to SQLite."""

    def __init__(self, database: str, poll_timeout: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.database = database
        # Epoch seconds for event timestamps, timers and timeouts: time.time, or a clock a
        # test controls (swfd.testing's time skipping). Long-poll waits stay wall-clock.
        self.clock = clock
        self.poll_timeout = poll_timeout
        self.lock = threading.RLock()
        self.closed = False
        # False once the endpoint is orphaned (its supervisor is gone): every poll is
        # answered empty and no task is assigned; every other operation is served.
        self.handing_out = True
        # The region of the call being served (ARNs name it); set under the lock.
        self.region = DEFAULT_REGION
        self.errors = RateLimitedLog(log)
        # Set when a reload from SQLite failed: every call is a 500 until one succeeds.
        self._broken_since: float | None = None
        self._reload_at = 0.0
        self.store = Store(database, self.lock)
        self.queues = TaskQueues(self.lock)
        self.timers = TimerSchedule(self.lock, self._fire_timer, self._timer_live, self.errors,
                                    clock=clock)
        self._dirty: dict[str, Execution] = {}
        self._dirty_acts: dict[tuple[str, int], Activity | None] = {}
        self._batch_run: str | None = None
        with self.lock:
            self._load()
            self.timers.start()
        self.retention = RetentionSweeper(self)
        self.retention.start()

    # -- plumbing -------------------------------------------------------------------

    def call(self, operation: str, params: dict, *, region: str | None = None,
             poller=None) -> dict:
        """Run one SWF operation on an already validated request body.

        ``region`` is the request's SigV4 region (ARNs name it); ``poller`` the
        server's watch of a poll's connection (see ``task_ops``), None in
        aws-faithful mode. An unexpected error, a database error among them, is
        logged (rate-limited) and raised as a 500 ``InternalFailure``.
        """
        handler: Callable[..., dict] | None = getattr(self, f"op_{operation}", None)
        if handler is None:
            raise SWFFault("UnknownOperationException", f"Unknown operation {operation}")
        with self.lock:
            if self.closed:
                raise SWFFault("ServiceUnavailable", "the local endpoint is shutting down", 503)
            if self._broken_since is not None:
                self._retry_reload()
            self.region = region or DEFAULT_REGION
            if poller is not None and operation in POLLS:
                return self._transaction(lambda: handler(params, poller), operation)
            return self._transaction(lambda: handler(params), operation)

    def _transaction(self, body: Callable[[], dict], where: str = "timer") -> dict:
        self._dirty = {}
        self._dirty_acts = {}
        try:
            result = body()
            if self.store.closed:  # a poll woken by close(): it changed nothing
                return result
            self.flush()
        except SWFFault:
            if self._dirty or self._dirty_acts:  # a fault after a change: keep none of it
                self._restore()
            else:
                self.store.rollback()
            raise
        except Exception as exc:  # noqa: BLE001 - logged (rate-limited), answered as a 500
            database_error = isinstance(exc, sqlite3.Error)
            what = f"database error ({exc})" if database_error else \
                f"unexpected error ({type(exc).__name__})"
            self.errors.error(where, exc, f"local endpoint: {what} in {where}; the call "
                              f"failed (500) and the state is reloaded from {self.database}")
            self._restore()
            raise SWFFault("InternalFailure", f"Internal error in {where}", 500) from None
        return result

    def flush(self) -> None:
        """Write what the current transaction changed, and commit.

        Called at the end of every transaction, and by a poll before it waits
        (again): the lock is released while waiting and other transactions start
        afresh, so nothing may stay unwritten across a wait.
        """
        for (run_id, scheduled_id), act in self._dirty_acts.items():
            self.store.save_activity(run_id, scheduled_id, act)
        states = []
        for ex in self._dirty.values():
            states.append(self.store.save_execution(ex))
            if not ex.is_open:
                self.store.drop_activities(ex.run_id)
        self.store.commit()
        for ex, state in zip(self._dirty.values(), states):
            ex.persisted = len(ex.events)
            ex.stored_state = state
        self._dirty = {}
        self._dirty_acts = {}

    def _restore(self) -> None:
        """Throw away what the failed transaction did: rebuild memory from SQLite.

        If that fails too (the file is unreadable now), the engine is marked broken:
        calls answer 500 and retry the reload at most once a second.
        """
        self._dirty = {}
        self._dirty_acts = {}
        self._batch_run = None
        self.queues.clear()
        self.timers.clear()
        try:
            self.store.rollback()
            self._load()
        except Exception as exc:  # noqa: BLE001 - reported; retried by the next call
            if self._broken_since is None:
                self._broken_since = time.monotonic()
            self._reload_at = time.monotonic() + RELOAD_RETRY_SECONDS
            self.errors.error("reload", exc, f"local endpoint: cannot reload the state from "
                              f"{self.database} ({type(exc).__name__}: {exc}); every call "
                              "fails (500) until it can")
        else:
            if self._broken_since is not None:
                log.warning("local endpoint: state reloaded from %s after %.0fs of errors",
                            self.database, time.monotonic() - self._broken_since)
            self._broken_since = None
        self.queues.wake_all()

    def _retry_reload(self) -> None:
        if time.monotonic() >= self._reload_at:
            self._restore()
        if self._broken_since is not None:
            raise SWFFault("InternalFailure", "Internal error: the database is unavailable", 500)

    def _load(self) -> None:
        self.domains = self.store.load_domains()
        self.types = self.store.load_types()
        self.open_runs: dict[str, Execution] = {}
        self.open_by_wid: dict[tuple[str, str], Execution] = {}
        self.open_count: dict[str, int] = {}
        self.next_seq = self.store.max_seq() + 1
        for ex in self.store.load_open_executions():
            self._register_open(ex)
            self._rearm(ex)

    def _register_open(self, ex: Execution) -> None:
        self.open_runs[ex.run_id] = ex
        self.open_by_wid[(ex.domain, ex.workflow_id)] = ex
        self.open_count[ex.domain] = self.open_count.get(ex.domain, 0) + 1

    def _unregister_open(self, ex: Execution) -> None:
        self.open_runs.pop(ex.run_id, None)
        if self.open_by_wid.get((ex.domain, ex.workflow_id)) is ex:
            del self.open_by_wid[(ex.domain, ex.workflow_id)]
        self.open_count[ex.domain] = self.open_count.get(ex.domain, 1) - 1

    def _rearm(self, ex: Execution) -> None:
        """Queue the tasks and arm the clocks of an execution loaded from SQLite."""
        deadline = ex.deadline()
        if deadline is not None:
            self.timers.add(deadline, "execution", ex.run_id)
        d = ex.decision
        if d is not None:
            if not d.started_id:
                self.queues.push("D", ex.domain, d.task_list, d.priority, ex.run_id,
                                 d.scheduled_id)
            self._arm_decision(ex)
        for act in ex.activities.values():
            if not act.started_id:
                self.queues.push("A", ex.domain, act.task_list, act.priority, ex.run_id,
                                 act.scheduled_id)
            for when, kind in act.deadlines():
                self.timers.add(when, "activity", ex.run_id, (act.scheduled_id, kind))
        for timer in ex.timers.values():
            self.timers.add(timer.fire_at, "timer", ex.run_id, (timer.timer_id, timer.started_id))

    def stop_handing_out(self) -> None:
        """Hand out no more tasks: waiting polls answer empty now, new polls at once.

        For an endpoint whose supervisor died: the workers still running answer
        the tasks they hold (responds, heartbeats, describe, ... are served), but
        no task is assigned to a poll nobody may be left to act on; a task stays
        scheduled (or times out) for a successor to hand out.
        """
        with self.lock:
            self.handing_out = False
            self.queues.wake_all()

    def close(self) -> None:
        """Stop the clocks, answer waiting polls empty, release the database."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            self.queues.wake_all()
        self.timers.stop()
        self.retention.stop()
        self.store.stop_checkpoints()  # not under the lock: the checkpointer may wait for it
        with self.lock:
            self.store.close()

    # -- helpers shared by the mixins -----------------------------------------------

    def now(self) -> float:
        """The engine's epoch time in milliseconds' precision (see ``clock``)."""
        return round(self.clock(), 3)

    def add_event(self, ex: Execution, event_type: str, attrs: dict) -> int:
        """Append an event to ``ex``'s history; returns its eventId (0 if none was added).

        SWF's quota is 25,000 events per history: the event that would be the
        25,000th is replaced by WorkflowExecutionTerminated (cause
        EVENT_LIMIT_EXCEEDED). A closed history takes no more events, so the rest
        of a decision batch that hit the quota changes nothing.
        """
        if not ex.is_open:
            return 0
        if len(ex.events) >= MAX_EVENTS - 1 and event_type != "WorkflowExecutionTerminated":
            self.terminate(ex, reason=None, details=None, child_policy=ex.child_policy,
                           cause="EVENT_LIMIT_EXCEEDED")
            return 0
        event_id = len(ex.events) + 1
        ex.events.append(Event({
            "eventTimestamp": self.now(),
            "eventType": event_type,
            "eventId": event_id,
            attributes_key(event_type): compact(attrs),
        }))
        self._dirty[ex.run_id] = ex
        return event_id

    def touch(self, ex: Execution) -> None:
        self._dirty[ex.run_id] = ex

    def save_activity(self, ex: Execution, act: Activity) -> None:
        """Note that ``act`` (open in ``ex``) changed; written at commit."""
        ex.activities[act.activity_id] = act
        ex.by_scheduled[act.scheduled_id] = act
        self._dirty_acts[(ex.run_id, act.scheduled_id)] = act

    def drop_activity(self, ex: Execution, act: Activity) -> None:
        """Close ``act``: gone from ``ex`` and, at commit, from SQLite."""
        del ex.activities[act.activity_id]
        ex.by_scheduled.pop(act.scheduled_id, None)
        self._dirty_acts[(ex.run_id, act.scheduled_id)] = None

    def _fire_timer(self, kind: str, run_id: str, ref: object, deadline: float) -> None:
        if self.closed or self._broken_since is not None:
            return
        ex = self.open_runs.get(run_id)
        if ex is None:
            return
        self._transaction(lambda: self.fire(kind, ex, ref) or {}, f"{kind} timer")

    def _timer_live(self, kind: str, run_id: str, ref: object) -> bool:
        """False for a timer entry whose cause is gone (checked when the heap is filtered)."""
        ex = self.open_runs.get(run_id)
        if ex is None:
            return False
        if kind == "activity":
            return ex.activity_by_scheduled(ref[0]) is not None
        if kind == "decision":
            return ex.decision is not None and ex.decision.scheduled_id == ref[0]
        if kind == "timer":
            timer = ex.timers.get(ref[0])
            return timer is not None and timer.started_id == ref[1]
        return True
