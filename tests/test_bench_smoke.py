"""Smoke test of the benchmark harness (bench/): its smallest pieces produce figures.

Asserts only that numbers were produced (and that tasks completed), never a
speed target: targets belong in bench/RESULTS.md, not in CI.
"""

from __future__ import annotations

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench import driver, fig_ceiling, fig_decider, fig_endpoint, fig_workers, workers
from bench.report import write_markdown
from bench.results import Results


@pytest.fixture
def endpoint():
    """``swfd local`` in its own process, as the harness runs it."""
    ep = driver.start_local(poll_timeout=2)
    try:
        yield ep
    finally:
        ep.stop()


def test_raw_loop_cpu_per_task_and_throughput(endpoint, tmp_path):
    swf = driver.client(endpoint.url)
    driver.setup_domain(swf, fig_workers.DOMAIN)
    w = workers.start("raw", endpoint.url, fig_workers.DOMAIN, "smoke", 1, str(tmp_path))
    try:
        fig_workers.warm_up(swf, w, "smoke")
        m = fig_workers.measure_batch(swf, w, "smoke", 30, timeout=60)
    finally:
        w.stop()
    assert m["completed"] == 30
    assert m["cpu"] > 0 and m["cpu_ms_per_task"] > 0
    assert m["tasks_per_s"] > 0


def test_endpoint_latency_samples(endpoint):
    fig_endpoint.setup(endpoint.url)
    samples = fig_endpoint.latency(endpoint.url, 5)
    assert len(samples) == 5
    assert all(s > 0 for s in samples)


def test_endpoint_ceiling_window_and_capacity(endpoint):
    """Figure 7d's featherweight clients for a 1 s window: cycles counted, the endpoint's
    CPU read, and its one-core capacity is 1 / its CPU per task (3 tasks a 7-call cycle)."""
    fig_endpoint.setup(endpoint.url)
    m = fig_ceiling.ceiling(endpoint.url, endpoint.proc.pid, 1.0, procs=1, threads=1)
    assert not m["errors"]
    assert m["cycles"] > 0 and m["calls"] == 7 * m["cycles"]
    assert m["cpu_ms_per_call"] > 0
    per_task_s = m["cpu_ms_per_call"] / 1000 * 7 / 3
    assert abs(fig_ceiling.capacity(m) - 1 / per_task_s) < 1e-6 * fig_ceiling.capacity(m)


def test_decider_cost_on_a_small_history():
    m = fig_decider.measure(10, min_seconds=0.05, max_reps=20)
    assert m["events"] == 9
    assert all(m[mode] > 0 for mode in fig_decider.MODES)
    assert m["hit_cache"][0] > 0 and m["miss_cache"][1] > 0
    assert "GetWorkflowExecutionHistory" in m["miss_calls"]


def test_results_markdown_lists_every_row(tmp_path):
    res = Results(log=lambda text: None)
    res.add("1. worker CPU per no-op task", "swfd worker", 1.5, "ms/task", ratio="1.10x raw loop",
            target="<= 1.15x raw loop", met=True)
    res.missing("5. drain", "swfd daemon", "swfd.supervisor not available")
    path = tmp_path / "RESULTS.md"
    write_markdown(res, str(path), "python -m bench.run --quick", 1.0, None, {"nproc": "2"})
    text = path.read_text()
    assert "| 1. worker CPU per no-op task | swfd worker | 1.50 | ms/task | 1.10x raw loop" in text
    assert "not measured: swfd.supervisor not available" in text


def test_the_target_pair_runs_side_by_side_in_every_round():
    keys = ["raw", "swfd-info", "swfd", "simpleflow", "swfd-daemon"]
    orders = [fig_workers.round_order(keys, r) for r in range(6)]
    assert [o[:2] for o in orders[:2]] == [["raw", "swfd-info"], ["swfd-info", "raw"]]
    assert all(sorted(o) == sorted(keys) and set(o[:2]) == {"raw", "swfd-info"}
               for o in orders)
    assert fig_workers.paired_ratio({"cpu_by_round": [2.0, 3.0, 1.0]},
                                    {"cpu_by_round": [2.0, 2.0, 2.0]}) == (1.0, 0.5, 1.5)
    assert fig_workers.paired_ratio({}, {"cpu_by_round": [1.0]}) is None
