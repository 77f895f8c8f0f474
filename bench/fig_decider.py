"""Figure 6: swfd's decider CPU per decision as the history grows, with the history
cache hit and missed.

Synthetic: a serial workflow's history of about 10, 100, 1,000 and 10,000 events
(each completed activity adds six events), in SWF's wire form. A real
``DecisionPoller`` on a real botocore client polls and answers; a ``before-send``
handler (:class:`CannedSWF`) answers its requests from pre-rendered bodies, so
the CPU per decision (``time.process_time``, this process) is everything the
decider pays except the socket and the server: parameter checks, signing,
parsing every page, the history cache, ``DecisionTask``, the History, the bench
plugin's ``BenchSerial`` and the answer. Four ways (:data:`MODES`): today's (no
cache, botocore's parser), swfd's parser without cache, the cache missed and the
cache hit.

Then the same for an ``async def`` twin of the serial workflow
(:data:`serial_async`), its history cached (a hit) both ways (:data:`ASYNC_MODES`):
the instance the previous decision left suspended, continued with the new events,
and a full replay from the start (no instance kept).

Then a real 1,000-activity serial workflow through the local endpoint with one
swfd decider process and one worker: the decider process's total CPU, with the
cache on (the default for one process); the full run again with it off.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time

import swfd
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


class CannedSWF:
    """SWF's side of a decision, without the network: a ``before-send`` handler on a
    real botocore client answers each request from pre-rendered response bodies, so
    the decider pays everything a real call costs in its process (parameter checks,
    serialization, signing, the client's parser) except the socket and the server.

    The run's history is ``events``; the task is the last DecisionTaskStarted; the
    previous decision's DecisionTaskStarted is six events earlier (a serial
    workflow). A poll with ``startAtPreviousStartedEvent`` gets the events from that
    one on; otherwise every event, 1,000 a page (so does GetWorkflowExecutionHistory).
    """

    def __init__(self, events: list[dict], workflow_type: dict | None = None) -> None:
        self.events = events
        self.workflow_type = workflow_type or {"name": "BenchSerial", "version": "1"}
        self.previous = events[-7]["eventId"] if len(events) > 7 else 0
        self.calls: dict[str, int] = {}
        self.bodies: dict[tuple, bytes] = {}

    def page(self, operation: str, token: str | None, since_previous: bool) -> bytes:
        key = (operation, token, since_previous)
        if key not in self.bodies:
            first = self.previous if since_previous and self.previous else 1
            events = self.events[first - 1:]
            start = int(token[1:]) if token else 0
            body: dict = {"events": events[start:start + PAGE]}
            if start + PAGE < len(events):
                body["nextPageToken"] = f"p{start + PAGE}"
            if operation == "PollForDecisionTask":
                body.update(taskToken="t" * 600, startedEventId=len(self.events),
                            previousStartedEventId=self.previous,
                            workflowExecution={"workflowId": "w", "runId": "r"},
                            workflowType=self.workflow_type)
            self.bodies[key] = json.dumps(body).encode()
        return self.bodies[key]

    def answer(self, request, **_):
        from botocore.awsrequest import AWSResponse

        operation = request.headers["X-Amz-Target"].decode().rsplit(".", 1)[1]
        self.calls[operation] = self.calls.get(operation, 0) + 1
        params = json.loads(request.body) if request.body else {}
        body = b"{}"
        if operation in ("PollForDecisionTask", "GetWorkflowExecutionHistory"):
            body = self.page(operation, params.get("nextPageToken"),
                             bool(params.get("startAtPreviousStartedEvent")))
        return AWSResponse(request.url, 200, {"x-amzn-RequestId": "bench"}, _Raw(body))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, *_args, **_kwargs):
        yield self.body


MODES = ("today", "fast", "miss", "hit")
"""today: no cache, botocore's parser (the decider before this issue); fast: no cache,
swfd's parser; miss: cache on, the run not in it (the small poll, then
GetWorkflowExecutionHistory whole); hit: cache on, the run's earlier events in it."""


def decider_for(mode: str, swf: CannedSWF):
    """A real DecisionPoller on a real client whose requests ``swf`` answers."""
    from types import SimpleNamespace

    import botocore.session

    from swfd.config import PoolSettings
    from swfd.decider import DecisionPoller
    from swfd.plugins import load_plugins
    from swfd.swf import client as swf_client

    if mode == "today":
        client = botocore.session.Session().create_client(
            "swf", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
            aws_access_key_id="bench", aws_secret_access_key="bench")
    else:
        client = swf_client.make_client("http://127.0.0.1:9", "us-east-1", credentials={
            "aws_access_key_id": "bench", "aws_secret_access_key": "bench"})
    client.meta.events.register("before-send.swf", swf.answer)
    pool = PoolSettings(kind="decider", name="bench", task_list="bench-decider",
                        history_cache=mode in ("miss", "hit"), section="decider:bench")
    settings = SimpleNamespace(domain="bench", proctitle_tasks=False)
    registry = load_plugins([], modules=["bench.swfd_plugin"])
    return DecisionPoller(settings, pool, registry, None, client, "bench")


def previous_view(events: list[dict]):
    """What the previous decision of the run left in the cache beside its events."""
    from swfd.decider import DecisionTask, RunView

    view = RunView()
    task = DecisionTask({"taskToken": "t", "workflowExecution": {"workflowId": "w", "runId": "r"},
                         "workflowType": {"name": "BenchSerial", "version": "1"}}, events, None,
                        view)
    view.history_of(task.events)  # BenchSerial reads the History
    return view


def measure(length: int, min_seconds: float, max_reps: int) -> dict:
    """CPU per decision (poll, every page, the cache, DecisionTask, BenchSerial, the
    answer) in each mode, on a ``length``-event history."""
    events = synthetic_history(length)
    out: dict = {"events": len(events)}
    run = ("w", "r")
    for mode in MODES:
        swf = CannedSWF(events)
        decider = decider_for(mode, swf)
        cached = events[:swf.previous]
        for _ in range(2):  # warm: the parser's compiled shapes, botocore's caches
            if decider.cache is not None:
                decider.cache.drop(run)
                if mode == "hit":
                    decider.cache.put(run, cached, previous_view(cached))
            decider.handle(decider.poll())
        reps, cpu = 0, 0.0
        wall_end = time.monotonic() + min_seconds
        while reps < max_reps and (reps < 3 or time.monotonic() < wall_end):
            if decider.cache is not None:  # the cache as the mode says, outside the timing
                decider.cache.drop(run)
                if mode == "hit":
                    decider.cache.put(run, cached, previous_view(cached))
            t0 = time.process_time()
            polled = decider.poll()
            decider.handle(polled)
            cpu += time.process_time() - t0
            reps += 1
        if [e["eventId"] for e in polled[1]] != [e["eventId"] for e in events]:
            raise RuntimeError(f"{mode}: the decider did not see the whole history")
        out[mode] = 1000 * cpu / reps
        out[mode + "_reps"] = reps
        out[mode + "_calls"] = {k: v // reps for k, v in swf.calls.items()}
        if decider.cache is not None:
            out[mode + "_cache"] = (decider.cache.hits, decider.cache.misses)
    return out


ASYNC_TYPE = {"name": "BenchSerialAsync", "version": "1"}


@swfd.workflow(ASYNC_TYPE["name"], ASYNC_TYPE["version"], task_list="bench-decider")
async def serial_async(wf, spec):
    """BenchSerial as an ``async def``: the same activities (ids ``a0``, ``a1`` ...),
    one after the other, so it decides the synthetic history's decisions."""
    count = int((spec or {}).get("count", 10))
    for i in range(count):
        await wf.activity(ACTIVITY_NAME, version=ACTIVITY_VERSION, id=f"a{i}",
                          task_list=(spec or {}).get("task_list", "bench"),
                          start_to_close_timeout="600", schedule_to_start_timeout="600",
                          schedule_to_close_timeout="1200", heartbeat_timeout="NONE")
    return count


ASYNC_MODES = ("replayed", "continued")
"""Both with the history cache hit. replayed: no instance kept (the coroutine runs from
the start over the whole history, as before issue 12's sticky instances, or on any
fallback); continued: the instance the previous decision left suspended takes the new
events only."""


def async_decider(swf: CannedSWF):
    """A real DecisionPoller (history cache on) that also knows :data:`serial_async`."""
    decider = decider_for("hit", swf)
    decider.registry.add(serial_async, "bench.fig_decider")
    return decider


def kept_view(events: list[dict], keep_instance: bool):
    """The cache's view of the run after its previous decision (``events``), with the
    suspended instance that decision left (``keep_instance``) or none."""
    from swfd.decider import DecisionTask, RunView

    view = RunView()
    task = DecisionTask({"taskToken": "t", "workflowExecution": {"workflowId": "w", "runId": "r"},
                         "workflowType": ASYNC_TYPE, "startedEventId": events[-1]["eventId"]},
                        events, serial_async, view)
    if keep_instance:
        serial_async.func(task)
        if view.flow is None:
            raise RuntimeError("the previous decision left no instance to continue")
    return view


def measure_async(length: int, min_seconds: float, max_reps: int) -> dict:
    """CPU per decision of :data:`serial_async` on a ``length``-event history, each
    :data:`ASYNC_MODES` way, the rounds interleaved (one decision of each per round):
    median and min in ms, and the decisions' path as the workflow counted it."""
    events = synthetic_history(length)
    swf = CannedSWF(events, ASYNC_TYPE)
    decider = async_decider(swf)
    cached = events[:swf.previous]
    run = ("w", "r")
    counts = serial_async.func.counts
    times: dict[str, list[float]] = {mode: [] for mode in ASYNC_MODES}
    paths: dict[str, set] = {mode: set() for mode in ASYNC_MODES}
    wall_end = time.monotonic() + min_seconds
    for round_number in range(max_reps + 1):
        if round_number > 3 and time.monotonic() > wall_end:
            break
        for mode in ASYNC_MODES:
            decider.cache.drop(run)  # the cache as the previous decision left it, untimed
            decider.cache.put(run, cached, kept_view(cached, mode == "continued"))
            before = dict(counts)
            t0 = time.process_time()
            polled = decider.poll()
            decider.handle(polled)
            cpu = time.process_time() - t0
            paths[mode].update(k for k, v in counts.items() if v != before[k])
            if round_number:  # the first round warms the parser and the loop
                times[mode].append(1000 * cpu)
        if [e["eventId"] for e in polled[1]] != [e["eventId"] for e in events]:
            raise RuntimeError("the decider did not see the whole history")
    out: dict = {"events": len(events)}
    for mode in ASYNC_MODES:
        expected = {"replayed": {"replayed"}, "continued": {"continued"}}[mode]
        if paths[mode] != expected:
            raise RuntimeError(f"{mode}: the decisions went {sorted(paths[mode])}")
        out[mode] = statistics.median(times[mode])
        out[mode + "_min"] = min(times[mode])
        out[mode + "_reps"] = len(times[mode])
    return out


def run_async(res: Results, quick: bool) -> None:
    fig = "6b. async def workflow: decider CPU per decision"
    data = {}
    for length in LENGTHS:
        m = measure_async(length, 0.5 if quick else 2.0, 10 if length >= 10_000 else 200)
        data[length] = m
        res.log(f"  async {length}: {m}")
    continued_100 = data[100]["continued"]
    for length in LENGTHS:
        m = data[length]
        for mode in ASYNC_MODES:
            row = {"ratio": f"{m[mode] / m['replayed']:.3f}x a full replay",
                   "note": f"median of {m[mode + '_reps']} decisions, interleaved with the "
                           f"other way (min {m[mode + '_min']:.3g} ms); history cache hit; "
                           "poll, the cache, DecisionTask, the workflow, the answer "
                           "(network and server excluded)"}
            if mode == "continued" and length == 10_000:
                r = m[mode] / continued_100
                row.update(ratio=f"{r:.2f}x continued at {data[100]['events']} events",
                           target="<= 3x continued at 100 events", met=r <= 3)
                row["note"] += f"; {m[mode] / m['replayed']:.3f}x a full replay"
            res.add(fig, f"{m['events']} events: {ASYNC_NAMES[mode]}", m[mode],
                    "ms/decision", **row)
    res.series["decider_async"] = {str(k): v for k, v in data.items()}


ASYNC_NAMES = {
    "replayed": "async def, full replay from the start (no kept instance)",
    "continued": "async def, kept instance continued with the new events",
}


def serial_workflow(res: Results, count: int, timeout: float, cache: bool) -> None:
    """A real ``count``-activity serial workflow: swfd decider + worker, local endpoint;
    the one decider process with its history cache on (the default for one process)
    or off."""
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
                                pool_kind="decider",
                                extra=f"history_cache = {'yes' if cache else 'no'}\n")
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
        res.add("6. decider CPU", f"total decider CPU, {count}-activity serial workflow, "
                f"history cache {'on' if cache else 'off'}", cpu, "s",
                note=f"one swfd decider process (poll, every page, BenchSerial, answer); "
                f"{elapsed:.0f} s wall; close status {history}; mean "
                f"{1000 * cpu / (count + 1):.1f} ms per decision"
                + ("; every decision after the first a hit (one process)" if cache else ""))
    finally:
        for w in started:
            w.stop()
        endpoint.stop()


MODE_NAMES = {
    "today": "no cache, botocore's parser (before issue 11)",
    "fast": "no cache, swfd's parser",
    "miss": "cache missed (small poll + GetWorkflowExecutionHistory whole), swfd's parser",
    "hit": "cache hit, swfd's parser",
}
HIT_ASSUMPTION = ("a hit is what a single-process decider pool (history_cache on by default) "
                  "gets on every decision of a run after its first; with N processes on one "
                  "task list about 1/N of them are hits, the rest misses")


def run(res: Results, quick: bool) -> None:
    fig = "6. decider CPU per decision"
    data = {}
    for length in LENGTHS:
        m = measure(length, 0.5 if quick else 2.0, 2000)
        data[length] = m
        res.log(f"  {length}: {m}")
    hit_100, today_1000 = data[100]["hit"], data[1_000]["today"]
    for length in LENGTHS:
        m = data[length]
        for mode in MODES:
            calls = ", ".join(f"{v} {k}" for k, v in m[mode + "_calls"].items())
            row = {"ratio": f"{m[mode] / m['today']:.2f}x no cache with botocore's parser",
                   "note": f"mean of {m[mode + '_reps']} decisions; per decision: "
                           f"{calls}; poll, every page, the cache, DecisionTask, History, "
                           "BenchSerial, the answer (network and server excluded)"}
            if mode == "hit" and length == 10_000:
                r = m[mode] / hit_100
                row.update(ratio=f"{r:.2f}x a hit at {data[100]['events']} events",
                           target="<= 3x a hit at 100 events", met=r <= 3)
                row["note"] += "; " + HIT_ASSUMPTION
            elif mode == "miss" and length == 1_000:
                r = m[mode] / today_1000
                row.update(ratio=f"{r:.2f}x today's at {data[1_000]['events']} events",
                           target="<= 0.5x today's (no cache, botocore's parser)", met=r <= 0.5)
            res.add(fig, f"{m['events']} events: {MODE_NAMES[mode]}", m[mode], "ms/decision",
                    **row)
    res.series["decider"] = {str(k): v for k, v in data.items()}
    res.guarded("6b. async def workflow: decider CPU per decision",
                lambda: run_async(res, quick))
    res.guarded("6. decider CPU (serial workflow)",
                lambda: serial_workflow(res, 1000, timeout=900, cache=True))
    if not quick:
        res.guarded("6. decider CPU (serial workflow, no cache)",
                    lambda: serial_workflow(res, 1000, timeout=900, cache=False))
