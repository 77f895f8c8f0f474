"""Figure 7: the local endpoint's server CPU per call and calls/s, beside moto's server.

The load: ``CLIENTS`` threads, each a :class:`bench.wire.WireClient` (one
keep-alive connection, hand-signed requests), each running the smallest
complete workflow on its own task lists, 7 calls a cycle: start, poll
decision, schedule one activity, poll activity, complete it, poll decision,
complete the workflow. Measured with 0 closed executions, then again after
1,000 more were closed (start + terminate). Server CPU is the server
process's user+sys over the window.

And the latency from scheduling to a *waiting* poll's answer (local endpoint
only: moto has no long polling).
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid

from bench import driver
from bench.procs import tree_cpu_seconds
from bench.results import Results, ratio
from bench.tasks import ACTIVITY_NAME, ACTIVITY_VERSION
from bench.wire import WireClient

DOMAIN = "bench-endpoint"
WORKFLOW = {"name": "BenchWorkflow", "version": "1"}
CLIENTS = 2
CALLS_PER_CYCLE = 7


def setup(url: str) -> None:
    c = WireClient(url)
    c.call("RegisterDomain", {"name": DOMAIN, "workflowExecutionRetentionPeriodInDays": "1"})
    c.call("RegisterWorkflowType", {
        "domain": DOMAIN, **WORKFLOW, "defaultTaskList": {"name": "unused"},
        "defaultChildPolicy": "TERMINATE", "defaultExecutionStartToCloseTimeout": "3600",
        "defaultTaskStartToCloseTimeout": "600"})
    c.call("RegisterActivityType", {
        "domain": DOMAIN, "name": ACTIVITY_NAME, "version": ACTIVITY_VERSION,
        "defaultTaskStartToCloseTimeout": "600", "defaultTaskHeartbeatTimeout": "NONE",
        "defaultTaskScheduleToStartTimeout": "600", "defaultTaskScheduleToCloseTimeout": "1200"})
    c.close()


def start(c: WireClient, task_list: str) -> dict:
    workflow_id = f"w-{uuid.uuid4().hex[:16]}"
    run = c.call("StartWorkflowExecution", {
        "domain": DOMAIN, "workflowId": workflow_id, "workflowType": WORKFLOW,
        "taskList": {"name": task_list}, "childPolicy": "TERMINATE",
        "executionStartToCloseTimeout": "3600", "taskStartToCloseTimeout": "600"})
    return {"workflowId": workflow_id, "runId": run["runId"]}


def schedule(activity_list: str, activity_id: str) -> list[dict]:
    return [{"decisionType": "ScheduleActivityTask", "scheduleActivityTaskDecisionAttributes": {
        "activityType": {"name": ACTIVITY_NAME, "version": ACTIVITY_VERSION},
        "activityId": activity_id, "taskList": {"name": activity_list},
        "startToCloseTimeout": "600", "scheduleToStartTimeout": "600",
        "scheduleToCloseTimeout": "1200", "heartbeatTimeout": "NONE"}}]


def poll(c: WireClient, operation: str, task_list: str, tries: int = 5) -> str:
    for _ in range(tries):
        params = {"domain": DOMAIN, "taskList": {"name": task_list}, "identity": "bench"}
        if operation == "PollForDecisionTask":
            params["maximumPageSize"] = 100
        token = c.call(operation, params).get("taskToken")
        if token:
            return token
    raise RuntimeError(f"{operation} on {task_list}: no task after {tries} polls")


def cycle(c: WireClient, name: str) -> None:
    decisions, activities = f"{name}-d", f"{name}-a"
    start(c, decisions)
    token = poll(c, "PollForDecisionTask", decisions)
    c.call("RespondDecisionTaskCompleted", {"taskToken": token,
                                            "decisions": schedule(activities, "a1")})
    token = poll(c, "PollForActivityTask", activities)
    c.call("RespondActivityTaskCompleted", {"taskToken": token, "result": "ok"})
    token = poll(c, "PollForDecisionTask", decisions)
    c.call("RespondDecisionTaskCompleted", {"taskToken": token, "decisions": [{
        "decisionType": "CompleteWorkflowExecution",
        "completeWorkflowExecutionDecisionAttributes": {"result": "done"}}]})


def load(url: str, server_pid: int, seconds: float, max_cycles: int) -> dict:
    """Run the cycle on CLIENTS threads for ``seconds`` (or ``max_cycles`` each)."""
    counts = [0] * CLIENTS
    errors: list[str] = []
    stop_at = time.monotonic() + seconds

    def client_thread(i: int) -> None:
        c = WireClient(url)
        name = f"load{i}-{uuid.uuid4().hex[:6]}"
        try:
            while time.monotonic() < stop_at and counts[i] < max_cycles:
                cycle(c, name)
                counts[i] += 1
        except Exception as exc:  # noqa: BLE001 - reported in the figure's note
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
        finally:
            c.close()

    threads = [threading.Thread(target=client_thread, args=(i,)) for i in range(CLIENTS)]
    cpu0, t0 = tree_cpu_seconds([server_pid]), time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 120)
    elapsed, cpu = time.monotonic() - t0, tree_cpu_seconds([server_pid]) - cpu0
    calls = sum(counts) * CALLS_PER_CYCLE
    return {"calls": calls, "seconds": elapsed, "cpu": cpu, "calls_per_s": calls / elapsed,
            "cpu_ms_per_call": 1000 * cpu / calls if calls else None, "errors": errors}


def close_many(url: str, n: int, timeout: float) -> int:
    """Close ``n`` executions (start + terminate) on CLIENTS threads; returns how many."""
    done = [0] * CLIENTS
    deadline = time.monotonic() + timeout

    def worker(i: int) -> None:
        c = WireClient(url)
        try:
            for _ in range(n // CLIENTS):
                if time.monotonic() > deadline:
                    return
                execution = start(c, f"closed{i}")
                c.call("TerminateWorkflowExecution", {"domain": DOMAIN, **execution,
                                                      "reason": "bench"})
                done[i] += 1
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 30)
    return sum(done)


def latency(url: str, samples: int) -> list[float]:
    """Milliseconds from sending the decision that schedules a task to a parked poll's answer."""
    decider, poller = WireClient(url), WireClient(url)
    name = f"lat-{uuid.uuid4().hex[:6]}"
    found: list[float] = []
    try:
        for i in range(samples):
            execution = start(decider, f"{name}-d")
            token = poll(decider, "PollForDecisionTask", f"{name}-d")
            got: dict = {}
            sent = threading.Event()

            def parked_poll(got: dict = got, sent: threading.Event = sent) -> None:
                poller.send("PollForActivityTask", {"domain": DOMAIN, "identity": "bench",
                                                    "taskList": {"name": f"{name}-a"}})
                sent.set()
                got["answer"] = poller.receive()
                got["at"] = time.perf_counter()

            thread = threading.Thread(target=parked_poll)
            thread.start()
            sent.wait(10)
            time.sleep(0.05)  # the poll is parked in the server by now (loopback)
            t0 = time.perf_counter()
            decider.call("RespondDecisionTaskCompleted", {
                "taskToken": token, "decisions": schedule(f"{name}-a", f"a{i}")})
            thread.join(30)
            answer = got.get("answer") or {}
            if not answer.get("taskToken"):
                raise RuntimeError(f"latency sample {i}: the parked poll returned no task")
            found.append(1000 * (got["at"] - t0))
            decider.call("RespondActivityTaskCompleted", {"taskToken": answer["taskToken"]})
            decider.call("TerminateWorkflowExecution", {"domain": DOMAIN, **execution})
    finally:
        decider.close()
        poller.close()
    return found


def measure_server(res: Results, ep: driver.Endpoint, seconds: float, closed: int,
                   max_cycles: int) -> dict:
    setup(ep.url)
    out = {"0": load(ep.url, ep.proc.pid, seconds, max_cycles)}
    res.log(f"  {ep.name} at ~0 closed: {out['0']}")
    made = close_many(ep.url, closed, timeout=120)
    out["closed"] = made
    out["1000"] = load(ep.url, ep.proc.pid, seconds, max_cycles)
    out["0"]["closed_at_start"] = 0
    out["1000"]["closed_at_start"] = out["0"]["calls"] // CALLS_PER_CYCLE + made
    res.log(f"  {ep.name} after closing {made} more: {out['1000']}")
    return out


def run(res: Results, quick: bool) -> None:
    fig = "7. endpoint"
    seconds = 4 if quick else 10
    data: dict[str, dict] = {}
    local = driver.start_local(poll_timeout=60)
    try:
        data["local"] = measure_server(res, local, seconds, 1000, 10_000)
        samples = latency(local.url, 20 if quick else 100)
    finally:
        local.stop()
    try:
        moto = driver.start_moto()
    except Exception as exc:  # noqa: BLE001
        res.log(f"  moto server: {exc}")
        moto = None
    if moto is not None:
        try:
            data["moto"] = measure_server(res, moto, seconds, 1000, 10_000)
        except Exception as exc:  # noqa: BLE001
            res.log(f"  moto server: {type(exc).__name__}: {exc}")
        finally:
            moto.stop()
    res.series["endpoint"] = data
    names = {"local": "swfd local", "moto": "moto"}
    for at in ("0", "1000"):
        peer = data.get("moto", {}).get(at, {}).get("cpu_ms_per_call")
        for key in ("local", "moto"):
            if key not in data:
                res.missing(fig, f"{names[key]} CPU/call at {at} closed",
                            "moto's server did not start (pip install flask flask-cors)")
                continue
            m = data[key][at]
            label = f"{m['closed_at_start']:,}"
            note = (f"{m['calls']} calls in {m['seconds']:.1f} s, {CLIENTS} keep-alive clients; "
                    f"{m['calls_per_s']:.0f} calls/s; every cycle closes one more execution")
            if m["errors"]:
                note += f"; errors: {'; '.join(m['errors'])}"
            if key == "local":
                r, text = ratio(m["cpu_ms_per_call"], peer, "moto")
                flat = None
                if at == "1000" and data["local"]["0"]["cpu_ms_per_call"]:
                    flat = m["cpu_ms_per_call"] / data["local"]["0"]["cpu_ms_per_call"]
                    text += f", {flat:.2f}x itself at 0 closed"
                met = None if r is None else (r <= 0.1 and (flat is None or flat <= 1.2))
                res.add(fig, f"{names[key]} server CPU/call at {label} closed",
                        m["cpu_ms_per_call"], "ms/call", ratio=text,
                        target="<= 0.1x moto; flat (<= 1.2x) from 0 to >= 1,000 closed", met=met,
                        note=note)
            else:
                res.add(fig, f"{names[key]} server CPU/call at {label} closed",
                        m["cpu_ms_per_call"], "ms/call", note=note)
        for key in ("local", "moto"):
            if key in data:
                m = data[key][at]
                base = data.get("moto", {}).get(at, {}).get("calls_per_s")
                res.add(fig, f"{names[key]} calls/s at {m['closed_at_start']:,} closed",
                        m["calls_per_s"], "calls/s",
                        ratio=ratio(m["calls_per_s"], base, "moto")[1] if key == "local" else "")
    if samples:
        ordered = sorted(samples)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        median = statistics.median(samples)
        res.series["latency"] = samples
        res.add(fig, "schedule -> waiting poll answers (median)", median, "ms",
                target="< 10 ms", met=median < 10,
                note=f"{len(samples)} samples; p95 {p95:.2f} ms, max {max(samples):.2f} ms; "
                     "from sending the scheduling decision to the parked poll's answer")
