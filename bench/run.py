"""The benchmark harness: ``python -m bench.run [--quick] [--only GROUPS]``.

Runs the figure groups in turn (each bounded in count and time, each in its
own processes against loopback endpoints), then writes ``RESULTS.md`` and
``results.png`` into ``--output`` (default: this directory). A group that
cannot run says why in the table instead of stopping the run.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

from bench.report import machine, write_markdown, write_plot
from bench.results import Results

HERE = os.path.dirname(os.path.abspath(__file__))
# Each group's figure modules, run in this order.
MODULES = {
    "daemon": ("fig_daemon",),
    "decider": ("fig_decider",),
    "workers": ("fig_workers",),
    "endpoint": ("fig_endpoint", "fig_ceiling"),
}
GROUPS = tuple(MODULES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="small counts and short windows (< 3 min on 2 cores)")
    parser.add_argument("--only", default=",".join(GROUPS),
                        help=f"comma-separated groups to run (default: all of {','.join(GROUPS)})")
    parser.add_argument("--output", default=HERE, help="directory for RESULTS.md and results.png")
    args = parser.parse_args(argv)
    groups = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        parser.error(f"--only: unknown group(s) {', '.join(unknown)}; known: {', '.join(GROUPS)}")
    os.makedirs(args.output, exist_ok=True)

    def log(text: str) -> None:
        print(text, flush=True)

    res = Results(log=log)
    info = machine()
    started = time.monotonic()
    for group in groups:
        log(f"== {group} ({time.monotonic() - started:.0f} s)")
        for name in MODULES[group]:
            module = importlib.import_module(f"bench.{name}")
            res.guarded(group, lambda module=module: module.run(res, args.quick))
    elapsed = time.monotonic() - started
    plot = write_plot(res, os.path.join(args.output, "results.png"))
    command = "python -m bench.run" + (" --quick" if args.quick else "")
    if args.only != ",".join(GROUPS):
        command += f" --only {args.only}"
    baseline = os.environ.get("SWFD_BENCH_ENDPOINT_BASELINE")
    if baseline:
        command = f"SWFD_BENCH_ENDPOINT_BASELINE={baseline} {command}"
    write_markdown(res, os.path.join(args.output, "RESULTS.md"), command, elapsed, plot, info)
    log(f"== done in {elapsed:.0f} s: {os.path.join(args.output, 'RESULTS.md')}"
        + (f", {plot}" if plot else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
