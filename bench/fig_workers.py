"""Figures 1-4: worker CPU per task, throughput, idle CPU, memory.

All against one ``swfd local`` process with SWF's 60 s long poll. Each
worker kind gets its own task list; the driver schedules the tasks up front
(one decision per 100 tasks), so the measured trees do worker work only.
"""

from __future__ import annotations

import statistics
import tempfile
import time

from bench import driver, workers
from bench.procs import all_stats, smaps_rollup, thread_ns
from bench.results import Results, ratio

DOMAIN = "bench"
WARMUP = 10
MiB = 1024 * 1024


def warm_up(swf, w: workers.Workers, task_list: str) -> None:
    fed = driver.feed(swf, DOMAIN, task_list, WARMUP)
    driver.wait_done(swf, fed, 60)
    driver.close_all(swf, fed)
    w.check_alive()


def measure_batch(swf, w: workers.Workers, task_list: str, n: int, timeout: float) -> dict:
    """Time ``n`` tasks and take the tree's CPU before and after."""
    cpu0, t0 = w.cpu(), time.monotonic()
    fed = driver.feed(swf, DOMAIN, task_list, n)
    t1 = driver.wait_done(swf, fed, timeout)
    cpu1 = w.cpu()
    done = driver.count_completed(swf, fed)
    driver.close_all(swf, fed)
    return {"tasks": n, "completed": done, "seconds": t1 - t0, "cpu": cpu1 - cpu0,
            "cpu_ms_per_task": (cpu1 - cpu0) * 1000 / n, "tasks_per_s": n / (t1 - t0)}


def timeout_for(kind: str, n: int) -> float:
    return 30 + n * (0.2 if kind == "simpleflow" else 0.05)


def combine(rounds: list[dict]) -> dict:
    """Median of the rounds' per-task CPU and throughput; totals of the counts."""
    cpu = sorted(r["cpu_ms_per_task"] for r in rounds)
    rate = sorted(r["tasks_per_s"] for r in rounds)
    return {"tasks": sum(r["tasks"] for r in rounds),
            "completed": sum(r["completed"] for r in rounds),
            "cpu_ms_per_task": statistics.median(cpu), "tasks_per_s": statistics.median(rate),
            "rounds": len(rounds), "cpu_range": (cpu[0], cpu[-1]),
            "cpu_by_round": [r["cpu_ms_per_task"] for r in rounds]}


def paired_ratio(m: dict, base: dict) -> tuple[float, float, float] | None:
    """Median, min and max of the per-round ratios ``m``/``base`` (rounds interleaved, so
    each pair ran side by side in time); None without pairs."""
    pairs = [a / b for a, b in zip(m.get("cpu_by_round", ()), base.get("cpu_by_round", ()))
             if b]
    if not pairs:
        return None
    return statistics.median(pairs), min(pairs), max(pairs)


# The first two of a plan run next to each other in every round (in alternating
# order); the others rotate after them. For one slot that pair is the target's.
ONE_SLOT = (("raw", "raw", "WARNING"), ("swfd-info", "swfd", "INFO"),
            ("swfd", "swfd", "WARNING"), ("simpleflow", "simpleflow", "WARNING"),
            ("swfd-daemon", "swfd-daemon", "INFO"))
TWO_SLOTS = (("raw", "raw", "WARNING"), ("swfd", "swfd", "WARNING"),
             ("simpleflow", "simpleflow", "WARNING"))


def round_order(keys: list[str], r: int) -> list[str]:
    """Round ``r``'s order: the first two keys side by side, swapped every other round,
    then the rest rotated by one a round."""
    pair, rest = keys[:2], keys[2:]
    if r % 2:
        pair = pair[::-1]
    if rest:
        rest = rest[r % len(rest):] + rest[:r % len(rest)]
    return pair + rest


def interleaved_rounds(res: Results, swf, endpoint_url: str, n: int, rounds: int,
                       tmpdir: str, measured: dict, slots: int, plan: tuple) -> None:
    """``slots`` processes of each kind, all started at once; interleaved rounds, medians kept.

    Interleaving spreads whatever else the machine is doing over every kind
    alike; a kind that waits its turn sits in a long poll (no CPU).
    """
    started: dict[str, workers.Workers] = {}
    per_round: dict[str, list[dict]] = {}
    try:
        for key, kind, level in plan:
            task_list = f"{key}-{slots}"
            try:
                w = workers.start(kind, endpoint_url, DOMAIN, task_list, slots, tmpdir, level)
                started[key] = w
                warm_up(swf, w, task_list)
            except workers.NotMeasured as exc:
                measured[(key, slots)] = {"error": str(exc)}
                continue
            except Exception as exc:  # noqa: BLE001 - reported in the table
                measured[(key, slots)] = {"error": f"{type(exc).__name__}: {exc}"}
                res.log(f"  {key} x{slots}: {measured[(key, slots)]['error']}")
                broken = started.pop(key, None)
                if broken is not None:
                    broken.stop()
        keys = list(started)
        for r in range(rounds):
            order = round_order(keys, r)
            for key in order:
                try:
                    m = measure_batch(swf, started[key], f"{key}-{slots}", n,
                                      timeout_for(started[key].kind, n))
                    per_round.setdefault(key, []).append(m)
                    res.log(f"  {key} x{slots} round {r + 1}: {m}")
                except Exception as exc:  # noqa: BLE001
                    measured[(key, slots)] = {"error": f"{type(exc).__name__}: {exc}"}
        for key, rounds_done in per_round.items():
            if (key, slots) not in measured:
                measured[(key, slots)] = combine(rounds_done)
    finally:
        for w in started.values():
            w.stop()


def cpu_and_throughput(res: Results, endpoint_url: str, n: int, rounds: int,
                       tmpdir: str) -> None:
    swf = driver.client(endpoint_url)
    measured: dict[tuple[str, int], dict] = {}
    interleaved_rounds(res, swf, endpoint_url, n, rounds, tmpdir, measured, 1, ONE_SLOT)
    # Two processes each (throughput under contention); fewer rounds.
    interleaved_rounds(res, swf, endpoint_url, n, max(2, rounds // 2), tmpdir, measured, 2,
                       TWO_SLOTS)
    res.series["workers"] = {f"{k}x{s}": v for (k, s), v in measured.items()}

    def get(kind: str, slots: int, key: str) -> float | None:
        return measured.get((kind, slots), {}).get(key)

    names = {"raw": "raw boto3 loop", "swfd": "swfd worker", "simpleflow": "simpleflow worker"}
    fig = "1. worker CPU per no-op task"
    raw = get("raw", 1, "cpu_ms_per_task")
    peer = get("simpleflow", 1, "cpu_ms_per_task")
    names["swfd-info"] = ("swfd worker, log_level INFO, log_format json, heartbeat thread "
                          "running")
    names["swfd-daemon"] = ("swfd worker under the real daemon (swfd --config; tree incl. "
                            "supervisor and generation), log_level INFO, log_format json")
    for kind in (*workers.KINDS, "swfd-info", "swfd-daemon"):
        value = get(kind, 1, "cpu_ms_per_task")
        m = measured.get((kind, 1), {})
        if value is None:
            res.missing(fig, names[kind], m.get("error", "no data"))
            continue
        lost = m["tasks"] - m["completed"]
        low, high = m["cpu_range"]
        note = (f"median of {m['rounds']} interleaved rounds of {m['tasks'] // m['rounds']} "
                f"tasks (range {low:.2f}-{high:.2f}), 1 process, whole process tree; "
                f"{lost} not completed")
        if kind not in ("swfd-info", "swfd-daemon"):
            note += "; log level WARNING"

        if kind == "swfd":
            r_raw, s_raw = ratio(value, raw, "raw loop")
            r_peer, s_peer = ratio(value, peer, "simpleflow")
            met = None
            if r_raw is not None:
                met = r_raw <= 1.15 and (r_peer is None or r_peer <= 0.5)
            res.add(fig, names[kind], value, "ms/task", ratio=", ".join(
                s for s in (s_raw, s_peer) if s), target="<= 1.15x raw loop and <= 0.5x "
                "simpleflow", met=met, note=note + ("" if r_peer else "; simpleflow not "
                                                   "measured"))
        elif kind == "swfd-info":  # issue 11's target row
            # Judged on the per-round pairs: each swfd round against the raw loop's round
            # next to it in time, so a load that drifts over the run (other sessions on
            # this machine) moves both sides of each pair alike. The ratio of the two
            # medians is stated beside it.
            r_raw, s_raw = ratio(value, raw, "raw loop")
            paired = paired_ratio(m, measured.get(("raw", 1), {}))
            if paired is not None:
                r_raw = paired[0]
                note += (f"; ratio = median of the per-round ratios against the raw loop's "
                         f"round beside it (range {paired[1]:.2f}-{paired[2]:.2f}x); ratio "
                         f"of the medians {s_raw}")
                s_raw = f"{paired[0]:.2f}x raw loop (per-round pairs)"
            res.add(fig, names[kind], value, "ms/task", ratio=s_raw,
                    target="<= 1.0x raw loop (stretch <= 0.7x)",
                    met=None if r_raw is None else r_raw <= 1.0,
                    note=note + ("" if r_raw is None else "; stretch " + (
                        "met" if r_raw <= 0.7 else "not met")))
        else:
            res.add(fig, names[kind], value, "ms/task", ratio=ratio(value, raw, "raw loop")[1],
                    note=note)
    fig = "2. throughput"
    for slots in (1, 2):
        base = get("raw", slots, "tasks_per_s")
        for kind in workers.KINDS:
            value = get(kind, slots, "tasks_per_s")
            if value is None:
                res.missing(fig, f"{names[kind]} x{slots}",
                            measured.get((kind, slots), {}).get("error", "no data"))
                continue
            res.add(fig, f"{names[kind]} x{slots}", value, "tasks/s",
                    ratio=ratio(value, base, "raw loop")[1],
                    note=("1 worker process, median of the rounds" if slots == 1 else
                          "2 worker processes, median of the rounds; 2 cores shared with the "
                          "endpoint and the driver: contention"))


def idle_and_memory(res: Results, endpoint_url: str, idle_seconds: float, tmpdir: str) -> None:
    """Start every kind, warm it up, then leave them idle together and measure."""
    swf = driver.client(endpoint_url)
    plan = [("raw", 1), ("swfd", 4), ("swfd-standalone", 1), ("simpleflow", 2)]
    started: dict[str, workers.Workers] = {}
    errors: dict[str, str] = {}
    try:
        for kind, slots in plan:
            try:
                w = workers.start(kind, endpoint_url, DOMAIN, f"idle-{kind}", slots, tmpdir)
                started[kind] = w
                fed = driver.feed(swf, DOMAIN, f"idle-{kind}", 2 * WARMUP)
                driver.wait_done(swf, fed, 60)
                w.check_alive()
            except Exception as exc:  # noqa: BLE001
                errors[kind] = f"{type(exc).__name__}: {exc}"
                res.log(f"  {kind}: {errors[kind]}")
        time.sleep(1.0)  # let the last responses settle before the idle window opens
        pids_of = {kind: w.pids() for kind, w in started.items()}
        before = {p: thread_ns(p) for pids in pids_of.values() for p in pids}
        t0 = time.monotonic()
        deadline = t0 + idle_seconds
        while time.monotonic() < deadline:  # bounded idle window; nothing to do
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        after = {p: thread_ns(p) for p in before}
        elapsed = time.monotonic() - t0
        memory: dict[str, dict] = {}
        alive = all_stats()
        for kind, w in started.items():
            pids = [p for p in pids_of[kind] if p in alive]
            per = {p: (after[p] - before[p]) / 1e9 for p in pids}
            worst = max(per.values()) if per else 0.0
            plural = "es" if len(pids) > 1 else ""
            res.add("3. idle CPU per process", f"{kind} ({len(pids)} process{plural})",
                    100 * worst / elapsed, "% CPU", target="< 0.5 %",
                    met=100 * worst / elapsed < 0.5,
                    note=f"busiest process of the tree over {elapsed:.0f} s (schedstat, all "
                         "threads); the endpoint's long poll is SWF's 60 s")
            memory[kind] = {p: smaps_rollup(p) for p in pids}
            memory[kind]["workers"] = w.worker_pids()
        report_memory(res, memory, errors)
    finally:
        for w in started.values():
            w.stop()


def report_memory(res: Results, memory: dict, errors: dict) -> None:
    fig = "4. memory per worker process"
    series = {}
    standalone = memory.get("swfd-standalone", {})
    alone = next((v for k, v in standalone.items() if k != "workers"), None)
    for kind, data in memory.items():
        slots = data["workers"]
        pss = [data[p]["pss"] for p in slots if p in data]
        uss = [data[p]["uss"] for p in slots if p in data]
        rss = [data[p]["rss"] for p in slots if p in data]
        if pss:
            series[kind] = {"pss": sum(pss) / len(pss) / MiB, "uss": sum(uss) / len(uss) / MiB,
                            "rss": sum(rss) / len(rss) / MiB,
                            "parents": [v["pss"] / MiB for k, v in data.items()
                                        if k not in slots and k != "workers"]}
    raw_pss = series.get("raw", {}).get("pss")
    for kind, m in series.items():
        note = (f"mean of {len(memory[kind]['workers'])} worker process(es); USS {m['uss']:.1f} "
                f"MiB, RSS {m['rss']:.1f} MiB")
        if m["parents"]:
            note += "; parent PSS " + ", ".join(f"{p:.1f}" for p in m["parents"]) + " MiB"
        vs_raw = ratio(m["pss"], raw_pss, "raw loop PSS")[1] if kind != "raw" else ""
        if kind == "swfd" and alone:
            share = m["pss"] / (alone["rss"] / MiB)
            res.add(fig, "swfd worker, forked after import (PSS)", m["pss"], "MiB",
                    ratio=f"{share:.2f}x standalone RSS ({alone['rss'] / MiB:.1f} MiB), {vs_raw}",
                    target="<= 0.40x standalone RSS", met=share <= 0.40, note=note)
        else:
            res.add(fig, f"{kind} worker (PSS)", m["pss"], "MiB", ratio=vs_raw, note=note)
    for kind, error in errors.items():
        res.missing(fig, kind, error)
    res.series["memory"] = series


def worker_path_figure(res: Results, quick: bool) -> None:
    """Figure 1b (bench/worker_path.py): the client side of a task, in-process."""
    from bench import worker_path

    m = worker_path.run(1000 if quick else 2000, 5 if quick else 7)
    fig = "1b. worker CPU per task, client side only (no network, no server)"
    raw = m["raw"]
    for kind in ("raw", "swfd WARNING text", "swfd INFO json"):
        low, high = m["ranges"][kind]
        res.add(fig, kind, m[kind], "us/task", ratio=f"{m[kind] / raw:.2f}x raw loop",
                note=f"median of interleaved rounds (range {low:.0f}-{high:.0f}); requests "
                     "answered by a before-send handler from canned bodies")
    for name, value in m["pieces"].items():
        res.add(fig, f"piece: {name}", value, "us", note="alone, per call")
    if quick:  # six runs under valgrind take ~3 min: the full run only
        return
    fig = "1c. worker instructions per task, client side (callgrind)"
    counts = {kind: worker_path.instructions(kind) for kind in worker_path.KINDS}
    base = counts.get("raw")
    for kind, value in counts.items():
        if value is None:
            res.missing(fig, kind, "valgrind is not installed")
            continue
        res.add(fig, kind, value / 1e6, "M instructions/task",
                ratio=f"{value / base:.3f}x raw loop" if base else "",
                note="figure 1b's loops under valgrind --tool=callgrind: (250 tasks - 50 "
                     "tasks) / 200; deterministic where CPU time is not")


def run(res: Results, quick: bool) -> None:
    res.guarded("1b. worker CPU per task, client side", lambda: worker_path_figure(res, quick))
    tmpdir = tempfile.mkdtemp(prefix="swfd-bench-workers-")
    endpoint = driver.start_local(poll_timeout=60)
    try:
        swf = driver.client(endpoint.url)
        driver.setup_domain(swf, DOMAIN)
        res.guarded("1-2. worker CPU and throughput", lambda: cpu_and_throughput(
            res, endpoint.url, 300 if quick else 1000, 7 if quick else 9, tmpdir))
        res.guarded("3-4. idle CPU and memory", lambda: idle_and_memory(
            res, endpoint.url, 10 if quick else 30, tmpdir))
    finally:
        endpoint.stop()
