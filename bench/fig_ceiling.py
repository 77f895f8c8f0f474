"""Figure 7d: the local endpoint's ceiling with featherweight clients, and its closed lists.

The ceiling: ``swfd local`` in its own process, pinned to one core
(``os.sched_setaffinity`` on its pid, the first core this harness may use);
``PROCS`` client processes pinned to the other cores, each with ``THREADS``
threads, each thread a :class:`bench.wire.RawClient` (one keep-alive socket,
SigV4 signed by hand, answers read by Content-Length) running the 7-call
smallest workflow of figure 7 on its own task lists: start, poll decision,
schedule one activity, poll activity, complete it, poll decision, complete the
workflow. Every cycle is 3 tasks (2 decision tasks, 1 activity task).

The clients count only the cycles they finish inside a common window (wall
clock, after a warm-up); the harness reads the endpoint's user+sys ticks from
``/proc/PID/stat`` at the window's edges. Reported: tasks/s and calls/s in the
window, the endpoint's CPU per call, how busy its core was (a ceiling is a
core near 100 %), and the clients' own CPU per call (they must be far cheaper
than the server for this to measure the server). ``SWFD_BENCH_ENDPOINT_BASELINE``
(a source tree) adds that tree's endpoint to every round, first, for a ratio
taken within the run.

The closed lists: 10,000 closed executions seeded through the engine (in
this process, on a real SQLite file), then ``swfd local`` started on that file
and ``ListClosedWorkflowExecutions`` (a page of 100, SWF's default, and of
1,000) and ``CountClosedWorkflowExecutions`` called through HTTP with boto3,
without and with a filter (close status; workflow id; tag; type): the client's
latency and the endpoint's CPU per call (on-CPU time of its threads, schedstat).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from bench import driver
from bench.procs import (
    CLK_TCK,
    die_with_parent,
    free_port,
    read_stat,
    stop,
    thread_ns,
    wait_port,
)
from bench.results import Results

FIG = "7d. endpoint ceiling"
LISTS_FIG = "7e. closed lists through HTTP"
PROCS = 2
THREADS = 3
CALLS_PER_CYCLE = 7
TASKS_PER_CYCLE = 3
WARMUP_SECONDS = 1.5
# Issue 11's target: >= 1,500 tasks/s on one core, or per-call CPU <= 0.5x before the
# endpoint work. Without a baseline tree to interleave, "before" is commit 618b22e under
# this load: median of 3 rounds of 10 s, interleaved, on the shared 2-core machine.
TARGET_TASKS_PER_S = 1500
BEFORE_MS_PER_CALL = 0.32


def client_main(argv: list[str]) -> int:
    """One client process: ``client URL START END THREADS``; prints its counts as JSON."""
    from bench.fig_endpoint import cycle
    from bench.wire import RawClient

    url, start_at, end_at, threads = argv[0], float(argv[1]), float(argv[2]), int(argv[3])
    counts = [0] * threads
    errors: list[str] = []
    cpu: list[float] = [0.0, 0.0]

    def run(i: int) -> None:
        c = RawClient(url)
        name = f"ceil{os.getpid()}-{i}-{uuid.uuid4().hex[:6]}"
        try:
            for _ in range(10_000_000):
                if time.time() >= end_at:
                    return
                cycle(c, name)
                finished = time.time()
                if start_at <= finished < end_at:
                    counts[i] += 1
        except Exception as exc:  # noqa: BLE001 - reported to the harness
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
        finally:
            c.close()

    def clock() -> None:  # this process's CPU over the window
        time.sleep(max(0.0, start_at - time.time()))
        cpu[0] = time.process_time()
        time.sleep(max(0.0, end_at - time.time()))
        cpu[1] = time.process_time()

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    workers.append(threading.Thread(target=clock))
    for t in workers:
        t.start()
    for t in workers:
        t.join(end_at - time.time() + 60)
    print(json.dumps({"cycles": sum(counts), "cpu": cpu[1] - cpu[0], "errors": errors}))
    return 0


def _cores() -> tuple[set[int], set[int]] | None:
    """(the endpoint's core, the clients' cores), or None with fewer than 2 cores."""
    mine = sorted(os.sched_getaffinity(0))
    if len(mine) < 2:
        return None
    return {mine[0]}, set(mine[1:])


def _pin(pid: int, cores: set[int]) -> None:
    """Pin every thread of ``pid`` (affinity is per thread; new threads inherit it from
    their creator, so the endpoint's connection threads follow its accept thread)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), cores)
        except OSError:
            pass  # the thread ended


def ceiling(url: str, pid: int, seconds: float, procs: int = PROCS,
            threads: int = THREADS) -> dict:
    """Run the featherweight load for ``seconds`` (after a warm-up); the endpoint's figures."""
    cores = _cores()
    if cores is not None:
        _pin(pid, cores[0])
    start_at = time.time() + WARMUP_SECONDS + 0.5
    end_at = start_at + seconds
    clients = []
    for _ in range(procs):
        clients.append(subprocess.Popen(
            [sys.executable, "-m", "bench.fig_ceiling", "client", url, repr(start_at),
             repr(end_at), str(threads)],
            stdout=subprocess.PIPE, env=driver.bench_env(), cwd=driver.ROOT,
            preexec_fn=die_with_parent))  # noqa: PLW1509
        if cores is not None:
            os.sched_setaffinity(clients[-1].pid, cores[1])
    time.sleep(max(0.0, start_at - time.time()))
    first = read_stat(pid)
    t0 = time.monotonic()
    time.sleep(max(0.0, end_at - time.time()))
    last = read_stat(pid)
    elapsed = time.monotonic() - t0
    outs = []
    for proc in clients:
        try:
            out, _ = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            stop(proc)
            out = b"{}"
        outs.append(json.loads(out or b"{}"))
    cycles = sum(o.get("cycles", 0) for o in outs)
    calls = cycles * CALLS_PER_CYCLE
    cpu = (last.own_ticks - first.own_ticks) / CLK_TCK if first and last else 0.0
    client_cpu = sum(o.get("cpu", 0.0) for o in outs)
    return {
        "cycles": cycles, "calls": calls, "seconds": elapsed,
        "tasks_per_s": cycles * TASKS_PER_CYCLE / elapsed, "calls_per_s": calls / elapsed,
        "cpu_ms_per_call": 1000 * cpu / calls if calls else None,
        "core_busy": cpu / elapsed, "client_ms_per_call": 1000 * client_cpu / calls if calls
        else None, "pinned": cores is not None,
        "errors": [e for o in outs for e in o.get("errors", [])],
    }


def start_endpoint(source: str | None) -> driver.Endpoint:
    """``swfd local`` from this tree, or from the source tree ``source`` (a baseline)."""
    if source is None:
        return driver.start_local(poll_timeout=60)
    tmpdir = tempfile.mkdtemp(prefix="swfd-bench-base-")
    port = free_port()
    log = os.path.join(tmpdir, "local.log")
    env = driver.bench_env()
    env["PYTHONPATH"] = source
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "swfd.cli", "local", "--host", "127.0.0.1", "--port",
             str(port), "--database", os.path.join(tmpdir, "local.sqlite3"),
             "--poll-timeout", "60"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=source,
            preexec_fn=die_with_parent)  # noqa: PLW1509
    try:
        wait_port("127.0.0.1", port, 30, proc)
    except Exception:
        stop(proc)
        raise
    return driver.Endpoint("swfd local (baseline)", proc, f"http://127.0.0.1:{port}",
                           tmpdir, log)


def measure(source: str | None, seconds: float) -> dict:
    from bench.fig_endpoint import setup

    local = start_endpoint(source)
    try:
        setup(local.url)
        m = ceiling(local.url, local.proc.pid, seconds)
    finally:
        local.stop()
    if m["errors"]:
        raise RuntimeError(f"featherweight clients failed: {m['errors'][0]}")
    return m


def capacity(m: dict) -> float | None:
    """Tasks per second the endpoint would serve with a core of its own: 1 / its CPU
    seconds per task in the window. Unlike tasks/s, it does not fall when other
    processes take part of the endpoint's core (a loaded machine), only when they
    make each call dearer (shared caches)."""
    per_call = m["cpu_ms_per_call"]
    return 1000 / (per_call * CALLS_PER_CYCLE / TASKS_PER_CYCLE) if per_call else None


def _spread(values: list[float], digits: int) -> str:
    """``min-max`` of a figure's rounds."""
    return f"{min(values):.{digits}f}-{max(values):.{digits}f}"


def ceiling_figures(res: Results, quick: bool) -> None:
    """The ceiling, in rounds (at least 3: a median); with ``SWFD_BENCH_ENDPOINT_BASELINE``
    (a source tree, e.g. ``git worktree add DIR <commit>``) each round measures that
    tree's endpoint first, interleaved, and the ratios are taken within the run.

    Reported: tasks/s in the window (best round: what the machine allowed), the
    capacity on one core (1 / CPU per task, median: what the endpoint costs, robust
    to a loaded machine) and the CPU per call (median), each with its rounds' range
    and the load average around the figure."""
    baseline = os.environ.get("SWFD_BENCH_ENDPOINT_BASELINE") or None
    if baseline is not None and not os.path.isdir(os.path.join(baseline, "swfd", "local")):
        raise RuntimeError(f"SWFD_BENCH_ENDPOINT_BASELINE={baseline}: no swfd/local there")
    seconds = 3 if quick else 10
    rounds = 3
    load_before = os.getloadavg()[0]
    found: list[dict] = []
    before: list[dict] = []
    for _ in range(rounds):
        if baseline is not None:
            before.append(measure(baseline, seconds))
            res.log(f"  ceiling round, baseline: {before[-1]}")
        found.append(measure(None, seconds))
        res.log(f"  ceiling round: {found[-1]}")
    load = f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} (1 min)"
    best = max(found, key=lambda m: m["tasks_per_s"])
    pinned = ("endpoint pinned to one core, clients to the other(s)" if best["pinned"]
              else "not pinned (fewer than 2 cores)")
    tail = (f"{PROCS} client processes x {THREADS} threads (RawClient); {pinned}; "
            f"{rounds} rounds of {seconds} s{', interleaved with the baseline' if before else ''}"
            f"; {load}")
    ratio_text = ""
    if before:
        best_before = max(before, key=lambda m: m["tasks_per_s"])
        ratio_text = f"{best['tasks_per_s'] / best_before['tasks_per_s']:.2f}x baseline"
        tail += f"; baseline best {best_before['tasks_per_s']:.0f} tasks/s"
    res.add(FIG, "tasks/s at the ceiling (2 decision + 1 activity task a cycle)",
            best["tasks_per_s"], "tasks/s", ratio=ratio_text,
            target=f">= {TARGET_TASKS_PER_S:,} tasks/s",
            met=best["tasks_per_s"] >= TARGET_TASKS_PER_S,
            note=f"best round; rounds {_spread([m['tasks_per_s'] for m in found], 0)}, median "
                 f"{statistics.median(m['tasks_per_s'] for m in found):.0f}; "
                 f"{best['calls_per_s']:.0f} calls/s, the endpoint's core "
                 f"{100 * best['core_busy']:.0f} % busy; {tail}")
    capacities = [capacity(m) for m in found]
    cap = statistics.median(capacities)
    cap_ratio = ""
    if before:
        base_cap = statistics.median(capacity(m) for m in before)
        cap_ratio = f"{cap / base_cap:.2f}x baseline ({base_cap:.0f} tasks/s)"
    res.add(FIG, "capacity on one core (1 / endpoint CPU per task)", cap, "tasks/s",
            ratio=cap_ratio, target=f">= {TARGET_TASKS_PER_S:,} tasks/s (a core of its own)",
            met=cap >= TARGET_TASKS_PER_S,
            note=f"median of {rounds} rounds, range {_spread(capacities, 0)}; derived from "
                 "the CPU the endpoint used per task in the window, so it holds when other "
                 "processes share its core; " + load)
    per_calls = [m["cpu_ms_per_call"] for m in found]
    per_call = statistics.median(per_calls)
    if before:
        base = statistics.median(m["cpu_ms_per_call"] for m in before)
        base_text = f"baseline {baseline}, median of {rounds} interleaved rounds"
    else:
        base, base_text = BEFORE_MS_PER_CALL, "618b22e under this load, another run"
    ratio = per_call / base
    res.add(FIG, "endpoint CPU per call at the ceiling", per_call, "ms/call",
            ratio=f"{ratio:.2f}x before ({base:.3f} ms: {base_text})",
            target="<= 0.5x before", met=ratio <= 0.5,
            note=f"median of {rounds} rounds, range {_spread(per_calls, 3)} (user+sys of the "
                 "endpoint process); clients' own CPU "
                 f"{statistics.median(m['client_ms_per_call'] for m in found):.3f} ms/call; "
                 + load)
    res.series["ceiling"] = {"current": found, "baseline": before}


# -- ListClosed / CountClosed through HTTP ----------------------------------------------------

def _seed_closed(database: str, count: int) -> None:
    """``count`` closed executions in domain "lists": started and terminated through the
    engine (same rows as through HTTP, without the HTTP cost), 1 in 10 tagged "odd", 1 in
    4 of type BenchOther; then the engine is closed (the file is released)."""
    from bench.fig_endpoint import WORKFLOW
    from swfd.local.engine import Engine

    engine = Engine(database, poll_timeout=0.1)
    engine.retention.stop()
    try:
        c = engine.call
        c("RegisterDomain", {"name": "lists", "workflowExecutionRetentionPeriodInDays": "30"})
        other = {"name": "BenchOther", "version": "1"}
        for wtype in (WORKFLOW, other):
            c("RegisterWorkflowType", {
                "domain": "lists", **wtype, "defaultTaskList": {"name": "d"},
                "defaultChildPolicy": "TERMINATE",
                "defaultExecutionStartToCloseTimeout": "3600",
                "defaultTaskStartToCloseTimeout": "600"})
        for i in range(count):
            wid = f"w{i}"
            c("StartWorkflowExecution", {
                "domain": "lists", "workflowId": wid,
                "workflowType": other if i % 4 == 0 else WORKFLOW, "input": "x" * 200,
                "tagList": ["bench", "odd"] if i % 10 == 0 else ["bench"]})
            c("TerminateWorkflowExecution", {"domain": "lists", "workflowId": wid})
    finally:
        engine.close()


def list_figures(res: Results, quick: bool) -> None:
    import boto3
    from botocore.config import Config

    from bench.fig_endpoint import WORKFLOW

    closed = 10_000
    tmp = tempfile.mkdtemp(prefix="swfd-bench-lists-")
    database = os.path.join(tmp, "lists.sqlite3")
    t0 = time.monotonic()
    _seed_closed(database, closed)
    res.log(f"  {closed} closed executions seeded in {time.monotonic() - t0:.1f} s")
    local = driver.start_local(poll_timeout=60, database=database)
    try:
        client = boto3.client(
            "swf", endpoint_url=local.url, region_name="us-east-1",
            aws_access_key_id="bench", aws_secret_access_key="bench",
            config=Config(retries={"max_attempts": 1}, read_timeout=120))
        since = {"startTimeFilter": {"oldestDate": 0}, "domain": "lists"}
        cases = [
            ("ListClosedWorkflowExecutions", "page of 100, no filter",
             {**since, "maximumPageSize": 100}, 100),
            ("ListClosedWorkflowExecutions", "page of 1,000, no filter",
             {**since, "maximumPageSize": 1000}, 1000),
            ("ListClosedWorkflowExecutions", "page of 100, closeStatusFilter",
             {**since, "maximumPageSize": 100,
              "closeStatusFilter": {"status": "TERMINATED"}}, 100),
            ("ListClosedWorkflowExecutions", "page of 100, tagFilter (1 in 10)",
             {**since, "maximumPageSize": 100, "tagFilter": {"tag": "odd"}}, 100),
            ("ListClosedWorkflowExecutions", "page of 100, typeFilter (3 in 4)",
             {**since, "maximumPageSize": 100, "typeFilter": {"name": WORKFLOW["name"]}}, 100),
            ("ListClosedWorkflowExecutions", "executionFilter (1 match)",
             {**since, "executionFilter": {"workflowId": "w5000"}}, 1),
            ("CountClosedWorkflowExecutions", "no filter", since, None),
            ("CountClosedWorkflowExecutions", "closeStatusFilter",
             {**since, "closeStatusFilter": {"status": "TERMINATED"}}, None),
            ("CountClosedWorkflowExecutions", "tagFilter (1 in 10)",
             {**since, "tagFilter": {"tag": "odd"}}, None),
            ("CountClosedWorkflowExecutions", "typeFilter (3 in 4)",
             {**since, "typeFilter": {"name": WORKFLOW["name"]}}, None),
        ]
        repeats = 10 if quick else 30
        for operation, what, params, want in cases:
            method = getattr(client, _snake(operation))
            method(**params)  # warm: connection, page cache
            times = []
            cpu0 = thread_ns(local.proc.pid)  # ns, not ticks: a call is a few ms
            for _ in range(repeats):
                t = time.perf_counter()
                answer = method(**params)
                times.append(1000 * (time.perf_counter() - t))
            cpu = (thread_ns(local.proc.pid) - cpu0) / 1e9
            got = (len(answer["executionInfos"]) if want is not None
                   else answer["count"])
            if want is not None and got != want:
                raise RuntimeError(f"{operation} {what}: {got} executions, wanted {want}")
            median = statistics.median(times)
            per_call = 1000 * cpu / repeats
            short = "ListClosed" if operation.startswith("List") else "CountClosed"
            limit = 2.0 if want is None else 10.0  # figure 7b's targets, server side
            res.add(LISTS_FIG, f"{short}, {what}, at {closed:,} closed: endpoint CPU",
                    per_call, "ms/call", target=f"<= {limit:g} ms (as 7b)",
                    met=per_call <= limit,
                    note=f"mean of {repeats}; boto3 round trip median {median:.2f} ms "
                         f"(max {max(times):.1f} ms); {'count ' if want is None else ''}{got}")
    finally:
        local.stop()
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)


def _snake(operation: str) -> str:
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in operation).lstrip("_")


def run(res: Results, quick: bool) -> None:
    res.guarded(FIG, lambda: ceiling_figures(res, quick))
    res.guarded(LISTS_FIG, lambda: list_figures(res, quick))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        sys.exit(client_main(sys.argv[2:]))
    print("usage: python -m bench.fig_ceiling client URL START END THREADS", file=sys.stderr)
    sys.exit(2)
