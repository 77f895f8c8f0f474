"""Helpers for the ``async def`` workflow tests (tests/test_flow_*.py, test_booking*.py,
test_tutorial_async*.py): swfd's real decider and worker code, stepped by the test.

:class:`Driver` holds one real :class:`~swfd.decider.DecisionPoller` per decision
task list and one :class:`~swfd.worker.ActivityPoller` per activity task list,
against the in-process local endpoint over HTTP. The test decides what happens
next: decide, take an activity task and hold it, answer a held one, or send a
signal; with a random generator it picks among whatever is possible, so event
arrival interleaves differently per seed. Named test_flow_* so it sits with
the tests it serves; it defines no tests itself.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import sys
from typing import Any, Callable

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "plugins"))

import swfd_harness as h

from swfd.decider import ERROR_MARKER, DecisionPoller
from swfd.flow.commands import activations, make_key, recorded_key
from swfd.lifecycle import Lifecycle
from swfd.registry import Registry
from swfd.testing import wait_for
from swfd.worker import ActivityPoller

CLOSED = (*h.CLOSED, "WorkflowExecutionContinuedAsNew")


class Driver:
    """Real pollers for every task list of ``defs``, stepped one action at a time."""

    def __init__(self, tmp_path: Any, url: str, client: Any, domain: str, defs: list[Any],
                 rng: random.Random | None = None) -> None:
        self.client, self.domain = client, domain
        self.registry = Registry.from_defs(defs)
        settings = h.load_settings(h.write_config(tmp_path, url, domain))
        h.register_types(client, domain, self.registry)
        decider_pool = dataclasses.replace(h.pool_of(settings, "decider"), history_cache=False)
        worker_pool = h.pool_of(settings, "worker")
        self.deciders = {
            tl: DecisionPoller(settings, dataclasses.replace(decider_pool, task_list=tl),
                               self.registry, Lifecycle(), client, f"decider-{tl}")
            for tl in {w.task_list for w in self.registry.workflows.values()}}
        self.workers = {
            tl: ActivityPoller(settings, dataclasses.replace(worker_pool, task_list=tl),
                               self.registry, Lifecycle(), client, f"worker-{tl}")
            for tl in {a.task_list for a in self.registry.activities.values()}}
        self.rng = rng
        self.held: list[tuple[str, dict[str, Any]]] = []
        self.extra: list[tuple[str, Callable[[], None]]] = []  # one-shot actions (signals)

    def start(self, definition: Any, input: Any = None, workflow_id: str | None = None,
              raw: str | None = None) -> dict[str, str]:
        encoded = raw if raw is not None else (None if input is None else json.dumps(input))
        return h.start(self.client, self.domain, definition.name, definition.version,
                       input=encoded, workflow_id=workflow_id)

    def signal(self, execution: dict[str, str], name: str, input: Any = None) -> None:
        params = {"input": json.dumps(input)} if input is not None else {}
        self.client.signal_workflow_execution(domain=self.domain, signalName=name,
                                              **execution, **params)

    def history(self, execution: dict[str, str]) -> list[dict[str, Any]]:
        return h.history(self.client, self.domain, execution)

    def _pending(self, operation: str, task_list: str) -> int:
        return getattr(self.client, operation)(domain=self.domain,
                                               taskList={"name": task_list})["count"]

    def actions(self) -> list[tuple[str, Any]]:
        found: list[tuple[str, Any]] = [
            ("decide", tl) for tl in sorted(self.deciders)
            if self._pending("count_pending_decision_tasks", tl)]
        found += [("take", tl) for tl in sorted(self.workers)
                  if self._pending("count_pending_activity_tasks", tl)]
        found += [("answer", i) for i in range(len(self.held))]
        found += [("extra", i) for i in range(len(self.extra))]
        return found

    def act(self, action: tuple[str, Any]) -> None:
        kind, which = action
        if kind == "decide":
            polled = self.deciders[which].poll()
            if polled is not None:
                self.deciders[which].handle(polled)
        elif kind == "take":
            response = self.workers[which].poll()
            if response is not None:
                if self.rng is None:  # in order: answer at once
                    self.workers[which].handle(response)
                else:
                    self.held.append((which, response))
        elif kind == "answer":
            task_list, response = self.held.pop(which)
            self.workers[task_list].handle(response)
        else:
            self.extra.pop(which)[1]()

    def run(self, execution: dict[str, str], timeout: float = 30.0, max_steps: int = 2000,
            until: Callable[[list[dict[str, Any]]], bool] | None = None
            ) -> list[dict[str, Any]]:
        """Act until the execution closes (or ``until(history)``); its history."""
        for _ in range(max_steps):
            events = self.history(execution)
            if events[-1]["eventType"] in CLOSED or (until and until(events)):
                return events
            possible = wait_for(self.actions, timeout=timeout,
                                message=f"something to do for {execution['workflowId']}")
            self.act(self.rng.choice(possible) if self.rng else possible[0])
        raise AssertionError(f"{execution['workflowId']} still open after {max_steps} steps")


def on_moto_and_local(tmp_path: Any, local_endpoint: Any, swf_client: Any, domain: str,
                      definitions: list[Any],
                      scenario: Callable[[Driver], list[dict[str, Any]]],
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run ``scenario`` with a Driver on moto's SWF (in-process, mock_aws) and then on
    the local endpoint; the two histories, moto's first. The pollers run in this
    process either way; only the SWF they talk to differs."""
    import boto3
    from moto import mock_aws

    (tmp_path / "moto").mkdir()
    with mock_aws():
        moto_client = boto3.client("swf", region_name="us-east-1", aws_access_key_id="x",
                                   aws_secret_access_key="x")
        moto_client.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
        moto_events = scenario(Driver(tmp_path / "moto", local_endpoint.url, moto_client,
                                      domain, definitions))
    local_events = scenario(Driver(tmp_path, local_endpoint.url, swf_client, domain,
                                   definitions))
    return moto_events, local_events


def attrs(event: dict[str, Any]) -> dict[str, Any]:
    return h.attrs(event)


def types(events: list[dict[str, Any]]) -> list[str]:
    return h.types(events)


def decider_errors(events: list[dict[str, Any]]) -> list[str]:
    """The errors the decider recorded (swfd:decider-error markers)."""
    return [json.loads(attrs(e)["details"])["error"] for e in events
            if e["eventType"] == "MarkerRecorded" and attrs(e)["markerName"] == ERROR_MARKER]


def scheduled(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(activity type name, input) of every ActivityTaskScheduled, in order."""
    return [(attrs(e)["activityType"]["name"], attrs(e).get("input"))
            for e in events if e["eventType"] == "ActivityTaskScheduled"]


def closing(events: list[dict[str, Any]]) -> dict[str, Any]:
    return attrs(events[-1])


def replay_each_decision(definition: Any, events: list[dict[str, Any]],
                         execution: dict[str, str]) -> int:
    """Re-decide every answered decision task from the history as it stood then (as a
    live decision) and check the decisions equal those the task recorded. Returns the
    number of decision tasks checked."""
    checked = 0
    adapter = definition.func
    started = next(e for e in events if e["eventType"] == "WorkflowExecutionStarted")
    raw_input = attrs(started).get("input")
    value = json.loads(raw_input) if raw_input and definition.codec == "json" else raw_input
    for activation in activations(events, live=False):
        prefix = [e for e in events if e["eventId"] <= activation.started["eventId"]]
        decided = adapter.replay(prefix, execution, definition.codec, value)
        ids = {e["eventId"] for e in events}
        live_keys = [_decision_key(d) for d in decided.data]
        recorded = [k for k, _ in activation.recorded or []]
        assert live_keys == recorded, (activation.completed_event_id, live_keys, recorded)
        assert all(recorded_key(e, ids) for _, e in activation.recorded or [])
        checked += 1
    return checked


def _decision_key(decision: dict[str, Any]) -> tuple[str, ...]:
    kind = decision["decisionType"]
    a = decision[kind[0].lower() + kind[1:] + "DecisionAttributes"]
    parts = {
        "ScheduleActivityTask": ("activityId", "activityType"),
        "RequestCancelActivityTask": ("activityId",),
        "StartTimer": ("timerId",), "CancelTimer": ("timerId",),
        "RecordMarker": ("markerName",),
        "StartChildWorkflowExecution": ("workflowId", "workflowType"),
        "SignalExternalWorkflowExecution": ("workflowId", "signalName"),
        "RequestCancelExternalWorkflowExecution": ("workflowId",),
    }.get(kind, ())
    return make_key(kind, *(a.get(p, "") for p in parts))
