"""Run swfd's worker pool the way a generation does, without its loop.

    python -m bench.swfd_launch CONFIG [--standalone]

Forked mode (default): load the config and plugins, import what children run,
load botocore's SWF model, ``gc.freeze()``, then fork ``processes`` children,
each running exactly what the daemon's worker children run
(``swfd.generation.pool_main``: logging, lifecycle, ``ActivityPoller``).
``--standalone``: the same imports, then the worker loop in this very process
(no fork), the baseline for the copy-on-write memory figure.

Why not the daemon itself: the figures here are per worker process; the
supervisor and the generation add nothing to them, and this keeps the benchmark
independent of their start-up phases. The drain and start-up figures use the real daemon.
"""

from __future__ import annotations

import gc
import os
import sys


def main(argv: list[str]) -> int:
    from swfd.config import load
    from swfd.generation import load_registry, pool_main, preload

    settings = load(argv[0])
    registry = load_registry(settings)
    preload()
    pool = settings.pools[0]
    if "--standalone" in argv:
        return pool_main(settings, pool, registry)
    gc.collect()
    gc.freeze()
    pids = []
    for _ in range(pool.processes):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = int(pool_main(settings, pool, registry) or 0)
            finally:
                os._exit(code)
        pids.append(pid)
    for _ in pids:  # the harness stops the children by pid; we only reap them
        os.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
