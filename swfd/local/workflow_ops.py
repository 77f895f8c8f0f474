"""Execution lifecycle: start, decision scheduling, close, child policies, timeouts.

Why these live together: starting (StartWorkflowExecution, a child, a
continue-as-new run) and closing (a close decision, terminate, a timeout, a
child policy) have many callers, and SWF's rules for them (defaults taken from
the type, the parent told when a child closes, children handled by the child
policy, clocks and tasks dropped) must be the same for every caller.
"""

from __future__ import annotations

from swfd.local.faults import SWFFault
from swfd.local.state import (
    MAX_OPEN_EXECUTIONS_PER_DOMAIN,
    DecisionTask,
    Execution,
    new_run_id,
    priority,
    seconds,
)

# Causes a start can fail with, and the fault StartWorkflowExecution answers for each.
_START_FAULTS = {
    "WORKFLOW_TYPE_DOES_NOT_EXIST": "UnknownResourceFault",
    "WORKFLOW_TYPE_DEPRECATED": "TypeDeprecatedFault",
    "WORKFLOW_ALREADY_RUNNING": "WorkflowExecutionAlreadyStartedFault",
    "OPEN_WORKFLOWS_LIMIT_EXCEEDED": "LimitExceededFault",
    "DEFAULT_TASK_LIST_UNDEFINED": "DefaultUndefinedFault",
    "DEFAULT_EXECUTION_START_TO_CLOSE_TIMEOUT_UNDEFINED": "DefaultUndefinedFault",
    "DEFAULT_TASK_START_TO_CLOSE_TIMEOUT_UNDEFINED": "DefaultUndefinedFault",
    "DEFAULT_CHILD_POLICY_UNDEFINED": "DefaultUndefinedFault",
}

# The messages of start faults: the service's form where it is known (the unknown and
# deprecated type), else the fault's own words from the API reference, shortest form.
_START_MESSAGES = {
    "WORKFLOW_TYPE_DOES_NOT_EXIST": "Unknown type: {type}",
    "WORKFLOW_TYPE_DEPRECATED": "{type}",
    "WORKFLOW_ALREADY_RUNNING": "WorkflowExecution=[workflowId={wid}] is already running",
    "OPEN_WORKFLOWS_LIMIT_EXCEEDED": "Open workflow executions limit exceeded",
}


def _start_message(cause: str, p: dict) -> str:
    wt = p["workflowType"]
    text = _START_MESSAGES.get(cause)
    if text is None:  # DEFAULT_*_UNDEFINED: the parameter that has no default
        return cause.replace("DEFAULT_", "default ").replace("_UNDEFINED", " undefined") \
            .replace("_", " ").lower().capitalize() + \
            f" for WorkflowType=[name={wt['name']}, version={wt['version']}]"
    return text.format(type=f"WorkflowType=[name={wt['name']}, version={wt['version']}]",
                       wid=p["workflowId"])


# The event a parent records when its child closes with this event.
_CHILD_CLOSE_EVENTS = {
    "WorkflowExecutionCompleted": ("ChildWorkflowExecutionCompleted", ("result",)),
    "WorkflowExecutionFailed": ("ChildWorkflowExecutionFailed", ("reason", "details")),
    "WorkflowExecutionCanceled": ("ChildWorkflowExecutionCanceled", ("details",)),
    "WorkflowExecutionTimedOut": ("ChildWorkflowExecutionTimedOut", ("timeoutType",)),
    "WorkflowExecutionTerminated": ("ChildWorkflowExecutionTerminated", ()),
}


class WorkflowOps:
    """Mixin of :class:`~swfd.local.engine.Engine`."""

    # -- starting -------------------------------------------------------------------

    def resolve_start(self, domain: str, workflow_type: dict, p: dict) -> dict | str:
        """Fill a start request's blanks from the type's defaults; a failure cause if it can't.

        ``p`` uses the StartWorkflowExecution member names (also those of the
        child and continue-as-new decision attributes).
        """
        typ = self.type_of("workflow", domain, workflow_type)
        if typ is None:
            return "WORKFLOW_TYPE_DOES_NOT_EXIST"
        if typ["status"] != "REGISTERED":
            return "WORKFLOW_TYPE_DEPRECATED"
        cfg = typ["configuration"]
        task_list = (p.get("taskList") or {}).get("name") or \
            (cfg.get("defaultTaskList") or {}).get("name")
        if not task_list:
            return "DEFAULT_TASK_LIST_UNDEFINED"
        exec_timeout = p.get("executionStartToCloseTimeout") or \
            cfg.get("defaultExecutionStartToCloseTimeout")
        if not exec_timeout:
            return "DEFAULT_EXECUTION_START_TO_CLOSE_TIMEOUT_UNDEFINED"
        task_timeout = p.get("taskStartToCloseTimeout") or \
            cfg.get("defaultTaskStartToCloseTimeout")
        if not task_timeout:
            return "DEFAULT_TASK_START_TO_CLOSE_TIMEOUT_UNDEFINED"
        child_policy = p.get("childPolicy") or cfg.get("defaultChildPolicy")
        if not child_policy:
            return "DEFAULT_CHILD_POLICY_UNDEFINED"
        return {
            "workflowType": {"name": workflow_type["name"], "version": workflow_type["version"]},
            "taskList": task_list,
            "taskPriority": p.get("taskPriority") or cfg.get("defaultTaskPriority"),
            "executionStartToCloseTimeout": exec_timeout,
            "taskStartToCloseTimeout": task_timeout,
            "childPolicy": child_policy,
            "lambdaRole": p.get("lambdaRole") or cfg.get("defaultLambdaRole"),
            "tagList": list(p.get("tagList") or []),
            "input": p.get("input"),
        }

    def check_startable(self, domain: str, workflow_id: str) -> str | None:
        if (domain, workflow_id) in self.open_by_wid:
            return "WORKFLOW_ALREADY_RUNNING"
        if self.open_count.get(domain, 0) >= MAX_OPEN_EXECUTIONS_PER_DOMAIN:
            return "OPEN_WORKFLOWS_LIMIT_EXCEEDED"
        return None

    def create_execution(
        self, domain: str, workflow_id: str, r: dict, *, run_id: str | None = None,
        parent: dict | None = None, parent_initiated_id: int = 0,
        continued_from: str | None = None,
    ) -> Execution:
        """Start a run from resolved parameters: WorkflowExecutionStarted + a decision task."""
        ex = Execution(
            run_id=run_id or new_run_id(), workflow_id=workflow_id, domain=domain,
            workflow_type=r["workflowType"], task_list=r["taskList"],
            priority=r["taskPriority"], execution_timeout=r["executionStartToCloseTimeout"],
            task_timeout=r["taskStartToCloseTimeout"], child_policy=r["childPolicy"],
            lambda_role=r["lambdaRole"], tags=r["tagList"], start_ts=self.now(),
            parent=parent, parent_initiated_id=parent_initiated_id, seq=self.next_seq,
        )
        self.next_seq += 1
        self.add_event(ex, "WorkflowExecutionStarted", {
            "input": r["input"],
            "executionStartToCloseTimeout": ex.execution_timeout,
            "taskStartToCloseTimeout": ex.task_timeout,
            "childPolicy": ex.child_policy,
            "taskList": {"name": ex.task_list},
            "taskPriority": ex.priority,
            "workflowType": ex.workflow_type,
            "tagList": ex.tags or None,
            "continuedExecutionRunId": continued_from,
            "parentWorkflowExecution": parent,
            "parentInitiatedEventId": parent_initiated_id,  # SWF sends 0 for a top-level run
            "lambdaRole": ex.lambda_role,
        })
        ex.start_ts = ex.events[0]["eventTimestamp"]
        self._register_open(ex)
        deadline = ex.deadline()
        if deadline is not None:
            self.timers.add(deadline, "execution", ex.run_id)
        self.schedule_decision(ex)
        return ex

    def op_StartWorkflowExecution(self, p: dict) -> dict:
        domain = p["domain"]
        self.domain(domain)
        resolved = self.resolve_start(domain, p["workflowType"], p)
        cause = resolved if isinstance(resolved, str) else \
            self.check_startable(domain, p["workflowId"])
        if cause:
            raise SWFFault(_START_FAULTS[cause], _start_message(cause, p))
        ex = self.create_execution(domain, p["workflowId"], resolved)
        return {"runId": ex.run_id}

    # -- decision tasks -------------------------------------------------------------

    def schedule_decision(self, ex: Execution) -> None:
        """Ask for a decision: a new task, folded into a scheduled one, or after the started one.

        While a decision batch of ``ex`` is being applied the request is only
        noted, so the new DecisionTaskScheduled follows the batch's events.
        """
        if not ex.is_open:
            return
        if ex.decision is not None or self._batch_run == ex.run_id:
            if ex.decision is None or ex.decision.started_id:
                ex.decision_pending = True
            return
        ex.decision_pending = False
        task_list, s2s = ex.task_list, None
        if ex.override:
            task_list, s2s = ex.override["name"], ex.override.get("timeout")
        scheduled_id = self.add_event(ex, "DecisionTaskScheduled", {
            "taskList": {"name": task_list},
            "taskPriority": ex.priority,
            "startToCloseTimeout": ex.task_timeout,
            "scheduleToStartTimeout": s2s,
        })
        if not scheduled_id:  # the history reached its quota: terminated instead
            return
        ex.decision = DecisionTask(
            scheduled_id=scheduled_id, task_list=task_list, priority=priority(ex.priority),
            start_to_close=ex.task_timeout, schedule_to_start=s2s,
            scheduled_at=ex.events[-1]["eventTimestamp"],
        )
        self.queues.push("D", ex.domain, task_list, ex.decision.priority, ex.run_id,
                         scheduled_id)
        self._arm_decision(ex)

    def _arm_decision(self, ex: Execution) -> None:
        d = ex.decision
        if d is None:
            return
        if d.started_id:
            limit = seconds(d.start_to_close)
            if limit is not None:
                self.timers.add(d.started_at + limit, "decision", ex.run_id,
                                (d.scheduled_id, "START_TO_CLOSE"))
        else:
            limit = seconds(d.schedule_to_start)
            if limit is not None:
                self.timers.add(d.scheduled_at + limit, "decision", ex.run_id,
                                (d.scheduled_id, "SCHEDULE_TO_START"))

    # -- closing --------------------------------------------------------------------

    def close_execution(self, ex: Execution, event_type: str, attrs: dict, status: str,
                        child_policy: str | None = None, notify_parent: bool = True) -> int:
        """Record the closing event, drop tasks and clocks, apply the child policy.

        Returns the closing event's id, or 0 when the history's quota closed the
        execution (terminated) instead.
        """
        event_id = self.add_event(ex, event_type, attrs)
        if not event_id:
            return 0
        ex.close_status = status
        ex.close_ts = ex.events[-1]["eventTimestamp"]
        ex.decision = None
        ex.decision_pending = False
        ex.clear_activities()
        ex.timers.clear()
        self._unregister_open(ex)
        children, ex.children = list(ex.children.values()), {}
        policy = child_policy or ex.child_policy
        for child in children:
            target = self.open_runs.get(child.run_id)
            if target is None:
                continue
            if policy == "TERMINATE":
                self.terminate(target, None, None, target.child_policy, "CHILD_POLICY_APPLIED")
            elif policy == "REQUEST_CANCEL":
                self.request_cancel(target, cause="CHILD_POLICY_APPLIED")
        if notify_parent and ex.parent:
            self._tell_parent(ex, event_type, attrs)
        return event_id

    def _tell_parent(self, ex: Execution, event_type: str, attrs: dict) -> None:
        parent = self.open_runs.get(ex.parent["runId"])
        if parent is None:
            return
        child = parent.children.get(ex.workflow_id)
        if child is None or child.run_id != ex.run_id:
            return
        parent_event, members = _CHILD_CLOSE_EVENTS[event_type]
        body = {
            "workflowExecution": ex.ref, "workflowType": ex.workflow_type,
            "initiatedEventId": child.initiated_id, "startedEventId": child.started_id,
        }
        body.update({m: attrs.get(m) for m in members})
        del parent.children[ex.workflow_id]
        self.add_event(parent, parent_event, body)
        self.schedule_decision(parent)

    def terminate(self, ex: Execution, reason: str | None, details: str | None,
                  child_policy: str, cause: str | None) -> None:
        self.close_execution(ex, "WorkflowExecutionTerminated", {
            "reason": reason, "details": details, "childPolicy": child_policy, "cause": cause,
        }, "TERMINATED", child_policy=child_policy)

    def request_cancel(self, ex: Execution, external: dict | None = None,
                       external_initiated_id: int | None = None,
                       cause: str | None = None) -> None:
        self.add_event(ex, "WorkflowExecutionCancelRequested", {
            "externalWorkflowExecution": external,
            "externalInitiatedEventId": external_initiated_id, "cause": cause,
        })
        ex.cancel_requested = True
        self.schedule_decision(ex)

    # -- operations on an execution by id -------------------------------------------

    def find_open(self, domain: str, workflow_id: str, run_id: str | None) -> Execution:
        self.domain(domain, registered=False)
        ex = self.open_by_wid.get((domain, workflow_id))
        if ex is None or (run_id and ex.run_id != run_id):
            raise SWFFault(
                "UnknownResourceFault",
                f"Unknown execution: WorkflowExecution=[workflowId={workflow_id}, "
                f"runId={run_id or ''}]",
            )
        return ex

    def op_SignalWorkflowExecution(self, p: dict) -> dict:
        ex = self.find_open(p["domain"], p["workflowId"], p.get("runId"))
        self.add_event(ex, "WorkflowExecutionSignaled",
                       {"signalName": p["signalName"], "input": p.get("input")})
        self.schedule_decision(ex)
        return {}

    def op_RequestCancelWorkflowExecution(self, p: dict) -> dict:
        ex = self.find_open(p["domain"], p["workflowId"], p.get("runId"))
        self.request_cancel(ex)
        return {}

    def op_TerminateWorkflowExecution(self, p: dict) -> dict:
        ex = self.find_open(p["domain"], p["workflowId"], p.get("runId"))
        self.terminate(ex, p.get("reason"), p.get("details"),
                       p.get("childPolicy") or ex.child_policy, "OPERATOR_INITIATED")
        return {}

    # -- clocks ---------------------------------------------------------------------

    def fire(self, kind: str, ex: Execution, ref: object) -> None:
        """A clock came due (called by the timer thread inside a transaction)."""
        if kind == "execution":
            deadline = ex.deadline()
            if deadline is None:
                return
            if self.now() < deadline - 0.001:  # early (clock step): wait for the real deadline
                self.timers.add(deadline, "execution", ex.run_id)
                return
            self.close_execution(ex, "WorkflowExecutionTimedOut", {
                "timeoutType": "START_TO_CLOSE", "childPolicy": ex.child_policy,
            }, "TIMED_OUT")
        elif kind == "timer":
            timer_id, started_id = ref
            timer = ex.timers.get(timer_id)
            if timer is not None and timer.started_id == started_id:
                del ex.timers[timer_id]
                self.add_event(ex, "TimerFired",
                               {"timerId": timer_id, "startedEventId": started_id})
                self.schedule_decision(ex)
        elif kind == "decision":
            self._decision_timeout(ex, *ref)
        elif kind == "activity":
            self._activity_timeout(ex, *ref)

    def _decision_timeout(self, ex: Execution, scheduled_id: int, timeout_type: str) -> None:
        d = ex.decision
        if d is None or d.scheduled_id != scheduled_id:
            return
        if (timeout_type == "START_TO_CLOSE") != bool(d.started_id):
            return
        ex.decision = None
        if timeout_type == "SCHEDULE_TO_START":
            ex.override = None  # a timed-out task list override falls back to the default
        self.add_event(ex, "DecisionTaskTimedOut", {
            "timeoutType": timeout_type, "scheduledEventId": d.scheduled_id,
            "startedEventId": d.started_id,
        })
        self.schedule_decision(ex)

    def _activity_timeout(self, ex: Execution, scheduled_id: int, timeout_type: str) -> None:
        act = ex.activity_by_scheduled(scheduled_id)
        if act is None:
            return
        if timeout_type == "SCHEDULE_TO_START" and act.started_id:
            return
        if timeout_type in ("START_TO_CLOSE", "HEARTBEAT") and not act.started_id:
            return
        if timeout_type == "HEARTBEAT":
            if act.heartbeat_deadline is None:
                return
            if act.heartbeat_deadline > self.now():  # a heartbeat moved it: wait again
                self.timers.add(act.heartbeat_deadline, "activity", ex.run_id,
                                (scheduled_id, "HEARTBEAT"))
                return
        self.drop_activity(ex, act)
        self.add_event(ex, "ActivityTaskTimedOut", {
            "timeoutType": timeout_type, "scheduledEventId": act.scheduled_id,
            "startedEventId": act.started_id, "details": act.details,
        })
        self.schedule_decision(ex)
