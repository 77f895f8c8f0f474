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
  deleted by a sweep every minute.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from swfd.local.decisions import DecisionOps
from swfd.local.faults import SWFFault
from swfd.local.query_ops import QueryOps
from swfd.local.registry_ops import RegistryOps
from swfd.local.state import MAX_EVENTS, Activity, Execution, attributes_key, compact, now
from swfd.local.store import EndpointLockedError, SchemaVersionError, Store
from swfd.local.task_ops import TaskOps
from swfd.local.tasks import TaskQueues
from swfd.local.timers import TimerSchedule
from swfd.local.workflow_ops import WorkflowOps

__all__ = ["EndpointLockedError", "Engine", "SchemaVersionError"]

log = logging.getLogger(__name__)

RETENTION_SWEEP_SECONDS = 60.0


class Engine(RegistryOps, WorkflowOps, TaskOps, DecisionOps, QueryOps):
    """Every SWF operation on state kept in memory and written through to SQLite."""

    def __init__(self, database: str, poll_timeout: float = 60.0) -> None:
        self.database = database
        self.poll_timeout = poll_timeout
        self.lock = threading.RLock()
        self.closed = False
        # False once the endpoint is orphaned (its supervisor is gone): every poll is
        # answered empty and no task is assigned; every other operation is served.
        self.handing_out = True
        self.store = Store(database)
        self.queues = TaskQueues(self.lock)
        self.timers = TimerSchedule(self.lock, self._fire_timer, self._timer_live)
        self._dirty: dict[str, Execution] = {}
        self._dirty_acts: dict[tuple[str, int], Activity | None] = {}
        self._batch_run: str | None = None
        with self.lock:
            self._load()
            self.timers.add(now(), "retention", "")
            self.timers.start()

    # -- plumbing -------------------------------------------------------------------

    def call(self, operation: str, params: dict) -> dict:
        """Run one SWF operation on an already validated request body."""
        handler: Callable[[dict], dict] | None = getattr(self, f"op_{operation}", None)
        if handler is None:
            raise SWFFault("UnknownOperationException", f"Unknown operation {operation}")
        with self.lock:
            if self.closed:
                raise SWFFault("ServiceUnavailable", "the local endpoint is shutting down", 503)
            return self._transaction(lambda: handler(params))

    def _transaction(self, body: Callable[[], dict]) -> dict:
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
        except BaseException:
            log.exception("local endpoint: transaction failed; reloading state from SQLite")
            self._restore()
            raise
        return result

    def flush(self) -> None:
        """Write what the current transaction changed, and commit.

        Called at the end of every transaction, and by a poll before it waits
        (again): the lock is released while waiting and other transactions start
        afresh, so nothing may stay unwritten across a wait.
        """
        for (run_id, scheduled_id), act in self._dirty_acts.items():
            self.store.save_activity(run_id, scheduled_id, act)
        for ex in self._dirty.values():
            self.store.save_execution(ex)
            if not ex.is_open:
                self.store.drop_activities(ex.run_id)
        self.store.commit()
        for ex in self._dirty.values():
            ex.persisted = len(ex.events)
        self._dirty = {}
        self._dirty_acts = {}

    def _restore(self) -> None:
        self.store.rollback()
        self._dirty = {}
        self._dirty_acts = {}
        self._batch_run = None
        self.queues.clear()
        self.timers.clear()
        self._load()
        self.timers.add(now(), "retention", "")
        self.queues.wake_all()

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
        with self.lock:
            self.store.close()

    # -- helpers shared by the mixins -----------------------------------------------

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
        ex.events.append({
            "eventTimestamp": now(),
            "eventType": event_type,
            "eventId": event_id,
            attributes_key(event_type): compact(attrs),
        })
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
        if self.closed:
            return
        if kind == "retention":
            self._transaction(self._purge_expired)
            self.timers.add(now() + RETENTION_SWEEP_SECONDS, "retention", "")
            return
        ex = self.open_runs.get(run_id)
        if ex is None:
            return
        self._transaction(lambda: self.fire(kind, ex, ref) or {})

    def _timer_live(self, kind: str, run_id: str, ref: object) -> bool:
        """False for a timer entry whose cause is gone (checked when the heap is filtered)."""
        if kind == "retention":
            return True
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

    def _purge_expired(self) -> dict:
        for dom in list(self.domains.values()):
            self.store.purge_closed(dom["name"], now() - self.retention_seconds(dom))
        return {}
