"""Polls, activity task responses, heartbeats and pending-task counts.

Why the poll loop looks like this: a task is taken off its queue and marked
started (its *Started event written) while the engine lock is held, so it goes
to exactly one poller; a poll that finds nothing waits on its task list's
condition, which releases the lock, and is woken the moment a task is queued.
A task handed out is never requeued: if the poller's client has gone away the
task times out, as on SWF. So that this happens only on AWS, a poll may carry a
``poller`` (the server's :class:`~swfd.local.connections.PollWatch` of its
socket): a poller that is gone is withdrawn before a task is assigned, and the
last check is made under the lock at the moment of assignment, after the task
left its queue (it goes back, in its place, when the check fails). Without a
``poller`` (``--aws-faithful``, or the engine called directly) nothing is
checked, as on SWF.

An empty poll answers as the service does, which is not what the API
reference's prose suggests: no ``taskToken`` and no ``events`` keys,
``startedEventId`` 0 (and ``previousStartedEventId`` 0 for decisions). Seed
deciders test ``'events' in history``; AWS's sample decider ``'taskToken' not
in task``; Java clients test the token for null.

Task tokens are opaque base64 JSON naming the run,
the scheduled event and the started event, so a token stays valid across a
restart exactly as long as the task it names is open. An orphaned endpoint
(``Engine.stop_handing_out``) answers every poll empty at once, the same empty
answer as a poll that timed out, and assigns nothing.
"""

from __future__ import annotations

import time

from swfd.local.faults import SWFFault
from swfd.local.paging import make_token, offset_of, page_size
from swfd.local.state import (
    Activity,
    EventList,
    Execution,
    compact,
    decode_task_token,
    decode_token,
    encode_token,
    seconds,
)


class TaskOps:
    """Mixin of :class:`~swfd.local.engine.Engine`."""

    # -- the shared wait ------------------------------------------------------------

    def _wait_for_task(self, kind: str, domain: str, task_list: str, valid,
                       deadline: float, poller=None) -> tuple | None:
        """(runId, scheduledEventId) of the task this poll takes, or None (answer empty).

        With a ``poller``, a poll whose client is gone (or whose connection another
        request arrived on) is withdrawn: it takes nothing, and a task it had taken
        off the queue goes back in its place for the next poller.
        """
        self.domain(domain, registered=False)
        tl = self.queues.get(kind, domain, task_list)
        if poller is not None:
            poller.on_withdraw(lambda: self.wake(tl))
        while not self.closed and self.handing_out:  # else answered empty at once
            if poller is not None and poller.withdrawn:
                return None
            entry = self.queues.pop(tl, valid)
            if entry is not None:
                if poller is None or poller.assign():
                    return entry[2], entry[3]
                self.queues.restore(tl, entry)  # first in line again, for a live poller
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if self._dirty or self._dirty_acts:
                self.flush()  # e.g. an execution the quota terminated: commit before waiting
            if poller is not None:
                poller.waiting()
            tl.cond.wait(remaining)
        return None

    def wake(self, tl) -> None:
        """Wake every poll waiting on ``tl`` (one of them was withdrawn); any thread."""
        with self.lock:
            tl.cond.notify_all()

    def _activity_valid(self, run_id: str, scheduled_id: int) -> bool:
        ex = self.open_runs.get(run_id)
        act = ex.activity_by_scheduled(scheduled_id) if ex is not None else None
        return act is not None and not act.started_id

    def _decision_valid(self, run_id: str, scheduled_id: int) -> bool:
        ex = self.open_runs.get(run_id)
        d = ex.decision if ex is not None else None
        return d is not None and d.scheduled_id == scheduled_id and not d.started_id

    # -- activity tasks -------------------------------------------------------------

    def op_PollForActivityTask(self, p: dict, poller=None) -> dict:
        deadline = time.monotonic() + self.poll_timeout
        while True:
            found = self._wait_for_task("A", p["domain"], p["taskList"]["name"],
                                        self._activity_valid, deadline, poller)
            if found is None:
                return {"startedEventId": 0}
            ex = self.open_runs[found[0]]
            act = ex.activity_by_scheduled(found[1])
            act.started_id = self.add_event(ex, "ActivityTaskStarted", {
                "identity": p.get("identity"), "scheduledEventId": act.scheduled_id,
            })
            if act.started_id:
                break  # else the history hit its quota and the execution was terminated
        act.started_at = ex.events[-1]["eventTimestamp"]
        act.identity = p.get("identity")
        hb = seconds(act.heartbeat)
        act.heartbeat_deadline = None if hb is None else act.started_at + hb
        self.save_activity(ex, act)
        for when, timeout_type in act.deadlines():
            if timeout_type in ("START_TO_CLOSE", "HEARTBEAT"):
                self.timers.add(when, "activity", ex.run_id, (act.scheduled_id, timeout_type))
        return compact({
            "taskToken": encode_token(["A", ex.run_id, act.scheduled_id, act.started_id]),
            "activityId": act.activity_id,
            "startedEventId": act.started_id,
            "workflowExecution": ex.ref,
            "activityType": act.activity_type,
            "input": act.input,
        })

    def _started_activity(self, token: str) -> tuple[Execution, Activity]:
        run_id, scheduled_id, started_id = decode_task_token(token, "A")
        ex = self.open_runs.get(run_id)
        act = ex.activity_by_scheduled(scheduled_id) if ex is not None else None
        if act is None or act.started_id != started_id:
            raise SWFFault("UnknownResourceFault", "Unknown activity task")
        return ex, act

    def _close_activity(self, token: str, event_type: str, attrs: dict) -> dict:
        ex, act = self._started_activity(token)
        self.drop_activity(ex, act)
        attrs.update(scheduledEventId=act.scheduled_id, startedEventId=act.started_id)
        self.add_event(ex, event_type, attrs)
        self.schedule_decision(ex)
        return {}

    def op_RespondActivityTaskCompleted(self, p: dict) -> dict:
        return self._close_activity(p["taskToken"], "ActivityTaskCompleted",
                                    {"result": p.get("result")})

    def op_RespondActivityTaskFailed(self, p: dict) -> dict:
        return self._close_activity(p["taskToken"], "ActivityTaskFailed",
                                    {"reason": p.get("reason"), "details": p.get("details")})

    def op_RespondActivityTaskCanceled(self, p: dict) -> dict:
        _, act = self._started_activity(p["taskToken"])
        return self._close_activity(p["taskToken"], "ActivityTaskCanceled", {
            "details": p.get("details"),
            "latestCancelRequestedEventId": act.cancel_requested_id or None,
        })

    def op_RecordActivityTaskHeartbeat(self, p: dict) -> dict:
        ex, act = self._started_activity(p["taskToken"])
        if p.get("details") is not None:
            act.details = p["details"]
        hb = seconds(act.heartbeat)
        if hb is not None:
            act.heartbeat_deadline = self.now() + hb
        self.save_activity(ex, act)
        return {"cancelRequested": bool(act.cancel_requested_id)}

    def op_CountPendingActivityTasks(self, p: dict) -> dict:
        self.domain(p["domain"], registered=False)
        n = self.queues.count("A", p["domain"], p["taskList"]["name"], self._activity_valid)
        return {"count": n, "truncated": False}

    # -- decision tasks -------------------------------------------------------------

    def op_CountPendingDecisionTasks(self, p: dict) -> dict:
        self.domain(p["domain"], registered=False)
        n = self.queues.count("D", p["domain"], p["taskList"]["name"], self._decision_valid)
        return {"count": n, "truncated": False}

    def op_PollForDecisionTask(self, p: dict, poller=None) -> dict:
        if p.get("nextPageToken"):
            return self._decision_page(p)
        deadline = time.monotonic() + self.poll_timeout
        while True:
            found = self._wait_for_task("D", p["domain"], p["taskList"]["name"],
                                        self._decision_valid, deadline, poller)
            if found is None:
                return {"previousStartedEventId": 0, "startedEventId": 0}
            ex = self.open_runs[found[0]]
            d = ex.decision
            d.started_id = self.add_event(ex, "DecisionTaskStarted", {
                "identity": p.get("identity"), "scheduledEventId": d.scheduled_id,
            })
            if d.started_id:
                break  # else the history hit its quota and the execution was terminated
        d.started_at = ex.events[-1]["eventTimestamp"]
        self._arm_decision(ex)
        token = encode_token(["D", ex.run_id, d.scheduled_id, d.started_id])
        return self._decision_response(ex, token, d.started_id, p, 0)

    def _decision_response(self, ex: Execution, token: str, started_id: int, p: dict,
                           offset: int) -> dict:
        """One page of the decision task's history (events up to its DecisionTaskStarted)."""
        events = ex.events[:started_id]
        if p.get("startAtPreviousStartedEvent") and ex.previous_started:
            since = ex.events[ex.previous_started - 1]["eventTimestamp"]
            events = [e for e in events if e["eventTimestamp"] >= since]
        if p.get("reverseOrder"):
            events = events[::-1]
        size = page_size(p)
        chunk = events[offset:offset + size]
        more = offset + size < len(events)
        return compact({
            "taskToken": token,
            "startedEventId": started_id,
            "workflowExecution": ex.ref,
            "workflowType": ex.workflow_type,
            "events": EventList(chunk),
            "nextPageToken": make_token("PollForDecisionTask", offset + size, t=token,
                                        prev=ex.previous_started) if more else None,
            "previousStartedEventId": ex.previous_started,
        })

    def _decision_page(self, p: dict) -> dict:
        """A later page of a decision task already handed out (the token names the task)."""
        offset = offset_of(p, "PollForDecisionTask")
        data = decode_token(p["nextPageToken"], "nextPageToken")
        token = data.get("t")
        prev = data.get("prev", 0)
        if not isinstance(token, str) or type(prev) is not int:
            raise SWFFault("ValidationException",
                           "nextPageToken does not belong to PollForDecisionTask")
        run_id, _, started_id = decode_task_token(token, "D")
        ex = self.open_runs.get(run_id)
        if ex is None:
            ex = self.store.load_execution(run_id)
            if ex is None:
                raise SWFFault("UnknownResourceFault", "Unknown decision task")
            ex.events = self.store.events(run_id, 1, started_id)
        saved = ex.previous_started
        ex.previous_started = prev
        try:
            return self._decision_response(ex, token, started_id, p, offset)
        finally:
            ex.previous_started = saved
