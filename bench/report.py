"""RESULTS.md and the PNG plot, from one run's Results."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata

from bench.procs import cpu_model
from bench.results import Results

PACKAGES = ("swfd", "boto3", "botocore", "simpleflow", "moto")


def reference_loop() -> float:
    """Milliseconds of CPU for a fixed piece of pure-Python work (JSON round trips of a
    small dict, string and dict churn: what a worker does), best of 5.

    Why: this machine is a VM on a shared host, and how fast it runs the same code
    moves by tens of per cent from one hour to the next. Taken at the start and the
    end of a run, it says how fast the machine was while the figures were measured,
    so two runs' absolute figures can be compared (ratios within a run need not)."""
    import json
    import time

    sample = {"taskToken": "t" * 200, "activityId": "a-1", "input": "{}",
              "workflowExecution": {"workflowId": "w" * 36, "runId": "r" * 44}}
    best = float("inf")
    for _ in range(5):
        t0 = time.process_time()
        for i in range(20_000):
            decoded = json.loads(json.dumps(sample))
            decoded["n"] = f"{i}:{decoded['activityId']}".upper()
        best = min(best, time.process_time() - t0)
    return best * 1000


def machine() -> dict[str, str]:
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "CPU": cpu_model(),
        "Python": platform.python_version(),
        "kernel": platform.release(),
        "load average at start (1, 5, 15 min)": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        "niceness of the run": str(os.nice(0)),
        "reference loop at start (ms of CPU, lower is faster)": f"{reference_loop():.0f}",
    }
    for name in PACKAGES:
        try:
            info[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            info[name] = "not installed"
    try:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], check=False, cwd=root,
                              capture_output=True, text=True, timeout=10).stdout.strip()
        info["swfd commit"] = head or "unknown"
    except (OSError, subprocess.SubprocessError):
        info["swfd commit"] = "unknown"
    return info


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def write_markdown(res: Results, path: str, command: str, seconds: float, plot: str | None,
                   info: dict[str, str]) -> None:
    lines = [
        "# swfd benchmark results",
        "",
        (f"Produced by `{command}` in {seconds:.0f} s. Every figure below was measured in this "
         "run; ratios compare figures from this same run. Targets are shown met or not; they "
         "are never a CI test."),
        "",
        "| machine | |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in info.items()]
    lines.append("| load average at end (1, 5, 15 min) | "
                 + ", ".join(f"{x:.2f}" for x in os.getloadavg()) + " |")
    lines.append(f"| reference loop at end (ms of CPU) | {reference_loop():.0f} |")
    lines += [
        "",
        "| figure | subject | value | unit | ratio | target | met | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in res.rows:
        met = "" if row.met is None else ("yes" if row.met else "**no**")
        note = row.note.replace("|", "/").replace("\n", " ")
        lines.append(f"| {row.figure} | {row.subject} | {_fmt(row.value)} | {row.unit} | "
                     f"{row.ratio} | {row.target} | {met} | {note} |")
    if plot:
        lines += ["", f"![CPU per task and throughput]({os.path.basename(plot)})"]
    lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def write_plot(res: Results, path: str) -> str | None:
    """CPU per task and throughput per worker kind (plus the endpoint, when measured)."""
    data = res.series.get("workers")
    if not data:
        return None
    try:
        import matplotlib
    except ImportError:
        res.log("no plot: matplotlib is not installed (pip install -e '.[bench]')")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = [("raw", "raw boto3"), ("swfd", "swfd"), ("simpleflow", "simpleflow")]
    endpoint = res.series.get("endpoint", {})
    fig, axes = plt.subplots(1, 3 if endpoint else 2, figsize=(13 if endpoint else 9, 4))
    colors = ["#888888", "#1f77b4", "#ff7f0e"]
    cpu = [data.get(f"{k}x1", {}).get("cpu_ms_per_task") or 0 for k, _ in kinds]
    axes[0].bar([n for _, n in kinds], cpu, color=colors)
    axes[0].set_title("worker CPU per no-op task (1 process)")
    axes[0].set_ylabel("ms CPU / task")
    for i, v in enumerate(cpu):
        axes[0].text(i, v, f"{v:.2f}", ha="center", va="bottom")
    width = 0.38
    for j, slots in enumerate((1, 2)):
        values = [data.get(f"{k}x{slots}", {}).get("tasks_per_s") or 0 for k, _ in kinds]
        xs = [i + (j - 0.5) * width for i in range(len(kinds))]
        axes[1].bar(xs, values, width, label=f"{slots} process{'es' if slots > 1 else ''}",
                    color=colors, alpha=1.0 if slots == 1 else 0.55, edgecolor="black")
    axes[1].set_xticks(range(len(kinds)), [n for _, n in kinds])
    axes[1].set_title("throughput (2 cores)")
    axes[1].set_ylabel("tasks / s")
    axes[1].legend(["1 process (solid)", "2 processes (light)"], fontsize=8)
    if endpoint:
        labels, values = [], []
        for key, name in (("local", "swfd local"), ("moto", "moto")):
            for at in ("0", "1000"):
                window = endpoint.get(key, {}).get(at, {})
                value = window.get("cpu_ms_per_call")
                if value:
                    labels.append(f"{name}\n{window.get('closed_at_start', 0):,} closed")
                    values.append(value)
        axes[2].bar(labels, values, color=["#1f77b4", "#1f77b4", "#d62728", "#d62728"][
            :len(values)])
        axes[2].set_yscale("log")
        axes[2].set_title("endpoint server CPU per call")
        axes[2].set_ylabel("ms CPU / call (log)")
        axes[2].tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
