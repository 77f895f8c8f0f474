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

Then the local endpoint alone (``store_figures``, ``sigv4_figures``):

* the cost of ``PRAGMA quick_check`` at start on a database of 10,000 closed
  executions (warm page cache; MB/s, so its cost on a larger file follows);
* ``ListClosedWorkflowExecutions`` (a page of 1,000) and
  ``CountClosedWorkflowExecutions`` at 10,000 closed executions, server side
  (the engine call and the JSON encoding, in-process, median of repeats);
* the retention stall: 6,000 expired executions (7 events each) swept while
  another thread pings the engine; the longest ping, the longest batch, and
  the WAL before and after;
* SigV4 verification: its CPU per request in-process, and the server's CPU
  per call under the same wire load with keys on and off.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from bench import driver
from bench.procs import die_with_parent, free_port, stop, tree_cpu_seconds, wait_port
from bench.results import Results, ratio
from bench.tasks import ACTIVITY_NAME, ACTIVITY_VERSION
from bench.wire import KEY_ID, SECRET, WireClient

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
    endpoint_vs_moto(res, quick)
    store_figures(res, quick)
    sigv4_figures(res, quick)


def endpoint_vs_moto(res: Results, quick: bool) -> None:
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


# -- the local endpoint alone: its store and its signature checks ----------------------------

STORE_FIG = "7b. endpoint store"


def _median_ms(fn, repeats: int) -> tuple[float, float]:
    """(median, max) milliseconds of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times), max(times)


def _closed_engine(database: str, domain: str, retention: str, count: int, signals: int):
    """An in-process engine with ``count`` closed executions in ``domain``, each with
    ``signals`` signals (WorkflowExecutionStarted, DecisionTaskScheduled, the signals,
    WorkflowExecutionTerminated), and a 200-byte input."""
    from swfd.local.engine import Engine

    engine = Engine(database, poll_timeout=0.1)
    engine.retention.stop()  # the figures sweep themselves
    c = engine.call
    c("RegisterDomain", {"name": domain, "workflowExecutionRetentionPeriodInDays": retention})
    c("RegisterWorkflowType", {"domain": domain, **WORKFLOW, "defaultTaskList": {"name": "d"},
                               "defaultChildPolicy": "TERMINATE",
                               "defaultExecutionStartToCloseTimeout": "3600",
                               "defaultTaskStartToCloseTimeout": "600"})
    for i in range(count):
        wid = f"w{i}"
        c("StartWorkflowExecution", {"domain": domain, "workflowId": wid,
                                     "workflowType": WORKFLOW, "input": "x" * 200,
                                     "tagList": ["bench"]})
        for n in range(signals):
            c("SignalWorkflowExecution", {"domain": domain, "workflowId": wid,
                                          "signalName": f"s{n}"})
        c("TerminateWorkflowExecution", {"domain": domain, "workflowId": wid})
    return engine


def store_figures(res: Results, quick: bool) -> None:
    from swfd.local import integrity
    from swfd.local.summaries import encode

    tmp = tempfile.mkdtemp(prefix="swfd-bench-store-")
    database = os.path.join(tmp, "lists.sqlite3")
    closed = 10_000
    t0 = time.monotonic()
    engine = _closed_engine(database, "lists", "30", closed, 0)
    res.log(f"  {closed} closed executions made in {time.monotonic() - t0:.1f} s")
    try:
        page = {"domain": "lists", "startTimeFilter": {"oldestDate": 0},
                "maximumPageSize": 1000}

        def list_page() -> None:  # what the server does: the call, then the body it sends
            encode(engine.call("ListClosedWorkflowExecutions", page))

        median, worst = _median_ms(list_page, 10 if quick else 30)
        res.add(STORE_FIG, f"ListClosedWorkflowExecutions, page of 1,000 at {closed:,} closed",
                median, "ms", target="<= 10 ms", met=median <= 10,
                note=f"server side: engine call + JSON encoding, median (max {worst:.1f} ms); "
                     "summary columns through a covering index")
        count = {"domain": "lists", "startTimeFilter": {"oldestDate": 0}}
        median, worst = _median_ms(lambda: engine.call("CountClosedWorkflowExecutions", count),
                                   50 if quick else 200)
        res.add(STORE_FIG, f"CountClosedWorkflowExecutions at {closed:,} closed", median, "ms",
                target="<= 2 ms", met=median <= 2,
                note=f"median (max {worst:.2f} ms); an index-only count")
        status = dict(count, closeStatusFilter={"status": "TERMINATED"})
        median, _ = _median_ms(lambda: engine.call("CountClosedWorkflowExecutions", status),
                               50 if quick else 200)
        res.add(STORE_FIG, f"... with closeStatusFilter at {closed:,} closed", median, "ms",
                target="<= 2 ms", met=median <= 2, note="median; index-only too")
    finally:
        engine.close()
    size = os.path.getsize(database)
    import sqlite3

    def check() -> None:
        db = sqlite3.connect(database)
        integrity.quick_check(db, database, size)
        db.close()

    median, _ = _median_ms(check, 3)
    rate = size / 1e6 / (median / 1000)
    res.add(STORE_FIG, "PRAGMA quick_check at start", median, "ms",
            note=f"{size / 1e6:.1f} MB database ({closed:,} closed executions), warm page "
                 f"cache, median of 3: {rate:.0f} MB/s, so about {1000 / rate:.1f} s per GB; "
                 f"run on files up to {integrity.QUICK_CHECK_MAX_BYTES >> 20} MB")
    retention_stall(res, tmp, 2_000 if quick else 6_000)
    for name in os.listdir(tmp):
        os.unlink(os.path.join(tmp, name))
    os.rmdir(tmp)


def retention_stall(res: Results, tmp: str, expired: int) -> None:
    """Sweep ``expired`` executions while another thread pings the engine."""
    database = os.path.join(tmp, "retention.sqlite3")
    engine = _closed_engine(database, "expired", "0", expired, 4)
    wal = database + "-wal"
    before = os.path.getsize(wal) if os.path.exists(wal) else 0
    pings: list[float] = []
    wal_peak = [before]
    done = threading.Event()

    def ping() -> None:
        for _ in range(1_000_000):
            if done.is_set():
                return
            t0 = time.perf_counter()
            engine.call("DescribeDomain", {"name": "expired"})
            pings.append(1000 * (time.perf_counter() - t0))
            if os.path.exists(wal):
                wal_peak[0] = max(wal_peak[0], os.path.getsize(wal))
            time.sleep(0.001)

    pinger = threading.Thread(target=ping)
    try:
        pinger.start()
        t0 = time.monotonic()
        deleted = engine.retention.sweep()
        seconds = time.monotonic() - t0
    finally:
        done.set()
        pinger.join(30)
        after = os.path.getsize(wal) if os.path.exists(wal) else 0
        last = engine.retention.last
        engine.close()
    worst = max(pings) if pings else None
    res.add(STORE_FIG, f"longest call while retention deletes {deleted:,} executions", worst,
            "ms", target="<= 50 ms", met=worst is not None and worst <= 50,
            note=f"{len(pings)} DescribeDomain pings during a {seconds:.2f} s sweep "
                 f"(median {statistics.median(pings):.2f} ms); {last.get('batches')} batches, "
                 f"longest {1000 * last.get('longest_batch_s', 0):.1f} ms; 7 events each")
    res.add(STORE_FIG, "WAL after the sweep", after / 1e6, "MB",
            note=f"{before / 1e6:.1f} MB before, {wal_peak[0] / 1e6:.1f} MB at most during; "
                 "checkpointed and truncated at the end of the sweep")


def _start_local_with(*extra: str) -> driver.Endpoint:
    """``swfd local`` (as driver.start_local) with extra arguments."""
    tmpdir = tempfile.mkdtemp(prefix="swfd-bench-")
    port = free_port()
    log = os.path.join(tmpdir, "local.log")
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "swfd.cli", "local", "--host", "127.0.0.1", "--port",
             str(port), "--database", os.path.join(tmpdir, "local.sqlite3"),
             "--poll-timeout", "60", *extra],
            stdout=out, stderr=subprocess.STDOUT, env=driver.bench_env(), cwd=driver.ROOT,
            preexec_fn=die_with_parent,  # noqa: PLW1509
        )
    try:
        wait_port("127.0.0.1", port, 30, proc)
    except Exception:
        stop(proc)
        raise
    return driver.Endpoint("swfd local", proc, f"http://127.0.0.1:{port}", tmpdir, log)


def sigv4_figures(res: Results, quick: bool) -> None:
    from bench.wire import WireClient as Signer
    from swfd.local.auth import Verifier

    fig = "7c. endpoint SigV4"
    body = b'{"registrationStatus":"REGISTERED"}'
    headers = {k.lower(): v for k, v in Signer("http://127.0.0.1:8799").headers(
        "ListDomains", body).items()}
    headers["host"] = "127.0.0.1:8799"
    verifier = Verifier({KEY_ID: SECRET})
    reps = 2_000 if quick else 10_000
    t0 = time.process_time()
    for _ in range(reps):
        verifier.verify("POST", "/", headers, body)
    per = 1e6 * (time.process_time() - t0) / reps
    res.add(fig, "SigV4 verification, in-process", per, "us/request",
            note=f"{reps} verifications of a signed ListDomains (botocore's signer recomputes "
                 "the signature); CPU time")
    seconds = 4 if quick else 10
    cpu: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(1 if quick else 2):  # interleaved rounds
        for mode, extra in (("off", ()), ("on", ("--access-key-id", KEY_ID,
                                                 "--secret-access-key", SECRET))):
            ep = _start_local_with(*extra)
            try:
                setup(ep.url)
                m = load(ep.url, ep.proc.pid, seconds, 10_000)
                if m["errors"]:
                    raise RuntimeError(f"keys {mode}: {m['errors'][0]}")
                cpu[mode].append(m["cpu_ms_per_call"])
            finally:
                ep.stop()
    off, on = statistics.median(cpu["off"]), statistics.median(cpu["on"])
    res.add(fig, "server CPU/call, keys off", off, "ms/call",
            note=f"the 7-call cycle, {CLIENTS} wire clients, {seconds} s per round")
    res.add(fig, "server CPU/call, keys on (every request verified)", on, "ms/call",
            ratio=ratio(on, off, "keys off")[1],
            note=f"{1000 * (on - off):.0f} us more per call")
