"""Figure 6: swfd's decider CPU per decision as the history grows.

Synthetic: a serial workflow's history of about 10, 100, 1,000 and 10,000
events (each completed activity adds six events), in SWF's wire form. Two
costs per decision, both in this process with ``time.process_time``:

- the decision logic: swfd's ``DecisionTask`` (filtering its own markers and
  timers, error state), the indexed ``History``, the plugin's handler (the
  bench plugin's ``BenchSerial``) and ``DecisionPoller.decide``;
- the same plus botocore parsing the poll response pages (what a real
  decider pays per decision task, network aside).

The full run also drives a real 1,000-activity serial workflow through the
local endpoint with swfd's decider and worker processes and reports the
decider process's total CPU.
"""

from __future__ import annotations

import json
import tempfile
import time

from bench import driver, workers
from bench.results import Results
from bench.tasks import ACTIVITY_NAME, ACTIVITY_VERSION

LENGTHS = (10, 100, 1_000, 10_000)
PAGE = 1000


def synthetic_history(length: int) -> list[dict]:
    """A serial workflow's history of about ``length`` events, ending on a DecisionTaskStarted."""
    events: list[dict] = []
    t = 1_700_000_000.0

    def add(kind: str, attrs: dict) -> int:
        key = kind[0].lower() + kind[1:] + "EventAttributes"
        events.append({"eventId": len(events) + 1, "eventType": kind,
                       "eventTimestamp": t + len(events) * 0.001, key: attrs})
        return len(events)

    add("WorkflowExecutionStarted", {
        "input": json.dumps({"count": 1_000_000}), "childPolicy": "TERMINATE",
        "taskList": {"name": "bench-decider"}, "workflowType": {"name": "BenchSerial",
                                                                "version": "1"},
        "executionStartToCloseTimeout": "86400", "taskStartToCloseTimeout": "600"})
    scheduled = add("DecisionTaskScheduled", {"taskList": {"name": "bench-decider"},
                                              "startToCloseTimeout": "600"})
    started = add("DecisionTaskStarted", {"scheduledEventId": scheduled, "identity": "d"})
    for i in range((length - 3) // 6):
        completed = add("DecisionTaskCompleted", {"scheduledEventId": scheduled,
                                                  "startedEventId": started})
        a_scheduled = add("ActivityTaskScheduled", {
            "activityType": {"name": ACTIVITY_NAME, "version": ACTIVITY_VERSION},
            "activityId": f"a{i}", "taskList": {"name": "bench"},
            "decisionTaskCompletedEventId": completed, "startToCloseTimeout": "600",
            "scheduleToStartTimeout": "600", "scheduleToCloseTimeout": "1200",
            "heartbeatTimeout": "NONE"})
        a_started = add("ActivityTaskStarted", {"scheduledEventId": a_scheduled,
                                                "identity": "w"})
        add("ActivityTaskCompleted", {"scheduledEventId": a_scheduled,
                                      "startedEventId": a_started})
        scheduled = add("DecisionTaskScheduled", {"taskList": {"name": "bench-decider"},
                                                  "startToCloseTimeout": "600"})
        started = add("DecisionTaskStarted", {"scheduledEventId": scheduled, "identity": "d"})
    return events


def wire_pages(events: list[dict]) -> list[bytes]:
    """The PollForDecisionTask response bodies (1,000 events a page) for ``events``."""
    pages = []
    for start in range(0, len(events), PAGE):
        body = {"taskToken": "t", "startedEventId": len(events), "previousStartedEventId": 0,
                "workflowExecution": {"workflowId": "w", "runId": "r"},
                "workflowType": {"name": "BenchSerial", "version": "1"},
                "events": events[start:start + PAGE]}
        if start + PAGE < len(events):
            body["nextPageToken"] = f"p{start + PAGE}"
        pages.append(json.dumps(body).encode())
    return pages


def measure(length: int, min_seconds: float, max_reps: int) -> dict:
    import botocore.parsers
    import botocore.session

    from swfd.decider import DecisionPoller, DecisionTask
    from swfd.plugins import load_plugins

    registry = load_plugins([], modules=["bench.swfd_plugin"])
    definition = registry.workflow("BenchSerial", "1")
    decider = DecisionPoller(None, None, registry, None, None, "bench")
    model = botocore.session.get_session().get_service_model("swf")
    shape = model.operation_model("PollForDecisionTask").output_shape
    parser = botocore.parsers.create_parser(model.metadata["protocol"])
    pages = wire_pages(synthetic_history(length))

    def parse() -> tuple[dict, list[dict]]:
        events: list[dict] = []
        first = None
        for body in pages:
            parsed = parser.parse({"body": body, "headers": {}, "status_code": 200}, shape)
            first = first or parsed
            events.extend(parsed["events"])
        return first, events

    response, events = parse()

    def decide() -> list[dict]:
        task = DecisionTask(response, events, definition)
        return decider.decide(task, definition)

    decisions = decide()
    if len(decisions) != 1 or decisions[0]["decisionType"] != "ScheduleActivityTask":
        raise RuntimeError(f"BenchSerial decided {decisions!r} on a {length}-event history")
    out = {"events": len(events)}
    for name, fn in (("logic", decide), ("with_parse", lambda: decide_parsed(parse, definition,
                                                                             decider))):
        reps, cpu0 = 0, time.process_time()
        wall_end = time.monotonic() + min_seconds
        while reps < max_reps and (reps < 3 or time.monotonic() < wall_end):
            fn()
            reps += 1
        out[name] = 1000 * (time.process_time() - cpu0) / reps
        out[name + "_reps"] = reps
    return out


def decide_parsed(parse, definition, decider) -> list[dict]:
    from swfd.decider import DecisionTask

    response, events = parse()
    return decider.decide(DecisionTask(response, events, definition), definition)


def serial_workflow(res: Results, count: int, timeout: float) -> None:
    """A real ``count``-activity serial workflow: swfd decider + worker, local endpoint."""
    tmpdir = tempfile.mkdtemp(prefix="swfd-bench-decider-")
    endpoint = driver.start_local(poll_timeout=60)
    started: list[workers.Workers] = []
    try:
        swf = driver.client(endpoint.url)
        driver.setup_domain(swf, "bench")
        swf.register_workflow_type(
            domain="bench", name="BenchSerial", version="1",
            defaultTaskList={"name": "bench-decider"}, defaultChildPolicy="TERMINATE",
            defaultExecutionStartToCloseTimeout="86400", defaultTaskStartToCloseTimeout="600")
        worker = workers.start("swfd", endpoint.url, "bench", "serial-a", 1, tmpdir)
        started.append(worker)
        decider = workers.start("swfd", endpoint.url, "bench", "bench-decider", 1, tmpdir,
                                pool_kind="decider")
        started.append(decider)
        cpu0, t0 = decider.cpu(), time.monotonic()
        run = swf.start_workflow_execution(
            domain="bench", workflowId="serial", workflowType={"name": "BenchSerial",
                                                               "version": "1"},
            input=json.dumps({"count": count, "task_list": "serial-a"}))
        execution = {"workflowId": "serial", "runId": run["runId"]}
        deadline = t0 + timeout
        status = "OPEN"
        while status == "OPEN" and time.monotonic() < deadline:
            decider.check_alive()
            time.sleep(0.5)
            status = swf.describe_workflow_execution(
                domain="bench", execution=execution)["executionInfo"]["executionStatus"]
        elapsed, cpu = time.monotonic() - t0, decider.cpu() - cpu0
        events = swf.describe_workflow_execution(domain="bench", execution=execution)
        history = events["executionInfo"].get("closeStatus", status)
        res.add("6. decider CPU", f"total decider CPU, {count}-activity serial workflow", cpu,
                "s", note=f"swfd decider process (polling every page, BenchSerial, answering); "
                f"{elapsed:.0f} s wall; close status {history}; mean "
                f"{1000 * cpu / (count + 1):.1f} ms per decision")
    finally:
        for w in started:
            w.stop()
        endpoint.stop()


def run(res: Results, quick: bool) -> None:
    fig = "6. decider CPU per decision"
    data = {}
    for length in LENGTHS:
        m = measure(length, 0.5 if quick else 2.0, 2000)
        data[length] = m
        res.log(f"  {length}: {m}")
    base = data[LENGTHS[0]]
    for length in LENGTHS:
        m = data[length]
        res.add(fig, f"{m['events']} events: decision logic", m["logic"], "ms/decision",
                ratio=f"{m['logic'] / base['logic']:.1f}x at {base['events']} events",
                note=f"{m['logic_reps']} decisions; DecisionTask + History + handler + decide")
        res.add(fig, f"{m['events']} events: with botocore parsing the pages", m["with_parse"],
                "ms/decision", ratio=f"{m['with_parse'] / base['with_parse']:.1f}x at "
                f"{base['events']} events", note=f"{m['with_parse_reps']} decisions")
    res.series["decider"] = {str(k): v for k, v in data.items()}
    if not quick:
        res.guarded("6. decider CPU (serial workflow)",
                    lambda: serial_workflow(res, 1000, timeout=900))
