"""RespondDecisionTaskCompleted: check the batch, then apply each decision in order.

Why two phases: SWF rejects a malformed batch whole (a close decision that is
not last, a decision without the attributes its type needs), so the whole
batch is checked before anything changes. After that each decision is either
carried out or records its own ``*Failed`` event with SWF's cause, and the
rest of the batch still applies; everything is one transaction (see
``engine.py``).

A close decision (complete, fail, cancel, continue-as-new) fails with
``UNHANDLED_DECISION`` when events that need a decision arrived while the
decision task was running; a new decision task is then scheduled so the
decider sees them.

ScheduleLambdaFunction: this endpoint runs no Lambda functions, so the
decision always records ``ScheduleLambdaFunctionFailed`` with cause
``LAMBDA_SERVICE_NOT_AVAILABLE_IN_REGION`` -- the closest member of SWF's
``ScheduleLambdaFunctionFailedCause`` enum (which has no
``OPERATION_NOT_PERMITTED``) -- and schedules a decision task so the decider
learns of it.
"""

from __future__ import annotations

from swfd.local.faults import SWFFault
from swfd.local.state import (
    MAX_OPEN_ACTIVITIES,
    MAX_OPEN_CHILDREN,
    MAX_OPEN_TIMERS,
    Activity,
    Child,
    Execution,
    Timer,
    decode_task_token,
    new_run_id,
    priority,
    seconds,
)

CLOSE_DECISIONS = (
    "CompleteWorkflowExecution", "FailWorkflowExecution", "CancelWorkflowExecution",
    "ContinueAsNewWorkflowExecution",
)
# Members each decision's attributes must carry (from botocore's model).
_REQUIRED = {
    "ScheduleActivityTask": ("activityType", "activityId"),
    "ScheduleLambdaFunction": ("id", "name"),
    "RequestCancelActivityTask": ("activityId",),
    "CompleteWorkflowExecution": (),
    "FailWorkflowExecution": (),
    "CancelWorkflowExecution": (),
    "ContinueAsNewWorkflowExecution": (),
    "RecordMarker": ("markerName",),
    "StartTimer": ("timerId", "startToFireTimeout"),
    "CancelTimer": ("timerId",),
    "SignalExternalWorkflowExecution": ("workflowId", "signalName"),
    "RequestCancelExternalWorkflowExecution": ("workflowId",),
    "StartChildWorkflowExecution": ("workflowType", "workflowId"),
}
_ACTIVITY_DEFAULTS = (
    ("scheduleToStartTimeout", "defaultTaskScheduleToStartTimeout",
     "DEFAULT_SCHEDULE_TO_START_TIMEOUT_UNDEFINED"),
    ("scheduleToCloseTimeout", "defaultTaskScheduleToCloseTimeout",
     "DEFAULT_SCHEDULE_TO_CLOSE_TIMEOUT_UNDEFINED"),
    ("startToCloseTimeout", "defaultTaskStartToCloseTimeout",
     "DEFAULT_START_TO_CLOSE_TIMEOUT_UNDEFINED"),
    ("heartbeatTimeout", "defaultTaskHeartbeatTimeout", "DEFAULT_HEARTBEAT_TIMEOUT_UNDEFINED"),
)


def attributes_member(decision_type: str) -> str:
    return decision_type[0].lower() + decision_type[1:] + "DecisionAttributes"


def check_batch(decisions: list[dict]) -> list[tuple[str, dict]]:
    """The batch as (decisionType, attributes); ValidationException if it is malformed."""
    out = []
    for index, decision in enumerate(decisions):
        where = f"decisions.{index + 1}.member"
        kind = decision.get("decisionType")
        if kind not in _REQUIRED:
            raise SWFFault("ValidationException", f"{where}.decisionType: unknown type {kind!r}")
        attrs = decision.get(attributes_member(kind))
        if attrs is None and _REQUIRED[kind]:
            raise SWFFault(
                "ValidationException",
                f"{where}: decision {kind} requires {attributes_member(kind)}",
            )
        attrs = attrs or {}
        for member in _REQUIRED[kind]:
            if attrs.get(member) in (None, ""):
                raise SWFFault(
                    "ValidationException",
                    f"{where}.{attributes_member(kind)}.{member}: required for {kind}",
                )
        if kind in CLOSE_DECISIONS and index != len(decisions) - 1:
            raise SWFFault(
                "ValidationException",
                f"{where}: Close must be last decision in list ({kind} at position "
                f"{index + 1} of {len(decisions)})",
            )
        out.append((kind, attrs))
    return out


class DecisionOps:
    """Mixin of :class:`~swfd.local.engine.Engine`."""

    def op_RespondDecisionTaskCompleted(self, p: dict) -> dict:
        ex, d = self._started_decision(p["taskToken"])
        batch = check_batch(p.get("decisions") or [])
        completed = {
            "executionContext": p.get("executionContext"),
            "scheduledEventId": d.scheduled_id, "startedEventId": d.started_id,
        }
        if p.get("taskList"):
            completed["taskList"] = p["taskList"]
            completed["taskListScheduleToStartTimeout"] = p.get("taskListScheduleToStartTimeout")
            if p.get("taskListScheduleToStartTimeout"):
                ex.override = {"name": p["taskList"]["name"],
                               "timeout": p["taskListScheduleToStartTimeout"]}
            else:
                ex.task_list, ex.override = p["taskList"]["name"], None
        cid = self.add_event(ex, "DecisionTaskCompleted", completed)
        unhandled = ex.decision_pending
        ex.decision = None
        ex.decision_pending = False
        ex.previous_started = d.started_id
        if p.get("executionContext") is not None:
            ex.latest_context = p["executionContext"]
        self._batch_run = ex.run_id
        try:
            for kind, attrs in batch:
                if not ex.is_open:  # the history reached its quota: the rest is moot
                    break
                getattr(self, f"_d_{kind}")(ex, attrs, cid, unhandled)
        finally:
            self._batch_run = None
        if ex.is_open and (unhandled or ex.decision_pending):
            ex.decision_pending = False
            self.schedule_decision(ex)
        return {}

    def _started_decision(self, token: str):
        run_id, scheduled_id, started_id = decode_task_token(token, "D")
        ex = self.open_runs.get(run_id)
        d = ex.decision if ex is not None else None
        if d is None or d.scheduled_id != scheduled_id or d.started_id != started_id:
            raise SWFFault("UnknownResourceFault", "Unknown decision task")
        return ex, d

    def _failed(self, ex: Execution, event_type: str, attrs: dict) -> None:
        self.add_event(ex, event_type, attrs)
        self.schedule_decision(ex)

    # -- activities -----------------------------------------------------------------

    def _d_ScheduleActivityTask(self, ex: Execution, a: dict, cid: int, _u: bool) -> None:
        def fail(cause: str) -> None:
            self._failed(ex, "ScheduleActivityTaskFailed", {
                "activityType": a["activityType"], "activityId": a["activityId"],
                "cause": cause, "decisionTaskCompletedEventId": cid,
            })

        typ = self.type_of("activity", ex.domain, a["activityType"])
        if typ is None:
            return fail("ACTIVITY_TYPE_DOES_NOT_EXIST")
        if typ["status"] != "REGISTERED":
            return fail("ACTIVITY_TYPE_DEPRECATED")
        if a["activityId"] in ex.activities:
            return fail("ACTIVITY_ID_ALREADY_IN_USE")
        if len(ex.activities) >= MAX_OPEN_ACTIVITIES:
            return fail("OPEN_ACTIVITIES_LIMIT_EXCEEDED")
        cfg = typ["configuration"]
        task_list = (a.get("taskList") or {}).get("name") or \
            (cfg.get("defaultTaskList") or {}).get("name")
        if not task_list:
            return fail("DEFAULT_TASK_LIST_UNDEFINED")
        timeouts = {}
        for member, default, cause in _ACTIVITY_DEFAULTS:
            timeouts[member] = a.get(member) or cfg.get(default)
            if not timeouts[member]:
                return fail(cause)
        prio = a.get("taskPriority") or cfg.get("defaultTaskPriority")
        scheduled_id = self.add_event(ex, "ActivityTaskScheduled", {
            "activityType": a["activityType"], "activityId": a["activityId"],
            "input": a.get("input"), "control": a.get("control"), **timeouts,
            "taskList": {"name": task_list}, "taskPriority": prio,
            "decisionTaskCompletedEventId": cid,
        })
        if not scheduled_id:  # the history reached its quota and the execution closed
            return None
        act = Activity(
            activity_id=a["activityId"], scheduled_id=scheduled_id,
            activity_type=a["activityType"], task_list=task_list, priority=priority(prio),
            input=a.get("input"), schedule_to_start=timeouts["scheduleToStartTimeout"],
            schedule_to_close=timeouts["scheduleToCloseTimeout"],
            start_to_close=timeouts["startToCloseTimeout"],
            heartbeat=timeouts["heartbeatTimeout"],
            scheduled_at=ex.events[-1]["eventTimestamp"],
        )
        self.save_activity(ex, act)
        ex.latest_activity_ts = act.scheduled_at
        for when, timeout_type in act.deadlines():
            self.timers.add(when, "activity", ex.run_id, (scheduled_id, timeout_type))
        self.queues.push("A", ex.domain, task_list, act.priority, ex.run_id, scheduled_id)

    def _d_RequestCancelActivityTask(self, ex: Execution, a: dict, cid: int, _u: bool) -> None:
        act = ex.activities.get(a["activityId"])
        if act is None:
            return self._failed(ex, "RequestCancelActivityTaskFailed", {
                "activityId": a["activityId"], "cause": "ACTIVITY_ID_UNKNOWN",
                "decisionTaskCompletedEventId": cid,
            })
        requested = self.add_event(ex, "ActivityTaskCancelRequested", {
            "decisionTaskCompletedEventId": cid, "activityId": act.activity_id,
        })
        if act.started_id:
            act.cancel_requested_id = requested
            self.save_activity(ex, act)
            return None
        # Scheduled but not started: SWF cancels it at once.
        self.drop_activity(ex, act)
        self.add_event(ex, "ActivityTaskCanceled", {
            "scheduledEventId": act.scheduled_id, "startedEventId": 0,
            "latestCancelRequestedEventId": requested,
        })
        self.schedule_decision(ex)
        return None

    def _d_ScheduleLambdaFunction(self, ex: Execution, a: dict, cid: int, _u: bool) -> None:
        self._failed(ex, "ScheduleLambdaFunctionFailed", {
            "id": a["id"], "name": a["name"], "cause": "LAMBDA_SERVICE_NOT_AVAILABLE_IN_REGION",
            "decisionTaskCompletedEventId": cid,
        })

    # -- timers and markers ---------------------------------------------------------

    def _d_StartTimer(self, ex: Execution, a: dict, cid: int, _u: bool) -> None:
        cause = None
        if a["timerId"] in ex.timers:
            cause = "TIMER_ID_ALREADY_IN_USE"
        elif len(ex.timers) >= MAX_OPEN_TIMERS:
            cause = "OPEN_TIMERS_LIMIT_EXCEEDED"
        if cause:
            return self._failed(ex, "StartTimerFailed", {
                "timerId": a["timerId"], "cause": cause, "decisionTaskCompletedEventId": cid,
            })
        started = self.add_event(ex, "TimerStarted", {
            "timerId": a["timerId"], "control": a.get("control"),
            "startToFireTimeout": a["startToFireTimeout"], "decisionTaskCompletedEventId": cid,
        })
        if not started:  # the history reached its quota and the execution closed
            return None
        fire_at = ex.events[-1]["eventTimestamp"] + (seconds(a["startToFireTimeout"]) or 0.0)
        ex.timers[a["timerId"]] = Timer(a["timerId"], started, fire_at)
        self.timers.add(fire_at, "timer", ex.run_id, (a["timerId"], started))
        return None

    def _d_CancelTimer(self, ex: Execution, a: dict, cid: int, _u: bool) -> None:
        timer = ex.timers.pop(a["timerId"], None)
        if timer is None:
            return self._failed(ex, "CancelTimerFailed", {
                "timerId": a["timerId"], "cause": "TIMER_ID_UNKNOWN",
                "decisionTaskCompletedEventId": cid,
            })
        self.add_event(ex, "TimerCanceled", {
            "timerId": timer.timer_id, "startedEventId": timer.started_id,
            "decisionTaskCompletedEventId": cid,
        })
        return None

    def _d_RecordMarker(self, ex: Execution, a: dict, cid: int, _u: bool) -> None:
        self.add_event(ex, "MarkerRecorded", {
            "markerName": a["markerName"], "details": a.get("details"),
            "decisionTaskCompletedEventId": cid,
        })

    # -- closing the execution ------------------------------------------------------

    def _close_or_unhandled(self, ex: Execution, kind: str, unhandled: bool, cid: int) -> bool:
        if unhandled:
            self._failed(ex, f"{kind}Failed", {
                "cause": "UNHANDLED_DECISION", "decisionTaskCompletedEventId": cid,
            })
        return not unhandled

    def _d_CompleteWorkflowExecution(self, ex: Execution, a: dict, cid: int, u: bool) -> None:
        if self._close_or_unhandled(ex, "CompleteWorkflowExecution", u, cid):
            self.close_execution(ex, "WorkflowExecutionCompleted", {
                "result": a.get("result"), "decisionTaskCompletedEventId": cid,
            }, "COMPLETED")

    def _d_FailWorkflowExecution(self, ex: Execution, a: dict, cid: int, u: bool) -> None:
        if self._close_or_unhandled(ex, "FailWorkflowExecution", u, cid):
            self.close_execution(ex, "WorkflowExecutionFailed", {
                "reason": a.get("reason"), "details": a.get("details"),
                "decisionTaskCompletedEventId": cid,
            }, "FAILED")

    def _d_CancelWorkflowExecution(self, ex: Execution, a: dict, cid: int, u: bool) -> None:
        if self._close_or_unhandled(ex, "CancelWorkflowExecution", u, cid):
            self.close_execution(ex, "WorkflowExecutionCanceled", {
                "details": a.get("details"), "decisionTaskCompletedEventId": cid,
            }, "CANCELED")

    def _d_ContinueAsNewWorkflowExecution(self, ex: Execution, a: dict, cid: int,
                                          u: bool) -> None:
        if not self._close_or_unhandled(ex, "ContinueAsNewWorkflowExecution", u, cid):
            return
        wtype = {"name": ex.workflow_type["name"],
                 "version": a.get("workflowTypeVersion") or ex.workflow_type["version"]}
        resolved = self.resolve_start(ex.domain, wtype, a)
        if isinstance(resolved, str):
            return self._failed(ex, "ContinueAsNewWorkflowExecutionFailed", {
                "cause": resolved, "decisionTaskCompletedEventId": cid,
            })
        new_run = new_run_id()
        closed = self.close_execution(ex, "WorkflowExecutionContinuedAsNew", {
            "input": resolved["input"], "decisionTaskCompletedEventId": cid,
            "newExecutionRunId": new_run,
            "executionStartToCloseTimeout": resolved["executionStartToCloseTimeout"],
            "taskList": {"name": resolved["taskList"]}, "taskPriority": resolved["taskPriority"],
            "taskStartToCloseTimeout": resolved["taskStartToCloseTimeout"],
            "childPolicy": resolved["childPolicy"], "tagList": resolved["tagList"] or None,
            "workflowType": resolved["workflowType"], "lambdaRole": resolved["lambdaRole"],
        }, "CONTINUED_AS_NEW", notify_parent=False)
        if not closed:  # the history reached its quota: terminated, no new run
            return None
        self.create_execution(ex.domain, ex.workflow_id, resolved, run_id=new_run,
                              parent=ex.parent, parent_initiated_id=ex.parent_initiated_id,
                              continued_from=ex.run_id)
        if ex.parent:  # the parent now follows the new run
            parent = self.open_runs.get(ex.parent["runId"])
            child = parent.children.get(ex.workflow_id) if parent else None
            if child is not None and child.run_id == ex.run_id:
                child.run_id = new_run
                self.touch(parent)
        return None

    # -- other executions -----------------------------------------------------------

    def _d_StartChildWorkflowExecution(self, ex: Execution, a: dict, cid: int, _u: bool) -> None:
        def fail(cause: str, initiated: int = 0) -> None:
            self._failed(ex, "StartChildWorkflowExecutionFailed", {
                "workflowType": a["workflowType"], "cause": cause,
                "workflowId": a["workflowId"], "initiatedEventId": initiated,
                "decisionTaskCompletedEventId": cid, "control": a.get("control"),
            })

        if len(ex.children) >= MAX_OPEN_CHILDREN:
            return fail("OPEN_CHILDREN_LIMIT_EXCEEDED")
        resolved = self.resolve_start(ex.domain, a["workflowType"], a)
        if isinstance(resolved, str):
            return fail(resolved)
        initiated = self.add_event(ex, "StartChildWorkflowExecutionInitiated", {
            "workflowId": a["workflowId"], "workflowType": resolved["workflowType"],
            "control": a.get("control"), "input": resolved["input"],
            "executionStartToCloseTimeout": resolved["executionStartToCloseTimeout"],
            "taskList": {"name": resolved["taskList"]},
            "taskPriority": resolved["taskPriority"], "decisionTaskCompletedEventId": cid,
            "childPolicy": resolved["childPolicy"],
            "taskStartToCloseTimeout": resolved["taskStartToCloseTimeout"],
            "tagList": resolved["tagList"] or None, "lambdaRole": resolved["lambdaRole"],
        })
        if not initiated:  # the history reached its quota and the execution closed
            return None
        cause = self.check_startable(ex.domain, a["workflowId"])
        if cause:
            return fail(cause, initiated)
        child = self.create_execution(ex.domain, a["workflowId"], resolved, parent=ex.ref,
                                      parent_initiated_id=initiated)
        # Known as a child before its Started event, so that if that event hits the
        # quota and terminates the parent, the child policy still reaches the child.
        entry = ex.children[child.workflow_id] = Child(
            workflow_id=child.workflow_id, run_id=child.run_id,
            workflow_type=child.workflow_type, initiated_id=initiated, started_id=0,
        )
        entry.started_id = self.add_event(ex, "ChildWorkflowExecutionStarted", {
            "workflowExecution": child.ref, "workflowType": child.workflow_type,
            "initiatedEventId": initiated,
        })
        self.schedule_decision(ex)
        return None

    def _external_target(self, ex: Execution, a: dict) -> Execution | None:
        target = self.open_by_wid.get((ex.domain, a["workflowId"]))
        if target is None or (a.get("runId") and target.run_id != a["runId"]):
            return None
        return target

    def _d_SignalExternalWorkflowExecution(self, ex: Execution, a: dict, cid: int,
                                           _u: bool) -> None:
        initiated = self.add_event(ex, "SignalExternalWorkflowExecutionInitiated", {
            "workflowId": a["workflowId"], "runId": a.get("runId"),
            "signalName": a["signalName"], "input": a.get("input"),
            "decisionTaskCompletedEventId": cid, "control": a.get("control"),
        })
        target = self._external_target(ex, a) if initiated else None
        if target is None:
            return self._failed(ex, "SignalExternalWorkflowExecutionFailed", {
                "workflowId": a["workflowId"], "runId": a.get("runId"),
                "cause": "UNKNOWN_EXTERNAL_WORKFLOW_EXECUTION", "initiatedEventId": initiated,
                "decisionTaskCompletedEventId": cid, "control": a.get("control"),
            })
        self.add_event(target, "WorkflowExecutionSignaled", {
            "signalName": a["signalName"], "input": a.get("input"),
            "externalWorkflowExecution": ex.ref, "externalInitiatedEventId": initiated,
        })
        self.schedule_decision(target)
        self.add_event(ex, "ExternalWorkflowExecutionSignaled", {
            "workflowExecution": target.ref, "initiatedEventId": initiated,
        })
        self.schedule_decision(ex)
        return None

    def _d_RequestCancelExternalWorkflowExecution(self, ex: Execution, a: dict, cid: int,
                                                  _u: bool) -> None:
        initiated = self.add_event(ex, "RequestCancelExternalWorkflowExecutionInitiated", {
            "workflowId": a["workflowId"], "runId": a.get("runId"),
            "decisionTaskCompletedEventId": cid, "control": a.get("control"),
        })
        target = self._external_target(ex, a) if initiated else None
        if target is None:
            return self._failed(ex, "RequestCancelExternalWorkflowExecutionFailed", {
                "workflowId": a["workflowId"], "runId": a.get("runId"),
                "cause": "UNKNOWN_EXTERNAL_WORKFLOW_EXECUTION", "initiatedEventId": initiated,
                "decisionTaskCompletedEventId": cid, "control": a.get("control"),
            })
        self.request_cancel(target, external=ex.ref, external_initiated_id=initiated)
        self.add_event(ex, "ExternalWorkflowExecutionCancelRequested", {
            "workflowExecution": target.ref, "initiatedEventId": initiated,
        })
        self.schedule_decision(ex)
        return None
