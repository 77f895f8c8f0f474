"""Helpers for the engine unit tests (tests/test_engine_*.py): Engine.call, no HTTP.

Named test_engine_* so it sits with the tests it serves; it defines no tests itself.
"""

from __future__ import annotations

from swfd.local.engine import Engine

WF = {"name": "W", "version": "1"}
ACT = {"name": "A", "version": "1"}


def make_engine(database: str = ":memory:", poll_timeout: float = 0.1, **timeouts) -> Engine:
    """An engine with domain "d", workflow type W/1 (task list "tl") and activity type A/1."""
    engine = Engine(database, poll_timeout=poll_timeout)
    setup(engine, **timeouts)
    return engine


def setup(engine: Engine, act_s2s="10", act_s2c="20", act_st2c="10", act_hb="NONE",
          wf_exec="60", wf_task="10", child_policy="TERMINATE") -> None:
    c = engine.call
    c("RegisterDomain", {"name": "d", "workflowExecutionRetentionPeriodInDays": "1"})
    c("RegisterWorkflowType", {
        "domain": "d", **WF, "defaultTaskList": {"name": "tl"},
        "defaultExecutionStartToCloseTimeout": wf_exec,
        "defaultTaskStartToCloseTimeout": wf_task, "defaultChildPolicy": child_policy,
    })
    c("RegisterActivityType", {
        "domain": "d", **ACT, "defaultTaskList": {"name": "atl"},
        "defaultTaskScheduleToStartTimeout": act_s2s,
        "defaultTaskScheduleToCloseTimeout": act_s2c,
        "defaultTaskStartToCloseTimeout": act_st2c, "defaultTaskHeartbeatTimeout": act_hb,
    })


def start(engine: Engine, workflow_id: str = "w1", **extra) -> str:
    params = {"domain": "d", "workflowId": workflow_id, "workflowType": WF, **extra}
    return engine.call("StartWorkflowExecution", params)["runId"]


def poll_decision(engine: Engine, task_list: str = "tl", **extra) -> dict:
    return engine.call("PollForDecisionTask",
                       {"domain": "d", "taskList": {"name": task_list}, "identity": "decider",
                        **extra})


def poll_activity(engine: Engine, task_list: str = "atl") -> dict:
    return engine.call("PollForActivityTask",
                       {"domain": "d", "taskList": {"name": task_list}, "identity": "worker"})


def decide(engine: Engine, token: str, *decisions: dict, **extra) -> dict:
    return engine.call("RespondDecisionTaskCompleted",
                       {"taskToken": token, "decisions": list(decisions), **extra})


def decision(kind: str, **attrs) -> dict:
    member = kind[0].lower() + kind[1:] + "DecisionAttributes"
    return {"decisionType": kind, member: attrs}


def schedule(activity_id: str = "a1", **attrs) -> dict:
    return decision("ScheduleActivityTask", activityType=ACT, activityId=activity_id, **attrs)


def history(engine: Engine, run_id: str, workflow_id: str = "w1") -> list[dict]:
    return engine.call("GetWorkflowExecutionHistory", {
        "domain": "d", "execution": {"workflowId": workflow_id, "runId": run_id},
    })["events"]


def types(events: list[dict]) -> list[str]:
    return [e["eventType"] for e in events]


def attrs(event: dict) -> dict:
    key = event["eventType"][0].lower() + event["eventType"][1:] + "EventAttributes"
    return event[key]


def describe(engine: Engine, run_id: str, workflow_id: str = "w1") -> dict:
    return engine.call("DescribeWorkflowExecution", {
        "domain": "d", "execution": {"workflowId": workflow_id, "runId": run_id},
    })
